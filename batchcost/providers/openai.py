"""OpenAI Batch API (and Azure OpenAI, OpenAI-compatible servers): plan lines ``{"custom_id", "method", "url",
"body"}``, exact offline counts with tiktoken, results ``{"custom_id", "response": {"status_code", "body"}, "error"}``,
and the client (``batchcost.batch.client``, the only importer of ``openai``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from batchcost.errors import PlanError
from batchcost.plans import limits as _limits
from batchcost.providers import Limits, count_field, usage_record

NAME = "openai"
TITLE = "an OpenAI Batch API line"
LINE = '{"custom_id", "method": "POST", "url", "body"}'
ENDPOINT = "/v1/chat/completions"
ENV_KEY = "OPENAI_API_KEY"
def line(custom_id: str, endpoint: str, body: dict) -> dict:
    """A plan line in the Batch API's input shape (what ``plan`` writes)."""
    return {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}


def limits() -> Limits:
    """plans/limits.py stays the one home of OpenAI's numbers: read from there each time."""
    return Limits(max_requests=_limits.MAX_REQUESTS_PER_FILE, max_bytes=_limits.MAX_BYTES_PER_FILE)


def owns_batch(batch_id: str) -> bool:
    return False  # the default provider: OpenAI's and compatible servers' ids have no one shape
STATUSES = {s: s for s in ("validating", "in_progress", "finalizing", "completed", "failed", "expired",
                           "cancelling", "cancelled")}


def matches(obj: dict) -> bool:
    return "body" in obj or "url" in obj


def parse(obj: dict, path: Path, line: int, nbytes: int, text: bytes):
    """A line the reader's fast path did not take (it takes every well-formed one): the field that is wrong."""
    from batchcost.plans.reader import PlanLine

    custom_id = _field(obj, "custom_id", str, path, line)
    if not custom_id:
        raise PlanError("custom_id is empty", path=path, line=line)
    method = _field(obj, "method", str, path, line)
    url = _field(obj, "url", str, path, line)
    body = _field(obj, "body", dict, path, line)
    _field(body, "model", str, path, line, where="body.")
    return PlanLine(line, custom_id, method, url, body, nbytes, text)


def _field(obj: dict, key: str, kind: type, path: Path, line: int, where: str = ""):
    if key not in obj:
        raise PlanError(f"{where}{key} is missing", path=path, line=line)
    value = obj[key]
    if not isinstance(value, kind):
        raise PlanError(f"{where}{key} must be {'a string' if kind is str else 'an object'}", path=path, line=line)
    return value


def check_request(item) -> Iterator[tuple]:
    """(rule, message[, severity]) for what the Batch API would refuse in this request: its method, and the
    per-request rules of ``openai_rules`` (parameters, ranges, roles, tools, image URLs, model families)."""
    if item.method != _limits.BATCH_METHOD:
        yield "method", f"method must be POST, not {item.method!r}"
    if not isinstance(item.body, dict):
        return
    from batchcost.errors import BatchcostError
    from batchcost.estimator.models import resolve_model
    from batchcost.providers.openai_rules import request_findings

    try:
        family = resolve_model(item.model).name if isinstance(item.model, str) else ""
    except BatchcostError:
        family = ""  # an unknown model is its own finding
    yield from request_findings(item.url, item.body, family)


def request_fails(item, family: str, tools_key: bytes = b"") -> bool:
    """Whether ``check`` expects the API to refuse this request (for the estimate's count of failures)."""
    from batchcost.providers.openai_rules import request_fails as fails

    return fails(item.url, item.body, family, tools_key)


def counter(info, **options):
    from batchcost.estimator.counting import Counter

    return Counter(info, **options)


# -- results --------------------------------------------------------------------------------------------------
_USAGE_NAMES = {  # endpoint kind -> (input, output, input details, cached, output details, reasoning)
    "responses": ("input_tokens", "output_tokens", "input_tokens_details", "cached_tokens", "output_tokens_details",
                  "reasoning_tokens"),
    "chat": ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "cached_tokens",
             "completion_tokens_details", "reasoning_tokens"),
}


def _usage(endpoint: str, body: Any) -> dict:
    """The line's usage as neutral counts; ``ValueError`` says what is wrong with it."""
    if endpoint == "/v1/videos":
        return _video_usage(body)
    if endpoint in ("/v1/images/generations", "/v1/images/edits"):
        return _image_usage(body)
    if endpoint == "/v1/moderations":
        return _moderation_usage(body)
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        raise ValueError("a succeeded line without a usage block")
    names = _USAGE_NAMES["responses" if endpoint == "/v1/responses" else "chat"]
    input_tokens = count_field(usage, names[0], "usage.", default=None)
    output_tokens = count_field(usage, names[1], "usage.")
    details = {}
    for key in (names[2], names[4]):
        value = usage.get(key)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"usage.{key} must be an object, not {json.dumps(value)[:40]}")
        details[key] = value or {}
    cached = count_field(details[names[2]], names[3], f"usage.{names[2]}.")
    reasoning = count_field(details[names[4]], names[5], f"usage.{names[4]}.")
    if cached > input_tokens:
        raise ValueError(f"usage reports {cached:,} cached tokens but only {input_tokens:,} {names[0]} (cached "
                         "tokens are part of them)")
    if reasoning > output_tokens:
        raise ValueError(f"usage reports {reasoning:,} reasoning tokens but only {output_tokens:,} {names[1]} "
                         "(reasoning tokens are part of them)")
    return usage_record(input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached,
                        reasoning_tokens=reasoning)


def _image_usage(body: Any) -> dict:
    """An Images API answer's usage: ``input_tokens`` (text and image), ``output_tokens`` (image tokens, and
    text tokens where ``output_tokens_details`` says so)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        raise ValueError("a succeeded image line without a usage block")
    input_tokens = count_field(usage, "input_tokens", "usage.", default=None)
    output_tokens = count_field(usage, "output_tokens", "usage.", default=None)
    details_in = usage.get("input_tokens_details") or {}
    details_out = usage.get("output_tokens_details")
    if not isinstance(details_in, dict) or (details_out is not None and not isinstance(details_out, dict)):
        raise ValueError("usage.input_tokens_details and output_tokens_details must be objects")
    image_in = count_field(details_in, "image_tokens", "usage.input_tokens_details.")
    # without a breakdown the output is the image: "The number of image tokens in the output image"
    image_out = output_tokens if details_out is None else count_field(details_out, "image_tokens",
                                                                       "usage.output_tokens_details.")
    if image_in > input_tokens or image_out > output_tokens:
        raise ValueError("usage reports more image tokens than tokens")
    return usage_record(input_tokens=input_tokens, output_tokens=output_tokens, image_input_tokens=image_in,
                        image_output_tokens=image_out)


def _moderation_usage(body: Any) -> dict:
    """A moderation answer bills nothing and reports no usage: zero tokens, once it is a moderation answer."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("a succeeded moderation line without a results list")
    return usage_record(input_tokens=0, output_tokens=0)


def _video_usage(body: Any) -> dict:
    """A video job's bill: its ``seconds`` of ``size``."""
    if not isinstance(body, dict):
        raise ValueError("a succeeded video line without a video object")
    seconds, size = body.get("seconds"), body.get("size")
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0 or not isinstance(size, str):
        raise ValueError(f"a video line needs seconds and size, not {json.dumps([seconds, size])[:60]}")
    return usage_record(input_tokens=0, output_tokens=0, video_seconds=seconds, video_size=size)


def classify(obj: dict, endpoint: str) -> tuple[str, dict | None, str | None]:
    """(status, usage, error) of one output or error line; ``ValueError`` says what is wrong with the line."""
    response, error = obj.get("response"), obj.get("error")
    if response is not None and not isinstance(response, dict):
        raise ValueError("response must be an object or null")
    status_code = response.get("status_code") if response else None
    if status_code is not None and (not isinstance(status_code, int) or isinstance(status_code, bool)):
        raise ValueError(f"response.status_code must be a number, not {json.dumps(status_code)[:20]}")
    if status_code == 200:
        body = response.get("body")
        if endpoint == "/v1/videos" and isinstance(body, dict) and body.get("status") == "failed":
            error = body.get("error")
            return "failed", None, str((error or {}).get("code") if isinstance(error, dict) else "video failed")
        return "succeeded", _usage(endpoint, body), None
    code = error.get("code") if isinstance(error, dict) else None
    if code is None and isinstance(response, dict):
        body = response.get("body")
        body_error = body.get("error") if isinstance(body, dict) else None
        code = (body_error.get("code") if isinstance(body_error, dict) else None) or f"HTTP {status_code}"
    return ("expired" if code and "expired" in str(code) else "failed"), None, str(code)


def client(**options):
    from batchcost.batch.client import BatchClient

    return BatchClient(**options)


def response_usage(endpoint: str, response: dict) -> dict | None:
    """Neutral usage of a real-time answer, for the pilot (None when it has no usable usage block)."""
    return _usage(endpoint, response)


def online_counter(**options):
    """``--online``: a function from a chat or responses request body to the input tokens OpenAI's free counting
    endpoint (``responses.input_tokens.count``) reports; a chat request is sent in the Responses shape."""
    from batchcost.batch.client import BatchClient

    options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
    remote = BatchClient(**options)
    return lambda body: remote.count_input_tokens(responses_params(body))


# what the counting endpoint takes (https://platform.openai.com/docs/api-reference/responses/input-tokens)
COUNTED = ("model", "input", "instructions", "tools", "tool_choice", "reasoning", "text", "parallel_tool_calls",
           "previous_response_id", "conversation", "truncation")


def responses_params(body: dict) -> dict:
    """A request in the shape the counting endpoint takes: a Responses body as it is (the answer-shaping
    parameters dropped), a chat body converted as OpenAI's migration guide describes (messages to input items,
    function tools flattened, response_format to text.format, reasoning_effort to reasoning.effort)."""
    from batchcost.errors import UsageError
    from batchcost.estimator.models import resolve_model

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
                parts.append({"type": "input_image", "image_url": part["image_url"].get("url"),
                              "detail": part["image_url"].get("detail", "auto")})
            else:
                parts.append(part)
        content = parts
    if content is not None:
        items.append({"role": "developer" if role == "developer" else role, "content": content})
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        items.append({"type": "function_call", "call_id": call.get("id", ""), "name": function.get("name", ""),
                      "arguments": function.get("arguments", "")})
    return items


def _tool(tool: dict) -> dict:
    function = tool.get("function")
    if tool.get("type", "function") == "function" and isinstance(function, dict):
        return {"type": "function", **function}
    return tool


def queue_refused(batch: dict) -> bool:
    """A batch failed because the model's enqueued input tokens would pass the account's cap: the Batch API
    fails it at validation with ``token_limit_exceeded`` (nothing ran, nothing is billed)."""
    if batch.get("status") != "failed":
        return False
    errors = (batch.get("errors") or {}).get("data") or []
    return any(isinstance(e, dict) and e.get("code") == "token_limit_exceeded" for e in errors)


def batch_usage(batch: dict) -> dict | None:
    """The tokens a batch reports it has used so far (OpenAI batch objects carry ``usage``), as neutral usage; None
    when the batch reports none."""
    usage = batch.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return _usage("/v1/responses", {"usage": usage})  # the batch's usage uses the Responses names
    except ValueError:
        return None
