"""A Messages request to and from the neutral ``Work``: system, turns with text, images, PDF documents, tool_use
and tool_result blocks, tools and tool_choice, structured output, max_tokens and sampling."""
from __future__ import annotations

from typing import Any

from batchcost.core.records import Part, PlanLine, Turn, Work
from batchcost.tokens.documents import text_file

ENDPOINT = "/v1/messages"
CLAUDE_IMAGES = frozenset(("image/jpeg", "image/png", "image/gif", "image/webp"))
DEFAULT_MAX_TOKENS = 4096  # Claude requires max_tokens: what a translated request without a bound is given
_QUIET = frozenset(("model", "messages", "system", "tools", "tool_choice", "max_tokens", "temperature", "top_p",
                    "stop_sequences", "output_format", "output_config", "metadata", "stream", "service_tier"))


def to_work(item: PlanLine) -> Work:
    body = item.body
    work = Work(system=[], turns=[], tools=[])
    system = body.get("system")
    if isinstance(system, str):
        work.system.append(system)
    elif isinstance(system, list):
        work.system.extend(str(b.get("text", "")) for b in system if isinstance(b, dict) and b.get("type") == "text")
    for message in body.get("messages") or []:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        parts = _parts(content, work)
        if role == "system":
            work.system.extend(p.text for p in parts if p.kind == "text")
            continue
        role = "assistant" if role == "assistant" else "user"
        if work.turns and work.turns[-1].role == role:
            work.turns[-1].parts.extend(parts)
        else:
            work.turns.append(Turn(role, parts))
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and "input_schema" in tool:
            work.tools.append({"name": tool.get("name", ""), "description": tool.get("description") or "",
                               "parameters": tool["input_schema"]})
        else:
            work.lose(f"server tool {tool.get('type') if isinstance(tool, dict) else tool!r}")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = str(choice.get("type"))
        work.tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind) or choice.get("name")
    fmt = body.get("output_format")
    config = body.get("output_config")
    if fmt is None and isinstance(config, dict):
        fmt = config.get("format")
    if isinstance(fmt, dict) and fmt.get("schema") is not None:
        work.schema = fmt["schema"]
    bound = body.get("max_tokens")
    work.max_output = bound if isinstance(bound, int) and not isinstance(bound, bool) else None
    work.temperature, work.top_p = body.get("temperature"), body.get("top_p")
    work.stop = body.get("stop_sequences") if isinstance(body.get("stop_sequences"), list) else None
    if isinstance(body.get("thinking"), dict) and body["thinking"].get("type") in ("enabled", "adaptive"):
        work.lose("extended thinking")
    for key in sorted(set(body) - _QUIET - {"thinking"}):
        work.lose(f"params.{key}")
    return work


def from_work(work: Work, model: str) -> tuple[str, dict]:
    messages: list[dict] = []
    for turn in work.turns:
        blocks: list[dict] = []
        for part in turn.parts:
            if part.kind == "text":
                blocks.append({"type": "text", "text": part.text})
            elif part.kind == "document" and part.media_type.startswith("text/") and part.data is not None:
                blocks.append({"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                                              "data": text_file(part.data)}})
            elif (part.kind == "image" and (part.url or part.media_type in CLAUDE_IMAGES)) or (
                    part.kind == "document" and (part.url or part.media_type == "application/pdf")):
                source = ({"type": "url", "url": part.url} if part.url else
                          {"type": "base64", "media_type": part.media_type, "data": part.b64()})
                blocks.append({"type": part.kind, "source": source})
            elif part.kind == "tool_call":
                blocks.append({"type": "tool_use", "id": part.call_id or f"toolu_{len(blocks)}", "name": part.name,
                               "input": part.arguments if isinstance(part.arguments, dict) else {}})
            elif part.kind == "tool_result":
                blocks.append({"type": "tool_result", "tool_use_id": part.call_id, "content": part.text})
            else:
                work.lose(f"{part.kind} parts of type {part.media_type or 'unknown'} (Claude takes images and PDFs)")
        if blocks:
            text_only = all(b["type"] == "text" for b in blocks)
            messages.append({"role": turn.role,
                             "content": "\n".join(b["text"] for b in blocks) if text_only else blocks})
    body: dict[str, Any] = {"model": model, "max_tokens": work.max_output or DEFAULT_MAX_TOKENS,
                            "messages": messages}
    if work.max_output is None:
        work.lose(f"no output bound: max_tokens set to {DEFAULT_MAX_TOKENS:,} (Claude requires one)")
    if work.system:
        body["system"] = "\n\n".join(work.system)
    if work.tools:
        body["tools"] = [{"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
                         for t in work.tools]
        choice = work.tool_choice
        if choice in ("auto", "none"):
            body["tool_choice"] = {"type": choice}
        elif choice == "required":
            body["tool_choice"] = {"type": "any"}
        elif choice:
            body["tool_choice"] = {"type": "tool", "name": choice}
    if work.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": work.schema}}
    elif work.json_mode:
        work.lose("JSON mode (Claude has none: the prompt must ask for JSON)")
    for key, value in (("temperature", work.temperature), ("top_p", work.top_p), ("stop_sequences", work.stop)):
        if value is not None:
            body[key] = value
    return ENDPOINT, body


def _parts(content: Any, work: Work) -> list[Part]:
    if isinstance(content, str):
        return [Part("text", text=content)]
    parts = []
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(Part("text", text=str(block.get("text", ""))))
        elif kind in ("image", "document"):
            source = block.get("source") or {}
            if source.get("type") == "base64":
                parts.append(Part(kind, media_type=str(source.get("media_type", "")), data=source.get("data")))
            elif source.get("type") == "url":
                parts.append(Part(kind, url=source.get("url")))
            elif source.get("type") == "text":
                parts.append(Part("text", text=str(source.get("data", ""))))
            else:
                work.lose(f"{kind} from a {source.get('type')} source")
        elif kind == "tool_use":
            parts.append(Part("tool_call", name=str(block.get("name", "")), arguments=block.get("input") or {},
                              call_id=str(block.get("id", ""))))
        elif kind == "tool_result":
            inner = block.get("content")
            text = inner if isinstance(inner, str) else "\n".join(
                str(b.get("text", "")) for b in inner or [] if isinstance(b, dict) and b.get("type") == "text")
            parts.append(Part("tool_result", text=text, call_id=str(block.get("tool_use_id", ""))))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # earlier turns' thinking is not billed and has no place elsewhere
        else:
            work.lose(f"{kind} blocks")
    return parts
