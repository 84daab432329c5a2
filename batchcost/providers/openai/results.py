"""OpenAI result lines and usage blocks as neutral records: chat and /v1/responses usage (cached and reasoning tokens
inside their totals), the Images API's image tokens, a video's seconds, a moderation's nothing."""
from __future__ import annotations

import json
from typing import Any

from batchcost.core.records import ResultLine, Usage, token_count

_USAGE_NAMES = {  # endpoint kind -> (input, output, input details, cached, output details, reasoning)
    "responses": ("input_tokens", "output_tokens", "input_tokens_details", "cached_tokens", "output_tokens_details",
                  "reasoning_tokens"),
    "chat": ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "cached_tokens",
             "completion_tokens_details", "reasoning_tokens"),
}


def usage(endpoint: str, body: Any) -> Usage:
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
    input_tokens = token_count(usage, names[0], "usage.", default=None)
    output_tokens = token_count(usage, names[1], "usage.")
    details = {}
    for key in (names[2], names[4]):
        value = usage.get(key)
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"usage.{key} must be an object, not {json.dumps(value)[:40]}")
        details[key] = value or {}
    cached = token_count(details[names[2]], names[3], f"usage.{names[2]}.")
    reasoning = token_count(details[names[4]], names[5], f"usage.{names[4]}.")
    if cached > input_tokens:
        raise ValueError(f"usage reports {cached:,} cached tokens but only {input_tokens:,} {names[0]} (cached "
                         "tokens are part of them)")
    if reasoning > output_tokens:
        raise ValueError(f"usage reports {reasoning:,} reasoning tokens but only {output_tokens:,} {names[1]} "
                         "(reasoning tokens are part of them)")
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached,
                        reasoning_tokens=reasoning)


def _image_usage(body: Any) -> Usage:
    """An Images API answer's usage: ``input_tokens`` (text and image), ``output_tokens`` (image tokens, and
    text tokens where ``output_tokens_details`` says so)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        raise ValueError("a succeeded image line without a usage block")
    input_tokens = token_count(usage, "input_tokens", "usage.", default=None)
    output_tokens = token_count(usage, "output_tokens", "usage.", default=None)
    details_in = usage.get("input_tokens_details") or {}
    details_out = usage.get("output_tokens_details")
    if not isinstance(details_in, dict) or (details_out is not None and not isinstance(details_out, dict)):
        raise ValueError("usage.input_tokens_details and output_tokens_details must be objects")
    image_in = token_count(details_in, "image_tokens", "usage.input_tokens_details.")
    # without a breakdown the output is the image: "The number of image tokens in the output image"
    image_out = output_tokens if details_out is None else token_count(details_out, "image_tokens",
                                                                       "usage.output_tokens_details.")
    if image_in > input_tokens or image_out > output_tokens:
        raise ValueError("usage reports more image tokens than tokens")
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, image_input_tokens=image_in,
                        image_output_tokens=image_out)


def _moderation_usage(body: Any) -> Usage:
    """A moderation answer bills nothing and reports no usage: zero tokens, once it is a moderation answer."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("a succeeded moderation line without a results list")
    return Usage(input_tokens=0, output_tokens=0)


def _video_usage(body: Any) -> Usage:
    """A video job's bill: its ``seconds`` of ``size``."""
    if not isinstance(body, dict):
        raise ValueError("a succeeded video line without a video object")
    seconds, size = body.get("seconds"), body.get("size")
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0 or not isinstance(size, str):
        raise ValueError(f"a video line needs seconds and size, not {json.dumps([seconds, size])[:60]}")
    return Usage(input_tokens=0, output_tokens=0, video_seconds=seconds, video_size=size)


def classify(obj: dict, endpoint: str) -> ResultLine:
    """(status, usage, error) of one output or error line; ``ValueError`` says what is wrong with the line."""
    response, error = obj.get("response"), obj.get("error")
    if response is not None and not isinstance(response, dict):
        raise ValueError("response must be an object or null")
    status_code = response.get("status_code") if response else None
    if status_code is not None and (not isinstance(status_code, int) or isinstance(status_code, bool)):
        raise ValueError(f"response.status_code must be a number, not {json.dumps(status_code)[:20]}")
    if status_code == 200:
        assert response is not None  # a status code came from it
        body = response.get("body")
        if endpoint == "/v1/videos" and isinstance(body, dict) and body.get("status") == "failed":
            error = body.get("error")
            return ResultLine("failed", None, str((error or {}).get("code") if isinstance(error, dict) else
                                                  "video failed"))
        return ResultLine("succeeded", usage(endpoint, body))
    code = error.get("code") if isinstance(error, dict) else None
    if code is None and isinstance(response, dict):
        body = response.get("body")
        body_error = body.get("error") if isinstance(body, dict) else None
        code = (body_error.get("code") if isinstance(body_error, dict) else None) or f"HTTP {status_code}"
    return ResultLine("expired" if code and "expired" in str(code) else "failed", None, str(code))
