"""``--online`` for OpenAI plans: a request in the shape the free ``responses.input_tokens.count`` endpoint takes."""
from __future__ import annotations

import json

# what the counting endpoint takes (https://platform.openai.com/docs/api-reference/responses/input-tokens)
COUNTED = ("model", "input", "instructions", "tools", "tool_choice", "reasoning", "text", "parallel_tool_calls",
           "previous_response_id", "conversation", "truncation")


def responses_params(body: dict) -> dict:
    """A request in the shape the counting endpoint takes: a Responses body as it is (the answer-shaping
    parameters dropped), a chat body converted as OpenAI's migration guide describes (messages to input items,
    function tools flattened, response_format to text.format, reasoning_effort to reasoning.effort)."""
    from batchcost.core.errors import UsageError
    from batchcost.tokens.models import resolve_model

    model = body.get("model")
    if "messages" not in body:
        kind = resolve_model(model).kind if isinstance(model, str) else ""
        if kind in ("image", "video"):
            raise UsageError(f"--online counts chat and responses requests; OpenAI has no counting endpoint for "
                             f"{kind} requests (their tokens or seconds are counted offline from the request)")
        if kind == "moderation":
            raise UsageError("--online counts chat and responses requests; moderation requests bill no tokens")
        if "input" not in body or kind == "embedding":
            raise UsageError("--online counts chat and responses requests; this plan's are counted exactly "
                             "offline (tiktoken, the API's own tokenizer)")
        return {k: body[k] for k in COUNTED if k in body}
    params: dict = {"model": model, "input": [_input_item(m) for m in body["messages"] if isinstance(m, dict)]}
    params["input"] = [item for items in params["input"] for item in items]
    tools = [_tool(t) for t in body.get("tools") or [] if isinstance(t, dict)]
    tools += [{"type": "function", **f} for f in body.get("functions") or [] if isinstance(f, dict)]
    if tools:
        params["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        choice = {"type": "function", "name": choice["function"].get("name")}
    if choice is not None:
        params["tool_choice"] = choice
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        params["text"] = {"format": {"type": "json_schema", **fmt["json_schema"]}}
    elif isinstance(fmt, dict) and fmt.get("type") in ("json_object", "text"):
        params["text"] = {"format": {"type": fmt["type"]}}
    if body.get("reasoning_effort") is not None:
        params["reasoning"] = {"effort": body["reasoning_effort"]}
    if body.get("parallel_tool_calls") is not None:
        params["parallel_tool_calls"] = body["parallel_tool_calls"]
    return params


def _input_item(message: dict) -> list[dict]:
    """One chat message as Responses input items: a message, or a function call and its output."""
    role = message.get("role")
    if role == "tool":
        return [{"type": "function_call_output", "call_id": message.get("tool_call_id", ""),
                 "output": message.get("content") if isinstance(message.get("content"), str)
                 else json.dumps(message.get("content"))}]
    items = []
    content = message.get("content")
    if isinstance(content, list):
        kind = "output_text" if role == "assistant" else "input_text"
        parts = []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") in ("text", "refusal"):
                parts.append({"type": kind, "text": part.get("text") or part.get("refusal") or ""})
            elif part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
                image = part["image_url"]
                parts.append({"type": "input_image", "image_url": image.get("url"),
                              "detail": image.get("detail", "auto")})
            else:
                parts.append(part)
        content = parts
    if content is not None:
        items.append({"role": "developer" if role == "developer" else role, "content": content})
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call["function"] if isinstance(call.get("function"), dict) else {}
        items.append({"type": "function_call", "call_id": call.get("id", ""), "name": function.get("name", ""),
                      "arguments": function.get("arguments", "")})
    return items


def _tool(tool: dict) -> dict:
    function = tool.get("function")
    if tool.get("type", "function") == "function" and isinstance(function, dict):
        return {"type": "function", **function}
    return tool
