"""Gemini result lines as neutral records: ``{"key", "response": {..., "usageMetadata"}}`` or ``{"key", "error"}``;
input = promptTokenCount (cached included) + toolUsePromptTokenCount, output = candidates + thoughts."""
from __future__ import annotations

from typing import Any

from batchcost.core.records import ResultLine, Usage, token_count
from batchcost.providers.gemini.fields import EMBED, field, snake


def classify(obj: dict, endpoint: str) -> ResultLine:
    """One result line: ``{"key", "response": {..., "usageMetadata"}}`` or ``{"key", "error": {"code",
    "message"}}``."""
    error = obj.get("error")
    if error is not None:
        code = error.get("status") or error.get("code") if isinstance(error, dict) else error
        return ResultLine("failed", None, str(code or "error"))
    response = obj.get("response")
    if not isinstance(response, dict):
        raise ValueError("a result line needs a response or an error")
    if endpoint == EMBED or "embedding" in response:
        return ResultLine("succeeded", embedding_usage(response))
    return ResultLine("succeeded", usage(field(response, "usageMetadata")))


def embedding_usage(response: dict) -> Usage:
    """An embedding's billed input is its ``tokenCount`` (an int64, so JSON may carry it as a string)."""
    value = field(response, "tokenCount")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    tokens = token_count({"tokenCount": value}, "tokenCount", "response.", default=None)
    return Usage(input_tokens=tokens, output_tokens=0)


def usage(metadata: Any) -> Usage:
    """usageMetadata as neutral usage: input = prompt (cached included) + tool-use prompt; output = candidates +
    thoughts (thinking is billed as output)."""
    if not isinstance(metadata, dict):
        raise ValueError("a response without usageMetadata")

    def count(name: str, default: int | None = 0) -> int:
        key = name if name in metadata else snake(name)
        return token_count(metadata, key, "usageMetadata.", default=default)

    prompt = count("promptTokenCount", default=None)
    cached = count("cachedContentTokenCount")
    tool = count("toolUsePromptTokenCount")
    thoughts = count("thoughtsTokenCount")
    output = count("candidatesTokenCount") + thoughts
    if cached > prompt:
        raise ValueError(f"usageMetadata.cachedContentTokenCount {cached:,} is over promptTokenCount {prompt:,}")
    return Usage(input_tokens=prompt + tool, output_tokens=output, cached_tokens=cached, reasoning_tokens=thoughts)


def response_usage(endpoint: str, response: dict) -> Usage | None:
    try:
        return usage(field(response, "usageMetadata"))
    except ValueError:
        return None
