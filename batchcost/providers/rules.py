"""What the providers' per-request rules share: fields nobody defines (warnings), numbers out of their range, and
whether a tool's parameters are a JSON schema at all. Findings are (rule id, message, severity)."""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

Finding = tuple[str, str, str]


def unknown_fields(keys: Iterable[str], known: Collection[str], describe: Callable[[str], str],
                   rule: str = "unknown-parameter") -> Iterator[Finding]:
    """A warning for each of ``keys`` not in ``known`` (the source may be older than the API: never an error)."""
    for key in keys:
        if key not in known:
            yield rule, describe(key), "warning"


def out_of_range(get: Callable[[str], Any], ranges: dict, whole: Iterable[str], where: str = "") -> Iterator[Finding]:
    """An error for each ``ranges`` key ([minimum, maximum], inclusive, None for no bound) whose value (``get``)
    is not a number (a whole number for ``whole`` keys) or is out of its range."""
    whole = set(whole)
    for key, (low, high) in ranges.items():
        value = get(key)
        if value is None:
            continue
        integral = key in whole
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integral and not isinstance(value, int)):
            yield ("range", f"{where}{key} must be {'a whole number' if integral else 'a number'}, "
                   f"not {value!r}"[:160], "error")
        elif (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            yield "range", f"{where}{key} is {value}; it must be {bounds}", "error"

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
