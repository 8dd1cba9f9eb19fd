"""What the OpenAI-compatible examples (llm, embeddings) share: OpenAI's error envelope and the
refusal of request fields they do not implement.

OpenAI answers errors as ``{"error": {"message", "type", "param", "code"}}``; the official client
reads that body into its exceptions (``BadRequestError.param``, ``.code``, ``.type``), so the
examples' HTTP features answer in that shape instead of Reverie's problem body. In-process and
over RPC the same refusals are ``ServiceError``s whose ``details`` carry ``param`` and ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from reverie import Request, Response
from reverie.errors import CallError, ServiceError

__all__ = ["envelope", "error_response", "invalid", "parse_body", "refuse_unsupported"]

M = TypeVar("M", bound=BaseModel)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def invalid(
    message: str, *, param: str | None = None, code: str | None = "invalid_value", status: int = 400
) -> ServiceError:
    """A refusal naming the request field (``param``) it is about."""
    return ServiceError(status, message, details={"param": param, "code": code})


def envelope(err: CallError) -> dict[str, Any]:
    """OpenAI's error body for a Reverie call error."""
    details = err.details if isinstance(err.details, Mapping) else {}
    status = err.status or 500
    return {
        "error": {
            "message": err.message,
            "type": _TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            ),
            "param": details.get("param"),
            "code": details.get("code") or err.code,
        }
    }


def error_response(err: CallError) -> Response:
    return Response(json=envelope(err), status=err.status or 500)


def parse_body(raw: Request, model: type[M]) -> M:
    """The JSON body as ``model``; a bad body is a 400 naming the first bad field, as OpenAI does
    (``messages[0].role``), rather than Reverie's 422 problem body."""
    import json

    try:
        data = json.loads(raw.body or b"null")
    except ValueError as exc:
        raise invalid(f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        param = _param(first["loc"])
        raise invalid(f"{param}: {first['msg']}", param=param) from None


def _param(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("list[", "str", "function-")):  # pydantic union branches
            out += f".{part}" if out else str(part)
    return out


def refuse_unsupported(
    request: BaseModel, neutral: Mapping[str, Any], ignored: frozenset[str]
) -> None:
    """Refuse every field the model does not declare (kept in ``model_extra``), unless it is in
    ``ignored`` or set to its ``neutral`` value: a request is never half-honoured in silence."""
    for name, value in (request.model_extra or {}).items():
        if name in ignored or value is None:
            continue
        if name in neutral and value == neutral[name]:
            continue
        raise invalid(
            f"{name} is not supported by this server; remove it from the request",
            param=name,
            code="unsupported_parameter",
        )
