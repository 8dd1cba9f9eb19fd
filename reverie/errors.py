"""Every error Reverie raises, in one hierarchy.

Errors carry context as attributes (the service, the key, where a value came from, the fix), and
``str()`` renders them into one readable message. Errors that cross a transport (``CallError`` and
its subclasses) have a stable wire form, so a caller sees the same class, message and request id
whether the target ran in-process, over HTTP or over NATS.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDeniedError",
    "BlueprintFormatError",
    "CallError",
    "ConfigError",
    "ConfigRejectedError",
    "DeadlineExceededError",
    "DependencyCycleError",
    "DeploymentError",
    "DuplicateSIDError",
    "EndpointNotFoundError",
    "GraphError",
    "IllegalTransitionError",
    "InvalidResultError",
    "LifecycleError",
    "MarkupError",
    "MissingDependencyError",
    "NatsServerError",
    "NoWorkersError",
    "RemoteError",
    "ReverieError",
    "ServiceError",
    "StartError",
    "StateError",
    "SwapError",
    "TransportError",
    "UnavailableError",
    "UnknownSIDError",
    "ValidationError",
    "WorkerLostError",
]


class ReverieError(Exception):
    """Base of every Reverie error."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message} (fix: {self.fix})"
        return self.message


# -- markup: raised at import/decoration time -------------------------------------------------


class MarkupError(ReverieError, TypeError):
    """A decorator was used wrongly; raised when the class is defined, never at first call."""

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        member: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.service = service
        self.member = member
        where = ".".join(p for p in (service, member) if p)
        super().__init__(f"{where}: {message}" if where else message, fix=fix)


# -- configuration and deployment: raised before anything starts --------------------------------


class ConfigError(ReverieError, ValueError):
    """A config value is missing, unknown or of the wrong type.

    ``source`` names the layer that set it: ``deploy.yaml:12``, ``env REVERIE_WORKER__MODEL_PATH``,
    ``@service(config=...)`` or ``class default``.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        key: str | None = None,
        source: str | None = None,
        expected: str | None = None,
        value: Any = None,
        fix: str | None = None,
    ) -> None:
        self.service = service
        self.key = key
        self.source = source
        self.expected = expected
        self.value = value
        parts = []
        if service and key:
            parts.append(f"{service}.{key}")
        elif service or key:
            parts.append(service or key or "")
        if source:
            parts.append(f"(from {source})")
        prefix = " ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message, fix=fix)


class DeploymentError(ConfigError):
    """The deployment file is malformed: names the file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if file and line else (file or None)
        super().__init__(message, key=key, source=where, fix=fix)


# -- registry and graph ------------------------------------------------------------------------


class GraphError(ReverieError):
    """The service graph cannot be resolved."""


class DuplicateSIDError(GraphError):
    """Two classes claim one SID and no binding picks between them."""

    def __init__(self, sid: str, classes: list[str]) -> None:
        self.sid = sid
        self.classes = classes
        super().__init__(
            f"SID {sid} is claimed by {' and '.join(classes)}",
            fix=f"bind one in code (host.bind({sid!r}, Cls)) or in the deployment file's "
            f"'bind:' section",
        )


class UnknownSIDError(GraphError, LookupError):
    """No registered service has this SID."""

    def __init__(self, sid: str, *, needed_by: str | None = None, known: list[str] | None = None):
        self.sid = sid
        self.needed_by = needed_by
        who = f" (needed by {needed_by})" if needed_by else ""
        sids = sorted(k for k in known or () if k.startswith("sid://"))
        hint = f"; known SIDs: {', '.join(sids)}" if sids else ""
        super().__init__(
            f"no service registered for {sid}{who}{hint}",
            fix="register or discover a class declaring that SID, or bind one",
        )


class MissingDependencyError(UnknownSIDError):
    """A required dependency cannot be found."""


class DependencyCycleError(GraphError):
    """The dependency graph has a cycle; ``cycle`` lists it, first name repeated at the end."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(
            f"dependency cycle: {' -> '.join(cycle)}",
            fix="break the cycle, for example with depends(..., optional=True) on one edge",
        )


# -- lifecycle ---------------------------------------------------------------------------------


class LifecycleError(ReverieError):
    """An instance's lifecycle went wrong."""


class IllegalTransitionError(LifecycleError):
    """A state change that the lifecycle does not allow."""

    def __init__(self, instance: str, current: str, target: str) -> None:
        self.instance = instance
        self.current = current
        self.target = target
        super().__init__(f"instance {instance!r} cannot go from {current} to {target}")


class StartError(LifecycleError):
    """An instance failed while configuring, linking or starting; ``state`` says where."""

    def __init__(self, instance: str, state: str, cause: BaseException) -> None:
        self.instance = instance
        self.state = state
        self.cause = cause
        super().__init__(
            f"instance {instance!r} failed while {state}: {type(cause).__name__}: {cause}"
        )


class ConfigRejectedError(LifecycleError):
    """New config values were refused (they did not resolve, or the service's start raised);
    the instance runs again with its previous config."""

    def __init__(self, instance: str, cause: BaseException) -> None:
        self.instance = instance
        self.cause = cause
        why = cause.cause if isinstance(cause, StartError) else cause
        super().__init__(
            f"instance {instance!r} refused the new config ({type(why).__name__}: {why}); "
            f"it runs again with its previous config",
            fix="send values the service accepts",
        )


class StateError(ReverieError, ValueError):
    """A captured state cannot be taken, read or restored: wrong type, unknown version, a
    snapshot/restore hook that failed, or a service that declares no state. Nothing changed."""

    def __init__(self, message: str, *, service: str | None = None, fix: str | None = None) -> None:
        self.service = service
        super().__init__(f"{service}: {message}" if service else message, fix=fix)


class SwapError(LifecycleError):
    """A live swap or a migration did not happen; the old instance keeps serving."""

    def __init__(self, path: str, message: str, *, fix: str | None = None) -> None:
        self.path = path
        super().__init__(f"swap of {path!r} failed: {message}", fix=fix)


class BlueprintFormatError(ReverieError, ValueError):
    """A blueprint document cannot be read: bad JSON, a wrong field, or an unknown schema."""


# -- infrastructure ---------------------------------------------------------------------------


class NatsServerError(ReverieError):
    """The nats-server binary is missing or failed to start."""


# -- calls: the errors every transport raises the same way ---------------------------------------


class CallError(ReverieError):
    """A call to an endpoint or feature failed. Same class, message and fields on every transport.

    ``code`` is the stable wire name; ``status`` the HTTP status it maps to.
    """

    code: ClassVar[str] = "error"
    status: int = 500
    _by_code: ClassVar[dict[str, type[CallError]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "code" in cls.__dict__:
            CallError._by_code[cls.code] = cls

    def __init__(
        self,
        message: str,
        *,
        remote_type: str | None = None,
        request_id: str | None = None,
        service: str | None = None,
        endpoint: str | None = None,
        details: Any = None,
        status: int | None = None,
    ) -> None:
        self.remote_type = remote_type
        self.request_id = request_id
        self.service = service
        self.endpoint = endpoint
        self.details = details
        if status is not None:
            self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        where = ".".join(p for p in (self.service, self.endpoint) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.remote_type:
            text = f"{text} [{self.remote_type}]"
        if self.request_id:
            text = f"{text} (request {self.request_id})"
        return text

    def to_wire(self) -> dict[str, Any]:
        """The error as plain data, for an error frame or a problem body."""
        return {
            "code": self.code,
            "type": self.remote_type,
            "message": self.message,
            "request_id": self.request_id,
            "service": self.service,
            "endpoint": self.endpoint,
            "details": self.details,
            "status": self.status,
        }

    @staticmethod
    def from_wire(data: dict[str, Any]) -> CallError:
        """Rebuild the error a remote side sent; unknown codes become ``RemoteError``."""
        cls = CallError._by_code.get(str(data.get("code")), RemoteError)
        err = cls.__new__(cls)
        CallError.__init__(
            err,
            str(data.get("message", "")),
            remote_type=None if data.get("type") in (None, "about:blank") else str(data["type"]),
            request_id=data.get("request_id"),
            service=data.get("service"),
            endpoint=data.get("endpoint"),
            details=data.get("details"),
            status=data.get("status"),
        )
        return err

    @staticmethod
    def from_handler(exc: BaseException, request_id: str | None = None) -> CallError:
        """What a caller sees for an exception a handler raised: a ``CallError`` as itself
        (stamped with the request id), anything else as ``RemoteError`` naming its type."""
        if isinstance(exc, CallError):
            if exc.request_id is None:
                exc.request_id = request_id
            return exc
        return RemoteError(str(exc), remote_type=type(exc).__name__, request_id=request_id)

    @staticmethod
    def from_transport(
        exc: BaseException,
        where: str,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> CallError:
        """A transport library's failure (httpx, nats-py, an OS error) as the matching
        ``CallError``, so every transport maps the same failure to the same class. Matched by
        class name, so no transport library is imported here."""
        if isinstance(exc, CallError):
            return exc
        names = {c.__name__ for c in type(exc).__mro__}
        kind = type(exc).__name__
        if "NoRespondersError" in names:
            return NoWorkersError(f"{where}: no worker answered ({kind})", request_id=request_id)
        if names & {"TimeoutException", "TimeoutError"}:
            within = "in time" if timeout is None else f"within {timeout:.3g} s"
            return DeadlineExceededError(
                f"{where}: no answer {within} ({kind})", request_id=request_id
            )
        detail = str(exc) or "connection failed"
        return TransportError(f"{where}: {kind}: {detail}", remote_type=kind, request_id=request_id)


class RemoteError(CallError):
    """The handler raised; ``remote_type`` is the exception's type name."""

    code = "remote"
    status = 500


class ServiceError(CallError):
    """Raise it in a handler to answer with a chosen status and message, on every transport."""

    code = "service"

    def __init__(self, status: int, message: str, *, details: Any = None) -> None:
        super().__init__(message, status=status, details=details)


class ValidationError(CallError, ValueError):
    """An argument does not match its declared type; ``details`` lists each bad field.

    Each detail is ``{"loc": [...], "msg": ..., "expected": ..., "input": ...}``.
    """

    code = "invalid_argument"
    status = 422


class InvalidResultError(ValidationError):
    """A handler's result (or stream item) does not match its declared type: the service's
    fault, not the caller's (500); ``details`` name each field."""

    code = "invalid_result"
    status = 500


class EndpointNotFoundError(CallError, LookupError):
    """The target has no endpoint or feature by that name."""

    code = "not_found"
    status = 404


class AccessDeniedError(CallError, PermissionError):
    """The caller lacks the key a feature's access level needs: 401 without one, 403 wrong one."""

    code = "access_denied"
    status = 403


class DeadlineExceededError(CallError, TimeoutError):
    """The call's deadline passed before it completed."""

    code = "deadline_exceeded"
    status = 504


class UnavailableError(CallError):
    """The target cannot take the call now (not running, no instance, overloaded)."""

    code = "unavailable"
    status = 503


class NoWorkersError(UnavailableError):
    """No live worker (process registered with the runtime) serves the endpoint."""

    code = "no_workers"


class WorkerLostError(UnavailableError):
    """The worker serving the call went away mid-call."""

    code = "worker_lost"


class TransportError(CallError):
    """The transport failed (connection refused, DNS, reset) before an answer arrived."""

    code = "transport"
    status = 502
