"""The few questions a contract diff asks of two JSON Schemas: which JSON types each accepts,
and whether the new one narrows, widens or changes the old one."""

from __future__ import annotations

from typing import Any

__all__ = ["compare_types", "covers", "deref", "object_fields", "schema_types", "show_types"]


def deref(node: Any, root: dict[str, Any]) -> Any:
    """Follow ``{"$ref": "#/$defs/X"}`` (and ``#/components/schemas/X``) inside ``root``."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = str(node["$ref"])
        target: Any = root
        for part in ref.lstrip("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        if target is None:
            return node
        node = target
        seen += 1
    return node


def schema_types(schema: Any, root: dict[str, Any]) -> set[str] | None:
    """The JSON types a schema accepts (``None``: anything)."""
    schema = deref(schema, root)
    if not isinstance(schema, dict) or not schema:
        return None
    if "anyOf" in schema or "oneOf" in schema:
        out: set[str] = set()
        for sub in schema.get("anyOf") or schema.get("oneOf") or []:
            t = schema_types(sub, root)
            if t is None:
                return None
            out |= t
        return out
    if "const" in schema:
        return {f"const:{schema['const']!r}"}
    if "enum" in schema:
        return {f"const:{v!r}" for v in schema["enum"]}
    tp = schema.get("type")
    if tp is None:
        return {"object"} if "properties" in schema else None
    return set(tp) if isinstance(tp, list) else {str(tp)}


def covers(wide: set[str], narrow: set[str]) -> bool:
    """Whether every value of ``narrow``'s types is also one of ``wide``'s."""
    for t in narrow:
        if t in wide:
            continue
        if t == "integer" and "number" in wide:
            continue
        if t.startswith("const:"):
            value = t[6:]
            kind = (
                "string"
                if value.startswith(("'", '"'))
                else "boolean"
                if value in ("True", "False")
                else "null"
                if value == "None"
                else "number"
            )
            if kind in wide or (kind == "number" and "integer" in wide):
                continue
        return False
    return True


def compare_types(
    old: Any, new: Any, old_root: dict[str, Any], new_root: dict[str, Any]
) -> str | None:
    """``"narrowed"``, ``"widened"``, ``"changed"`` or ``None`` (same) for two schemas."""
    a, b = schema_types(old, old_root), schema_types(new, new_root)
    if a == b:
        if a is not None and "array" in a:
            inner = compare_types(
                deref(old, old_root).get("items"),
                deref(new, new_root).get("items"),
                old_root,
                new_root,
            )
            return inner
        return None
    if a is None:
        return "narrowed"
    if b is None:
        return "widened"
    if covers(a, b):
        return "narrowed"
    if covers(b, a):
        return "widened"
    return "changed"


def show_types(schema: Any, root: dict[str, Any]) -> str:
    t = schema_types(schema, root)
    return "any" if t is None else " | ".join(sorted(x.removeprefix("const:") for x in t))


def object_fields(schema: Any, root: dict[str, Any]) -> tuple[dict[str, Any], set[str]] | None:
    schema = deref(schema, root)
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return schema["properties"], set(schema.get("required", []))
    return None
