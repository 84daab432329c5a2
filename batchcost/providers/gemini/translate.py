"""A GenerateContentRequest to and from the neutral ``Work``: systemInstruction, contents with text, inline and
file media, function calls and responses, function declarations and their calling mode, a JSON schema for the
answer, the output bound and sampling."""
from __future__ import annotations

import json
from typing import Any

from batchcost.core.records import Part, PlanLine, Turn, Work
from batchcost.providers.gemini.fields import ENDPOINT, camel, field

_QUIET = frozenset(("model", "contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
                    "tool_config", "generationConfig", "generation_config", "safetySettings", "safety_settings"))
_CONFIG_QUIET = frozenset(("maxOutputTokens", "temperature", "topP", "stopSequences", "responseMimeType",
                           "responseSchema", "responseJsonSchema", "candidateCount", "topK", "seed"))


def to_work(item: PlanLine) -> Work:
    body = item.body
    work = Work(system=[], turns=[], tools=[])
    system = field(body, "systemInstruction")
    if isinstance(system, str):
        work.system.append(system)
    elif isinstance(system, dict):
        work.system.extend(str(p.get("text", "")) for p in system.get("parts") or [] if "text" in p)
    names: dict[str, int] = {}  # a function's calls so far: the call ids the other APIs need
    for content in body.get("contents") or []:
        role = "assistant" if content.get("role") == "model" else "user"
        parts = []
        for part in content.get("parts") or []:
            call, response = field(part, "functionCall"), field(part, "functionResponse")
            blob, file = field(part, "inlineData"), field(part, "fileData")
            if "text" in part:
                if not part.get("thought"):
                    parts.append(Part("text", text=str(part["text"])))
            elif isinstance(call, dict):
                name = str(call.get("name", ""))
                names[name] = names.get(name, 0) + 1
                parts.append(Part("tool_call", name=name, arguments=call.get("args") or {},
                                  call_id=str(call.get("id") or f"{name}-{names[name]}")))
            elif isinstance(response, dict):
                name = str(response.get("name", ""))
                answer = response.get("response")
                text = answer.get("result") if isinstance(answer, dict) and set(answer) == {"result"} else answer
                parts.append(Part("tool_result", text=text if isinstance(text, str) else json.dumps(text),
                                  call_id=str(response.get("id") or f"{name}-{names.get(name, 1)}"), name=name))
            elif isinstance(blob, dict):
                mime = str(field(blob, "mimeType") or "")
                parts.append(Part(_kind(mime), media_type=mime, data=blob.get("data")))
            elif isinstance(file, dict):
                mime = str(field(file, "mimeType") or "")
                parts.append(Part(_kind(mime), media_type=mime, url=field(file, "fileUri")))
            else:
                work.lose(f"parts of kind {sorted(part)[:1]}")
        if work.turns and work.turns[-1].role == role:
            work.turns[-1].parts.extend(parts)
        else:
            work.turns.append(Turn(role, parts))
    for tool in body.get("tools") or []:
        for declaration in field(tool, "functionDeclarations") or []:
            schema = (field(declaration, "parametersJsonSchema") or declaration.get("parameters")
                      or {"type": "object", "properties": {}})
            work.tools.append({"name": declaration.get("name", ""),
                               "description": declaration.get("description") or "", "parameters": _lower(schema)})
        for other in sorted(set(tool) - {"functionDeclarations", "function_declarations"}):
            work.lose(f"built-in tool {other}")
    calling = field(field(body, "toolConfig") or {}, "functionCallingConfig") or {}
    mode = str(calling.get("mode", "")).upper()
    allowed = field(calling, "allowedFunctionNames") or []
    if mode == "ANY":
        work.tool_choice = allowed[0] if len(allowed) == 1 else "required"
    elif mode in ("AUTO", "NONE"):
        work.tool_choice = mode.lower()
    config = field(body, "generationConfig") or {}
    schema = field(config, "responseJsonSchema") or field(config, "responseSchema")
    if isinstance(schema, dict):
        work.schema = _lower(schema)
    elif field(config, "responseMimeType") == "application/json":
        work.json_mode = True
    bound = field(config, "maxOutputTokens")
    work.max_output = bound if isinstance(bound, int) and not isinstance(bound, bool) else None
    work.temperature, work.top_p = field(config, "temperature"), field(config, "topP")
    stop = field(config, "stopSequences")
    work.stop = stop if isinstance(stop, list) else None
    if isinstance(field(config, "thinkingConfig"), dict):
        work.lose("thinkingConfig")
    for key in sorted(set(body) - _QUIET):
        work.lose(f"request.{key}")
    for key in sorted(camel(k) for k in config if camel(k) not in _CONFIG_QUIET | {"thinkingConfig"}):
        work.lose(f"generationConfig.{key}")
    return work


def from_work(work: Work, model: str) -> tuple[str, dict]:
    names = {p.call_id: p.name for t in work.turns for p in t.parts if p.kind == "tool_call"}
    contents = []
    for turn in work.turns:
        parts: list[dict] = []
        for part in turn.parts:
            if part.kind == "text":
                parts.append({"text": part.text})
            elif part.kind in ("image", "document", "audio"):
                if part.data is not None:
                    parts.append({"inlineData": {"mimeType": part.media_type, "data": part.data}})
                else:
                    parts.append({"fileData": {"mimeType": part.media_type or "image/jpeg", "fileUri": part.url}})
            elif part.kind == "tool_call":
                parts.append({"functionCall": {"name": part.name, "args": part.arguments or {}}})
            elif part.kind == "tool_result":
                name = names.get(part.call_id) or part.name or part.call_id
                parts.append({"functionResponse": {"name": name, "response": {"result": part.text}}})
        if parts:
            contents.append({"role": "model" if turn.role == "assistant" else "user", "parts": parts})
    body: dict[str, Any] = {"model": model, "contents": contents}
    if work.system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(work.system)}]}
    if work.tools:
        body["tools"] = [{"functionDeclarations": [{"name": t["name"], "description": t["description"],
                                                    "parametersJsonSchema": t["parameters"]} for t in work.tools]}]
        choice = work.tool_choice
        if choice in ("auto", "none", "required"):
            body["toolConfig"] = {"functionCallingConfig": {"mode": {"required": "ANY"}.get(choice, choice.upper())}}
        elif choice:
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice]}}
    config: dict[str, Any] = {}
    if work.schema is not None:
        config.update(responseMimeType="application/json", responseJsonSchema=work.schema)
    elif work.json_mode:
        config["responseMimeType"] = "application/json"
    for key, value in (("maxOutputTokens", work.max_output), ("temperature", work.temperature),
                       ("topP", work.top_p), ("stopSequences", work.stop)):
        if value is not None:
            config[key] = value
    if config:
        body["generationConfig"] = config
    return ENDPOINT, body


def _kind(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    return "document"


def _lower(schema: Any) -> Any:
    """Gemini's Schema writes types in capitals (OBJECT, STRING): JSON Schema's are lower case."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower(v) for v in schema]
    return schema
