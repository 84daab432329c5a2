"""What the providers' per-request rules share: whether a tool's parameters are a JSON schema at all."""
from __future__ import annotations

from typing import Any

_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def schema_problem(schema: Any, depth: int = 0) -> str | None:
    """What makes ``schema`` not a JSON schema (the structural rules only; a full meta-schema check is not made)."""
    if depth > 64:
        return None
    if not isinstance(schema, dict):
        return f"a schema must be an object, not {type(schema).__name__}"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    bad = [k for k in kinds if k not in _TYPES]
    if bad:
        return f"type {bad[0]!r} is not a JSON schema type"
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            return "properties must be an object"
        for name, sub in properties.items():
            problem = schema_problem(sub, depth + 1)
            if problem:
                return f"{name}: {problem}"
    required = schema.get("required")
    if required is not None and (not isinstance(required, list) or not all(isinstance(r, str) for r in required)):
        return "required must be a list of property names"
    items = schema.get("items")
    if isinstance(items, dict):
        return schema_problem(items, depth + 1)
    return None
