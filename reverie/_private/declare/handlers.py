"""Method-level markup: ``@endpoint``, ``@feature``, ``@api`` and the lifecycle hooks.

The decorators only record options on the function; ``@service`` turns them into
``EndpointMeta``/``FeatureMeta`` with the signature checks of ``signatures``, so a bad signature
fails when the class is defined.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reverie.errors import MarkupError

from ..suggest import did_you_mean
from .config_key import REQUIRED
from .names import NAME_RULE, is_name, safe_name
from .pattern import FeaturePattern, PatternSyntaxError, parse_pattern
from .types import TypeInfo, type_info

__all__ = [
    "ACCESS_LEVELS",
    "EndpointMeta",
    "EndpointParam",
    "FeatureMeta",
    "FeatureParam",
    "Param",
    "api",
    "endpoint",
    "feature",
    "on_config",
    "on_shutdown",
    "on_start",
]

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_LEVELS = ("public", "internal", "private")


class Param:
    """Documents one parameter of a feature or endpoint:
    ``limit: Annotated[int, Param("how many to return")] = 10``. Shown in blueprint and OpenAPI."""

    __slots__ = ("description",)

    def __init__(self, description: str) -> None:
        if not isinstance(description, str):
            raise MarkupError(f"Param({description!r}): the description must be a string")
        self.description = description

    def __repr__(self) -> str:
        return f"Param({self.description!r})"


@dataclass
class EndpointParam:
    """One named parameter of an endpoint method."""

    name: str
    annotation: Any
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class EndpointMeta:
    """An RPC endpoint: unary (``async def``) or streaming (async generator).

    With one parameter the request is that value; with several (``keywords``) the request is an
    object whose fields are the parameters (``request_type`` is made from the signature) and the
    method is called with keyword arguments.
    """

    name: str
    method: str
    streaming: bool
    request_param: str | None
    request_type: Any
    response_type: Any
    idempotent: bool = False
    description: str = ""
    params: list[EndpointParam] = field(default_factory=list)
    keywords: bool = False
    timeout: float | None = None
    request_info: TypeInfo = field(init=False, repr=False)
    response_info: TypeInfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.request_info = type_info(self.request_type)
        self.response_info = type_info(self.response_type)

    @property
    def request_required(self) -> bool:
        """Whether a caller must pass a request (a single parameter without a default)."""
        if self.request_param is None or self.keywords:
            return False
        return self.params[0].required if self.params else True

    def missing_request(self) -> Any:
        """The request used when the caller passes none: the parameter's default, ``{}`` for a
        keyword endpoint (validation then names any required field), ``REQUIRED`` if needed."""
        if self.keywords:
            return {}
        if self.params and not self.params[0].required:
            return self.params[0].default
        return REQUIRED


@dataclass
class FeatureParam:
    """A feature parameter and where it comes from: path, query, body, suffix or context."""

    name: str
    annotation: Any
    source: str
    default: Any = REQUIRED
    info: TypeInfo | None = field(default=None, repr=False)
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class FeatureMeta:
    """An HTTP feature bound to ``VERB:path``."""

    verb_path: FeaturePattern
    method: str
    access: str
    description: str
    params: list[FeatureParam]
    response_type: Any
    streaming: bool

    @property
    def verb(self) -> str:
        return self.verb_path.verb

    @property
    def pattern(self) -> str:
        return self.verb_path.pattern


@dataclass
class _Pending:
    """What a method decorator recorded; ``@service`` turns it into metadata."""

    kind: str  # "endpoint" | "feature" | "hook"
    options: dict[str, Any]


def _pending(func: Any) -> list[_Pending]:
    marks: list[_Pending] | None = getattr(func, "__reverie_marks__", None)
    if marks is None:
        marks = []
        try:
            func.__reverie_marks__ = marks
        except AttributeError:
            raise MarkupError(
                f"{func!r} cannot carry Reverie markup; decorate a plain 'async def' method"
            ) from None
    return marks


def _check_async(func: Any, what: str) -> None:
    if not callable(func) or isinstance(func, (staticmethod, classmethod)):
        raise MarkupError(
            f"{what} must decorate an instance method defined with 'async def'",
            member=getattr(func, "__qualname__", repr(func)),
        )
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
        raise MarkupError(
            f"{what} needs an 'async def' method (a coroutine or an async generator), but this "
            f"is a plain function",
            member=getattr(func, "__qualname__", repr(func)),
            fix=f"write 'async def {getattr(func, '__name__', 'name')}(...)'",
        )


def endpoint(
    name: str | None = None,
    *,
    idempotent: bool = False,
    description: str = "",
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Mark an RPC endpoint: ``async def`` is unary, an async generator is streaming.

    ``timeout`` (seconds) is the deadline of a call that arrives without one."""
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise MarkupError(f"@endpoint(timeout={timeout!r}): a timeout is a number of seconds > 0")
    if callable(name):
        raise MarkupError(
            "use @endpoint() with parentheses", member=getattr(name, "__qualname__", None)
        )
    if name is not None and not is_name(name):
        raise MarkupError(
            f"@endpoint(name={name!r}): an endpoint name must be {NAME_RULE} (it becomes a "
            f"NATS subject token and part of URL paths)",
            fix=f"@endpoint(name={safe_name(name)!r})",
        )

    def mark(func: F) -> F:
        _check_async(func, "@endpoint")
        _pending(func).append(
            _Pending(
                "endpoint",
                {
                    "name": name or func.__name__,
                    "idempotent": idempotent,
                    "description": description,
                    "timeout": timeout,
                },
            )
        )
        return func

    return mark


def feature(pattern: str, description: str = "", *, access: str = "public") -> Callable[[F], F]:
    """Mark an HTTP feature bound to a ``VERB:path`` pattern."""
    try:
        parsed = parse_pattern(pattern)
    except PatternSyntaxError as exc:
        raise MarkupError(str(exc)) from None
    if access not in ACCESS_LEVELS:
        raise MarkupError(
            f"@feature({pattern!r}): access {access!r} is not one of {', '.join(ACCESS_LEVELS)}"
            + did_you_mean(access, ACCESS_LEVELS)
        )

    def mark(func: F) -> F:
        _check_async(func, f"@feature({pattern!r})")
        _pending(func).append(
            _Pending("feature", {"pattern": parsed, "access": access, "description": description})
        )
        return func

    return mark


def api(func: F | None = None, *, access: str = "public", description: str = "") -> Any:
    """Shorthand for ``@feature("POST:<method name>")``."""

    def mark(f: F) -> F:
        return feature(f"POST:{f.__name__}", description, access=access)(f)

    if func is not None:
        return mark(func)
    return mark


def _hook(kind: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        if not callable(func):
            raise MarkupError(f"@{kind} must decorate a method")
        _pending(func).append(_Pending("hook", {"kind": kind}))
        return func

    mark.__name__ = kind
    mark.__doc__ = f"Run this method at {kind.removeprefix('on_')} (sync or async)."
    return mark


on_start = _hook("on_start")
on_shutdown = _hook("on_shutdown")
on_config = _hook("on_config")
