"""An OpenAPI 3.0 rendition of the 3.1 document, for viewers that read only 3.0.

``/openapi.json`` stays 3.1 (JSON Schema 2020-12, what pydantic emits). The interactive page at
``/docs`` uses the Swagger UI that the ``swagger-ui-bundle`` package ships (4.x), which refuses a
3.1 document; it reads this rendition. Written here because the conversion is a few rules and no
maintained package does only this: ``type: [T, "null"]`` and ``anyOf: [..., {type: null}]``
become ``nullable`` (a bare null type: ``nullable`` with ``enum: [null]``), ``const`` becomes a
one-value ``enum``, numeric ``exclusiveMinimum``/``exclusiveMaximum`` the boolean form,
``examples`` becomes ``example``, ``prefixItems`` (tuples) becomes ``items``.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["downgrade_to_30"]

_NULL = {"type": "null"}


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _schema(v) for k, v in node.items()}
    kind = out.get("type")
    if kind == "null":  # 3.0 has no null type: the one value a nullable schema allows
        del out["type"]
        out.update({"nullable": True, "enum": [None]})
    if isinstance(kind, list):
        rest = [t for t in kind if t != "null"]
        if len(rest) < len(kind):
            out["nullable"] = True
        if len(rest) == 1:
            out["type"] = rest[0]
        else:
            del out["type"]
            if rest:
                out["anyOf"] = [{"type": t} for t in rest]
    for key in ("anyOf", "oneOf"):
        options = out.get(key)
        if isinstance(options, list) and _NULL in options:
            rest = [o for o in options if o != _NULL]
            out["nullable"] = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                del out[key]
                out.update({k: v for k, v in rest[0].items() if k not in out})
            elif len(rest) == 1:
                del out[key]
                out["allOf"] = rest
            else:
                out[key] = rest
    if "const" in out:
        out["enum"] = [out.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[plain] = value
            out[bound] = True
    examples = out.pop("examples", None)
    if isinstance(examples, list) and examples:
        out.setdefault("example", examples[0])
    prefix = out.pop("prefixItems", None)
    if isinstance(prefix, list) and "items" not in out:
        out["items"] = {"anyOf": prefix} if len(prefix) > 1 else (prefix[0] if prefix else {})
    return out


def _walk(node: Any) -> Any:
    """Convert every schema found under ``schema``/``schemas``/``x-reverie-item-schema`` keys."""
    if isinstance(node, list):
        return [_walk(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("schema", "x-reverie-item-schema"):
            out[key] = _schema(value)
        elif key == "schemas" and isinstance(value, dict):
            out[key] = {name: _schema(s) for name, s in value.items()}
        else:
            out[key] = _walk(value)
    return out


def downgrade_to_30(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of an OpenAPI 3.1 document in OpenAPI 3.0.3 form."""
    out: dict[str, Any] = _walk(copy.deepcopy(doc))
    out["openapi"] = "3.0.3"
    return out
