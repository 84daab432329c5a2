"""Message Batches result lines and Messages usage as neutral records: cache reads and writes (5-minute and 1-hour)
inside the input, as every input token billed."""
from __future__ import annotations

import json
from typing import Any

from batchcost.core.records import ResultLine, Usage, token_count


def classify(obj: dict, endpoint: str) -> ResultLine:
    """(status, usage, error) of one result line; ``ValueError`` says what is wrong with the line.

    ``{"custom_id", "result": {"type": "succeeded", "message": {..., "usage": {...}}}}``; other types: errored
    (``error``), canceled, expired."""
    result = obj.get("result")
    if not isinstance(result, dict):
        raise ValueError("result must be an object with a type (succeeded, errored, canceled, expired)")
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        if not isinstance(message, dict):
            raise ValueError("a succeeded result without a message")
        return ResultLine("succeeded", usage(message.get("usage")))
    if kind == "errored":
        error = result.get("error")
        inner = error.get("error") if isinstance(error, dict) and isinstance(error.get("error"), dict) else error
        code = inner.get("type") if isinstance(inner, dict) else None
        return ResultLine("failed", None, str(code or "errored"))
    if kind == "canceled":
        return ResultLine("cancelled", None, "canceled")
    if kind == "expired":
        return ResultLine("expired", None, "expired")
    raise ValueError(f"result.type {json.dumps(kind)[:30]} is not succeeded, errored, canceled or expired")


def response_usage(endpoint: str, response: dict) -> Usage | None:
    """Neutral usage of a real-time answer (a Message), for the pilot."""
    try:
        return usage(response.get("usage"))
    except ValueError:
        return None


def usage(block: Any) -> Usage:
    if not isinstance(block, dict):
        raise ValueError("a succeeded result without a usage block")
    fresh = token_count(block, "input_tokens", "usage.", default=None)
    output = token_count(block, "output_tokens", "usage.")
    read = token_count(block, "cache_read_input_tokens", "usage.")
    written = token_count(block, "cache_creation_input_tokens", "usage.")
    split = block.get("cache_creation")
    five = one_hour = 0
    if isinstance(split, dict):
        five = token_count(split, "ephemeral_5m_input_tokens", "usage.cache_creation.")
        one_hour = token_count(split, "ephemeral_1h_input_tokens", "usage.cache_creation.")
        if five + one_hour != written:
            raise ValueError(f"usage.cache_creation splits {five + one_hour:,} tokens but "
                             f"cache_creation_input_tokens is {written:,}")
    else:
        five = written  # no split given: 5-minute writes, the default time to live
    # Anthropic's input_tokens excludes cache reads and writes; the neutral record counts every input token
    return Usage(input_tokens=fresh + read + written, output_tokens=output, cached_tokens=read,
                 cache_write_tokens=five, cache_write_1h_tokens=one_hour)
