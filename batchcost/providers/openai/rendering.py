"""What OpenAI's documents do not state about how a request is rendered for the model: function definitions, the
tool calls and results of the history, and json_schema response formats.

Function definitions are rendered as the TypeScript namespace the models were shown to receive (``namespace
functions { // description \\n type name = (_: { ... }) => any; }``) and measured with the model's encoding; the
rest of what each construct costs (the block's framing, each function, each strict function, each call and result
in the history, each schema) is a constant per model family and endpoint, fitted on real request/usage pairs by
``tools/accuracy.py --fit`` (data in ``tests/data/real_usage``). No such count is exact: each construct widens the
count's band by what the fit left over (``slack``), so the bill lay inside the band on those pairs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from batchcost.data import load_data


@dataclass(frozen=True)
class Rendering:
    """Fitted constants of one family on one endpoint (tokens beyond the TypeScript text, names and arguments)."""

    tools: float  # once per request with function tools
    function: float  # per function
    strict: float  # per strict function
    call: float  # per assistant tool call in the history (its result's framing included)
    schema: float  # once per json_schema response format
    schema_ratio: float  # per token of the schema's compact JSON
    slack: float  # the band: +- (2 + slack per construct + 5% of the rendered tokens)


def rendering(family: str, encoding: str, endpoint: str) -> Rendering:
    """The constants for a model family (the longest key of ``renderings`` it starts with, else its encoding's)
    on an endpoint (``completions`` or ``responses``; a family fitted on one uses it for both)."""
    table = load_data("models.yaml")["renderings"]
    keys = [key for key in table if family.startswith(key)]
    entry = table[max(keys, key=len)] if keys else table.get(encoding.removesuffix("_base"), table["default"])
    spec = entry.get(endpoint.rsplit("/", 1)[-1]) or entry["completions"]
    return Rendering(**{k: float(v) for k, v in spec.items()})


def typescript(functions: list[dict]) -> str:
    """The functions as the TypeScript namespace the model reads."""
    lines = ["namespace functions {", ""]
    for fn in functions:
        description = fn.get("description")
        if isinstance(description, str) and description:
            lines.append(f"// {description}")
        params = fn.get("parameters")
        params = params if isinstance(params, dict) else {}
        defs = params.get("$defs") or params.get("definitions") or {}
        if isinstance(params.get("properties"), dict) and params["properties"]:
            lines.append(f"type {fn.get('name', '')} = (_: {{")
            lines.append(_properties(params, 0, defs))
            lines.append("}) => any;")
        else:
            lines.append(f"type {fn.get('name', '')} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _properties(obj: dict, indent: int, defs: Any, depth: int = 0) -> str:
    listed = obj.get("required")
    required: list = listed if isinstance(listed, list) else []
    lines = []
    for name, prop in (obj.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        description = prop.get("description")
        if isinstance(description, str) and description and indent < 2:
            lines.append(f"// {description}")
        mark = "" if name in required else "?"
        lines.append(f"{name}{mark}: {_type(prop, indent, defs, depth)},")
    return "\n".join(" " * indent + line for line in lines)


def _type(prop: Any, indent: int, defs: Any, depth: int = 0) -> str:
    if not isinstance(prop, dict) or depth > 16:
        return "any"
    ref = prop.get("$ref")
    if isinstance(ref, str) and isinstance(defs, dict):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return _type(target, indent, defs, depth + 1) if isinstance(target, dict) else "any"
    for key in ("anyOf", "oneOf"):
        if isinstance(prop.get(key), list):
            return " | ".join(_type(v, indent, defs, depth + 1) for v in prop[key])
    if "const" in prop:
        return json.dumps(prop["const"], ensure_ascii=False)
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(_type({**prop, "type": k}, indent, defs, depth + 1) for k in kind)
    enum = prop.get("enum")
    if kind == "string":
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in enum) if isinstance(enum, list) else "string"
    if kind in ("number", "integer"):
        return " | ".join(str(v) for v in enum) if isinstance(enum, list) else "number"
    if kind in ("boolean", "null"):
        return kind
    if kind == "object" or isinstance(prop.get("properties"), dict):
        if not prop.get("properties"):
            return "object"
        return "\n".join(["{", _properties(prop, indent + 2, defs, depth + 1), "}"])
    if kind == "array":
        items = prop.get("items")
        return f"{_type(items, indent, defs, depth + 1)}[]" if isinstance(items, dict) else "any[]"
    if isinstance(enum, list):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in enum)
    return "any"
