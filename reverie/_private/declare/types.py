"""Type adapters: validate, convert to plain data, and describe as JSON Schema.

One ``TypeInfo`` per annotation. Types that mention a pydantic model use pydantic; everything else
(dataclasses, TypedDict, msgspec Structs, builtins) uses msgspec, which is faster and keeps
``import reverie`` light. Values already of the declared class pass through untouched (the
in-process fast path).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from functools import lru_cache
from typing import Any

import msgspec

from reverie.errors import ValidationError

__all__ = [
    "TypeInfo",
    "UnsupportedTypeError",
    "describe",
    "stream_item_type",
    "to_builtins",
    "type_info",
]


class UnsupportedTypeError(TypeError):
    """The annotation cannot be validated or serialised."""


def _is_pydantic_model(tp: Any) -> bool:
    mod = sys.modules.get("pydantic")
    if mod is None:
        return False
    return isinstance(tp, type) and issubclass(tp, mod.BaseModel)


def _mentions_pydantic(tp: Any, _seen: frozenset[int] = frozenset()) -> bool:
    if "pydantic" not in sys.modules or id(tp) in _seen:
        return False
    if _is_pydantic_model(tp):
        return True
    seen = _seen | {id(tp)}
    if any(_mentions_pydantic(a, seen) for a in typing.get_args(tp)):
        return True
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        try:
            hints = typing.get_type_hints(tp)
        except Exception:
            return False
        return any(_mentions_pydantic(h, seen) for h in hints.values())
    if typing.is_typeddict(tp):
        return any(_mentions_pydantic(h, seen) for h in typing.get_type_hints(tp).values())
    return False


def describe(tp: Any) -> str:
    """A short human name for a type, for messages: ``int``, ``list[Item]``, ``int | None``."""
    if tp is Any or tp is inspect.Parameter.empty:
        return "Any"
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    text = repr(tp).replace("typing.", "")
    return re.sub(r"(?:[A-Za-z_][\w]*\.)+([A-Za-z_]\w*)", r"\1", text)


_LOC = re.compile(r" - at `\$(.*)`$")
_MISSING = re.compile(r"Object missing required field `([^`]+)`$")
_EXPECTED = re.compile(r"Expected `([^`]+)`(.*?)(?:, got `[^`]+`)?$")


def _msgspec_details(err: msgspec.ValidationError, value: Any, tp: Any) -> list[dict[str, Any]]:
    text = str(err)
    loc: list[str | int] = []
    m = _LOC.search(text)
    msg = text
    if m:
        msg = text[: m.start()]
        for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", m.group(1)):
            loc.append(part[0] if part[0] else int(part[1]))
    bad: Any = value
    for key in loc:
        try:
            bad = bad[key] if isinstance(bad, (dict, list, tuple)) else getattr(bad, str(key))  # type: ignore[index]
        except Exception:
            bad = None
            break
    missing = _MISSING.match(msg)
    if missing:  # name the field, like pydantic: "q: required field missing"
        loc.append(missing.group(1))
        return [{"loc": loc, "msg": "required field missing", "expected": None, "input": None}]
    expected = None
    em = _EXPECTED.match(msg)
    if em:
        expected = em.group(1) + em.group(2)  # keeps constraints: "int >= 0"
    # Otherwise msgspec's message says more than a type name would ("Object missing required
    # field `tags`"), so the message is shown as it is.
    return [{"loc": loc, "msg": msg, "expected": expected, "input": _safe(bad)}]


def _safe(value: Any) -> Any:
    """A value fit for an error body: plain data, truncated."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "..."
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


class TypeInfo:
    """Validation, conversion and schema for one annotation."""

    __slots__ = ("_adapter", "_fast", "_pyd", "annotation", "name")

    def __init__(self, annotation: Any) -> None:
        self.annotation = annotation
        self.name = describe(annotation)
        self._pyd = _mentions_pydantic(annotation)
        self._adapter: Any = None
        fast: type | tuple[type, ...] | None = None
        if annotation is Any or annotation is inspect.Parameter.empty:
            fast = object
        elif isinstance(annotation, type) and not typing.is_typeddict(annotation):
            fast = annotation
            if annotation is float:
                fast = (float, int)
        self._fast = fast
        self._check()

    def _check(self) -> None:
        if self._fast is object:
            return
        try:
            if self._pyd:
                self.adapter()
            else:
                opaque = _opaque_classes(msgspec.inspect.type_info(self.annotation))
                if opaque:
                    names = ", ".join(sorted({describe(c) for c in opaque}))
                    raise TypeError(f"{names} cannot be validated or serialised")
        except Exception as exc:
            raise UnsupportedTypeError(
                f"type {self.name} is not supported ({exc}); use a pydantic model, dataclass, "
                f"TypedDict, msgspec Struct or builtin type"
            ) from None

    def adapter(self) -> Any:
        if self._adapter is None:
            import pydantic

            self._adapter = pydantic.TypeAdapter(self.annotation)
        return self._adapter

    @property
    def is_any(self) -> bool:
        return self._fast is object

    @property
    def exact_class(self) -> type | None:
        """The declared class when a value of exactly that class is valid as is (no container,
        no union, not ``float`` which also takes ``int``), else None: a one-check fast path."""
        fast = self._fast
        return fast if isinstance(fast, type) and fast is not object else None

    def validate(self, value: Any, *, strict: bool = True, loc: tuple[str | int, ...] = ()) -> Any:
        """Return ``value`` as the declared type, or raise ``ValidationError`` naming the field."""
        fast = self._fast
        # bool is an int subclass: True must not pass as an int argument.
        if (
            fast is not None
            and isinstance(value, fast)
            and not (fast is int and type(value) is bool)
        ):
            return value
        return self._convert(value, strict, loc)

    def _convert(self, value: Any, strict: bool, loc: tuple[str | int, ...]) -> Any:
        if self._pyd:
            import pydantic

            try:
                return self.adapter().validate_python(value)
            except pydantic.ValidationError as exc:
                details = [
                    {
                        "loc": [*loc, *e["loc"]],
                        "msg": e["msg"],
                        # pydantic's error type ("int_parsing") is no type name; its msg says it
                        "expected": None,
                        "type": e["type"],
                        "input": _safe(e.get("input")),
                    }
                    for e in exc.errors()
                ]
                raise _validation_error(details) from None
        try:
            return msgspec.convert(value, self.annotation, strict=strict)
        except msgspec.ValidationError as exc:
            details = _msgspec_details(exc, value, self.annotation)
            for d in details:
                d["loc"] = [*loc, *d["loc"]]
            raise _validation_error(details) from None

    def to_builtins(self, value: Any) -> Any:
        """Plain data (dict/list/str/number/bool/None) for a wire codec."""
        return to_builtins(value)

    def json_schema(self) -> dict[str, Any]:
        if self._fast is object:
            return {}
        if self._pyd:
            schema: dict[str, Any] = self.adapter().json_schema()
            return schema
        schema = msgspec.json.schema(self.annotation)
        return schema


def _opaque_classes(node: Any, seen: set[int] | None = None) -> list[type]:
    """Classes msgspec would treat as opaque (``CustomType``) anywhere in a type tree.

    A class may opt out with ``__reverie_response__ = True`` (HTTP ``Response`` objects, which a
    feature returns for full control and which never cross a wire as data).
    """
    seen = set() if seen is None else seen
    if id(node) in seen:
        return []
    seen.add(id(node))
    if isinstance(node, msgspec.inspect.CustomType):
        cls = node.cls
        return [] if cls is object or getattr(cls, "__reverie_response__", False) else [cls]
    out: list[type] = []
    for field_name in getattr(node, "__struct_fields__", ()):
        value = getattr(node, field_name)
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, msgspec.inspect.Field):
                child = child.type
            if isinstance(child, msgspec.inspect.Type):
                out.extend(_opaque_classes(child, seen))
    return out


def _validation_error(details: list[dict[str, Any]]) -> ValidationError:
    parts = []
    for d in details:
        where = ".".join(str(p) for p in d["loc"]) or "value"
        if d.get("expected"):
            parts.append(f"{where}: expected {d['expected']}, got {d['input']!r}")
        else:
            parts.append(
                f"{where}: {d['msg']}"
                if d["msg"] == "required field missing"
                else f"{where}: {d['msg']} (got {d['input']!r})"
            )
    return ValidationError("invalid argument: " + "; ".join(parts), details=details)


@lru_cache(maxsize=4096)
def _cached(annotation: Any) -> TypeInfo:
    return TypeInfo(annotation)


def type_info(annotation: Any) -> TypeInfo:
    """The (cached) ``TypeInfo`` for an annotation."""
    try:
        return _cached(annotation)
    except TypeError as exc:
        if isinstance(exc, UnsupportedTypeError):
            raise
        return TypeInfo(annotation)  # unhashable annotation


def _enc_hook(obj: Any) -> Any:
    if hasattr(obj, "model_dump") and _is_pydantic_model(type(obj)):
        return obj.model_dump(mode="json")
    raise TypeError(
        f"cannot serialise a value of type {type(obj).__qualname__}; what crosses a transport "
        f"must be plain data, a pydantic model, dataclass, TypedDict or msgspec Struct"
    )


def to_builtins(value: Any) -> Any:
    """Any supported value as plain data; pydantic models go through ``model_dump``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    return msgspec.to_builtins(value, enc_hook=_enc_hook)


_STREAM_ORIGINS = (
    AsyncIterator,
    AsyncGenerator,
    AsyncIterable,
    typing.AsyncIterator,
    typing.AsyncGenerator,
    typing.AsyncIterable,
)


def stream_item_type(annotation: Any) -> tuple[bool, Any]:
    """(is a stream annotation, item type) for ``AsyncIterator[T]`` and friends."""
    origin = typing.get_origin(annotation)
    if origin in _STREAM_ORIGINS or annotation in _STREAM_ORIGINS:
        args = typing.get_args(annotation)
        return True, args[0] if args else Any
    return False, annotation
