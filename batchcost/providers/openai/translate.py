"""A chat completions request to and from the neutral ``Work`` (``batchcost convert``, cross-provider comparison):
system and developer messages, turns with text, images (data URLs and URLs) and PDF files, assistant tool calls and
tool results, function tools, tool_choice, a json_schema response format, the output bound and sampling."""
from __future__ import annotations

import json
from typing import Any

from batchcost.core.errors import PlanError
from batchcost.core.records import Part, PlanLine, Turn, Work
from batchcost.tokens.documents import text_file

CHAT = "/v1/chat/completions"
OPENAI_IMAGES = frozenset(("image/jpeg", "image/png", "image/gif", "image/webp"))
AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mp3": "mp3",
                 "audio/mpeg": "mp3"}
# what shapes the answer, not the work: dropped in translation without a word
_QUIET = frozenset(("model", "messages", "tools", "tool_choice", "response_format", "max_tokens",
                    "max_completion_tokens", "temperature", "top_p", "stop", "user", "metadata", "store",
                    "parallel_tool_calls", "stream", "stream_options", "service_tier"))


def to_work(item: PlanLine) -> Work:
    if item.url != CHAT:
        raise PlanError(f"only {CHAT} requests translate to another provider, not {item.url}")
    body = item.body
    work = Work(system=[], turns=[], tools=[])
    for i, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            raise PlanError(f"body.messages[{i}] must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            work.system.append(_text_of(message.get("content"), work))
            continue
        parts: list[Part] = []
        if role == "tool":
            parts.append(Part("tool_result", text=_text_of(message.get("content"), work),
                              call_id=str(message.get("tool_call_id", ""))))
            _add(work, "user", parts)
            continue
        parts.extend(_parts(message.get("content"), work))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except (TypeError, ValueError):
                arguments = {"arguments": function.get("arguments")}
            parts.append(Part("tool_call", name=str(function.get("name", "")), arguments=arguments,
                              call_id=str(call.get("id", ""))))
        _add(work, "assistant" if role == "assistant" else "user", parts)
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type", "function") == "function":
            fn = tool.get("function") or {}
            work.tools.append({"name": fn.get("name", ""), "description": fn.get("description") or "",
                               "parameters": fn.get("parameters") or {"type": "object", "properties": {}}})
        else:
            work.lose(f"built-in tool {tool.get('type') if isinstance(tool, dict) else tool!r}")
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        work.tool_choice = choice
    elif isinstance(choice, dict):
        work.tool_choice = (choice.get("function") or {}).get("name")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        work.schema, work.schema_name = spec.get("schema"), str(spec.get("name") or "answer")
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        work.json_mode = True
    bound = body.get("max_completion_tokens", body.get("max_tokens"))
    work.max_output = bound if isinstance(bound, int) and not isinstance(bound, bool) else None
    work.temperature, work.top_p = body.get("temperature"), body.get("top_p")
    stop = body.get("stop")
    work.stop = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else None
    if isinstance(body.get("n"), int) and body["n"] > 1:
        work.lose("n > 1 (several answers a request)")
    for key in sorted(set(body) - _QUIET - {"n"}):
        work.lose(f"body.{key}")
    return work


def from_work(work: Work, model: str) -> tuple[str, dict]:
    messages: list[dict] = [{"role": "system", "content": text} for text in work.system]
    for turn in work.turns:
        content: list[dict] = []
        calls: list[dict] = []
        for part in turn.parts:
            if part.kind == "text":
                content.append({"type": "text", "text": part.text})
            elif part.kind == "image" and (part.url or part.media_type in OPENAI_IMAGES):
                url = part.url or f"data:{part.media_type};base64,{part.b64()}"
                content.append({"type": "image_url", "image_url": {"url": url}})
            elif part.kind == "document" and part.data is not None and part.media_type == "application/pdf":
                content.append({"type": "file", "file": {"filename": "document.pdf",
                                                         "file_data": f"data:{part.media_type};base64,{part.b64()}"}})
            elif part.kind == "document" and part.data is not None and part.media_type.startswith("text/"):
                content.append({"type": "text", "text": text_file(part.data)})
            elif part.kind == "audio" and part.data is not None and part.media_type in AUDIO_FORMATS:
                content.append({"type": "input_audio", "input_audio": {"data": part.b64(),
                                                                       "format": AUDIO_FORMATS[part.media_type]}})
            elif part.kind == "tool_call":
                calls.append({"id": part.call_id or f"call_{len(calls)}", "type": "function", "function": {
                    "name": part.name, "arguments": json.dumps(part.arguments, ensure_ascii=False)}})
            elif part.kind == "tool_result":
                messages.append({"role": "tool", "tool_call_id": part.call_id, "content": part.text})
            else:
                work.lose(f"{part.kind} parts of type {part.media_type or 'unknown'}"
                          + (" by URL" if part.url else ""))
        if content or calls:
            message: dict[str, Any] = {"role": turn.role, "content": _flat(content)}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if work.tools:
        body["tools"] = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                                            "parameters": t["parameters"]}} for t in work.tools]
        if work.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = work.tool_choice
        elif work.tool_choice:
            body["tool_choice"] = {"type": "function", "function": {"name": work.tool_choice}}
    if work.schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": work.schema_name,
                                                                          "schema": work.schema}}
    elif work.json_mode:
        body["response_format"] = {"type": "json_object"}
    if work.max_output is not None:
        body["max_completion_tokens"] = work.max_output
    for key, value in (("temperature", work.temperature), ("top_p", work.top_p), ("stop", work.stop)):
        if value is not None:
            body[key] = value
    return CHAT, body


def _flat(content: list[dict]) -> Any:
    """Text alone is written as a string, as people write it."""
    if all(part["type"] == "text" for part in content):
        return "\n".join(part["text"] for part in content) if content else None
    return content


def _add(work: Work, role: str, parts: list[Part]) -> None:
    if work.turns and work.turns[-1].role == role:
        work.turns[-1].parts.extend(parts)  # consecutive turns of one role: one turn elsewhere
    else:
        work.turns.append(Turn(role, parts))


def _text_of(content: Any, work: Work) -> str:
    if isinstance(content, str):
        return content
    texts = [p.text for p in _parts(content, work) if p.kind == "text"]
    return "\n".join(texts)


def _parts(content: Any, work: Work) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", text=content)]
    parts = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append(Part("text", text=str(part.get("text", ""))))
        elif kind == "image_url":
            spec = part.get("image_url")
            url = spec.get("url") if isinstance(spec, dict) else spec
            parts.append(_media("image", str(url)))
        elif kind == "file" and isinstance(part.get("file"), dict) and part["file"].get("file_data"):
            parts.append(_media("document", str(part["file"]["file_data"])))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append(Part("audio", media_type=f"audio/{audio.get('format', 'wav')}", data=audio.get("data")))
        else:
            work.lose(f"{kind} content parts")
    return parts


def _media(kind: str, url: str) -> Part:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return Part(kind, media_type=head, data=data)
    return Part(kind, url=url)
