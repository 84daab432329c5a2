"""What Anthropic's Message Batches API would reject in one request: ``check``'s per-request rules for Claude plans.

The machine-readable source is the anthropic SDK's own request types, shipped in the registry package: a batch
request's ``params`` are ``MessageCreateParamsNonStreaming`` (so ``stream: true`` is refused), message roles are the
role literals of ``MessageParam``'s members, and image media types are ``Base64ImageSourceParam``'s. A parameter the
SDK does not know is a warning (the SDK may be older than the API). Each rule yields (rule id, message, severity).
"""
from __future__ import annotations

import functools
import re
import typing
from collections.abc import Iterator
from typing import Any

from batchcost.providers.rules import schema_problem, unknown_fields

# custom tool names: the Messages API documents ^[a-zA-Z0-9_-]{1,64}$; held to the longer 128 its newer models
# take, since a false finding on a plan the API accepts is worse than a miss
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
URL_SCHEMES = ("https", "http")
# the SDK's roles and image media types, for the estimate's count of failures (which never imports the SDK: it
# takes most of a second); a test keeps them equal to the SDK's
ROLES = frozenset(("user", "assistant", "system"))
MEDIA_TYPES = frozenset(("image/jpeg", "image/png", "image/gif", "image/webp"))
BLOCK_TYPES = frozenset((  # ContentBlockParam's members' types
    "bash_code_execution_tool_result", "code_execution_tool_result", "container_upload", "document", "image",
    "redacted_thinking", "search_result", "server_tool_use", "text", "text_editor_code_execution_tool_result",
    "thinking", "tool_result", "tool_search_tool_result", "tool_use", "web_fetch_tool_result",
    "web_search_tool_result"))
CACHE_TYPES, CACHE_TTLS = frozenset(("ephemeral",)), frozenset(("5m", "1h"))  # CacheControlEphemeralParam
DOCUMENT_MEDIA = {"base64": "application/pdf", "text": "text/plain"}  # Base64PDFSource, PlainTextSource
MAX_BREAKPOINTS = 4  # prompt caching: "up to 4 cache breakpoints" a request
MIN_THINKING_BUDGET = 1024  # extended thinking: budget_tokens ">= 1024 and less than max_tokens"


@functools.cache
def _sdk() -> dict:
    import anthropic
    from anthropic.types import (
        CacheControlEphemeralParam,
        ContentBlockParam,
        MessageParam,
        base64_image_source_param,
        base64_pdf_source_param,
        message_create_params,
        plain_text_source_param,
    )

    roles: set[str] = set()
    for member in typing.get_args(MessageParam):
        roles |= set(typing.get_args(typing.get_type_hints(member)["role"]))
    media = typing.get_type_hints(base64_image_source_param.Base64ImageSourceParam)["media_type"]
    blocks: set[str] = set()
    for member in typing.get_args(ContentBlockParam):
        blocks |= set(typing.get_args(typing.get_type_hints(member)["type"]))
    cache = typing.get_type_hints(CacheControlEphemeralParam)
    pdf = typing.get_type_hints(base64_pdf_source_param.Base64PDFSourceParam)["media_type"]
    text = typing.get_type_hints(plain_text_source_param.PlainTextSourceParam)["media_type"]
    return {"version": anthropic.__version__, "roles": roles, "media_types": set(typing.get_args(media)),
            "params": set(typing.get_type_hints(message_create_params.MessageCreateParamsNonStreaming)),
            "block_types": blocks, "cache_types": set(typing.get_args(cache["type"])),
            "cache_ttls": set(typing.get_args(cache["ttl"])),
            "document_media": {"base64": typing.get_args(pdf)[0], "text": typing.get_args(text)[0]}}


FACTS = {"roles": ROLES, "media_types": MEDIA_TYPES, "block_types": BLOCK_TYPES, "cache_types": CACHE_TYPES,
         "cache_ttls": CACHE_TTLS, "document_media": DOCUMENT_MEDIA}  # the copies the estimate judges with


def request_findings(body: dict, *, warnings: bool = True) -> Iterator[tuple[str, str, str]]:
    """(rule, message, severity) for one request's ``params``. Without ``warnings`` only the error rules run, with
    no import of the SDK."""
    sdk = _sdk() if warnings else FACTS
    if warnings:
        yield from unknown_fields(body, sdk["params"], lambda key: f"{key!r} is not a Messages parameter the "
                                  f"anthropic SDK {sdk['version']} knows (the API refuses unknown parameters)")
    if body.get("stream") is True:
        yield "stream", "stream: true is refused in a batch (its requests are MessageCreateParamsNonStreaming)", "error"
    messages = body.get("messages")
    marks = [("cache_control", body["cache_control"])] if "cache_control" in body else []  # automatic caching
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role not in sdk["roles"]:
                yield ("role", f"messages[{i}].role {role!r} is not one of {', '.join(sorted(sdk['roles']))}",
                       "error")
            content = message.get("content")
            final_reply = i == len(messages) - 1 and role == "assistant"  # a prefill may be empty
            if (content == "" or content == []) and not final_reply:
                yield ("empty-content", f"messages[{i}].content is empty (the API takes empty content only in a "
                       "final assistant message)", "error")
            if isinstance(content, list):
                for k, block in enumerate(content):
                    yield from _block(block, f"messages[{i}].content[{k}]", sdk, marks)
    system = body.get("system")
    if isinstance(system, list):
        for k, block in enumerate(system):
            yield from _block(block, f"system[{k}]", sdk, marks)
    tools = body.get("tools")
    if isinstance(tools, list):
        for j, tool in enumerate(tools):
            yield from _tool(tool, j)
            if isinstance(tool, dict) and "cache_control" in tool:
                marks.append((f"tools[{j}].cache_control", tool["cache_control"]))
    yield from _cache_marks(marks, sdk)
    yield from _thinking(body)


def _block(block: Any, at: str, sdk: dict, marks: list) -> Iterator[tuple[str, str, str]]:
    """One content block: a type the API knows, non-empty text, an image or a document it can read; its cache
    mark is noted (``marks``); a tool result's own blocks likewise."""
    if not isinstance(block, dict):
        return  # counting reports a block that is not an object
    kind = block.get("type")
    if isinstance(kind, str) and kind not in sdk["block_types"]:
        yield ("block-type", f"{at}.type {kind!r} is not a content block type the API takes "
               f"({', '.join(sorted(t for t in sdk['block_types'] if '_result' not in t))}, ...)", "error")
    if kind == "text" and block.get("text") == "":
        yield "empty-content", f"{at}.text is empty (the API refuses empty text blocks)", "error"
    if "cache_control" in block:
        marks.append((f"{at}.cache_control", block["cache_control"]))
    yield from _image(block, at, sdk)
    if kind == "document":
        yield from _document(block, at, sdk)
    if kind == "tool_result" and isinstance(block.get("content"), list):
        for k, inner in enumerate(block["content"]):
            yield from _block(inner, f"{at}.content[{k}]", sdk, marks)


def _document(block: dict, at: str, sdk: dict) -> Iterator[tuple[str, str, str]]:
    source = block.get("source")
    if not isinstance(source, dict):
        return
    kind, media = source.get("type"), source.get("media_type")
    wanted = sdk["document_media"].get(kind)
    if wanted is not None and media != wanted:
        yield ("document-media-type", f"{at}.source.media_type {media!r}: a {kind} document source is "
               f"{wanted}", "error")
    data = source.get("data")
    if kind == "base64" and isinstance(data, str) and not _looks_like_pdf(data):
        yield "document-data", f"{at}.source.data is not a PDF (its bytes do not begin with %PDF-)", "error"


def _looks_like_pdf(data: str) -> bool:
    import base64
    import binascii

    head = data[:64]
    try:
        raw = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return raw.lstrip(b"\r\n\t ").startswith(b"%PDF-")


def _cache_marks(marks: list, sdk: dict) -> Iterator[tuple[str, str, str]]:
    for at, mark in marks:
        if not isinstance(mark, dict):
            yield "cache-control", f"{at} must be an object such as {{\"type\": \"ephemeral\"}}", "error"
            continue
        if mark.get("type") not in sdk["cache_types"]:
            yield ("cache-control", f"{at}.type {mark.get('type')!r} is not a cache type "
                   f"({', '.join(sorted(sdk['cache_types']))})", "error")
        if "ttl" in mark and mark["ttl"] not in sdk["cache_ttls"]:
            yield ("cache-control", f"{at}.ttl {mark['ttl']!r} is not one of {', '.join(sorted(sdk['cache_ttls']))}",
                   "error")
    if len(marks) > MAX_BREAKPOINTS:
        yield ("cache-breakpoints", f"{len(marks)} cache breakpoints (cache_control marks); a request takes at most "
               f"{MAX_BREAKPOINTS}", "error")


def _thinking(body: dict) -> Iterator[tuple[str, str, str]]:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget, bound = thinking.get("budget_tokens"), body.get("max_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        yield "thinking", "thinking.budget_tokens must be a whole number when thinking is enabled", "error"
        return
    if budget < MIN_THINKING_BUDGET:
        yield ("thinking", f"thinking.budget_tokens is {budget:,}; it must be at least {MIN_THINKING_BUDGET:,}",
               "error")
    if isinstance(bound, int) and not isinstance(bound, bool) and budget >= bound:
        yield ("thinking", f"thinking.budget_tokens {budget:,} must be less than max_tokens {bound:,} (the budget "
               "is part of it)", "error")


def _image(block: Any, at: str, sdk: dict) -> Iterator[tuple[str, str, str]]:
    if not isinstance(block, dict) or block.get("type") != "image" or not isinstance(block.get("source"), dict):
        return
    source = block["source"]
    if source.get("type") == "base64" and source.get("media_type") not in sdk["media_types"]:
        yield ("image-media-type", f"{at}.source.media_type {source.get('media_type')!r} is not one of "
               f"{', '.join(sorted(sdk['media_types']))}", "error")
    if source.get("type") == "url":
        url = source.get("url")
        scheme = url.split(":", 1)[0].lower() if isinstance(url, str) and ":" in url else ""
        if scheme not in URL_SCHEMES:
            yield "image-url", f"{at}.source.url is a {scheme or 'scheme-less'} URL; images are https URLs", "error"


def _tool(tool: Any, j: int) -> Iterator[tuple[str, str, str]]:
    if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
        return  # server tools (web search, code execution, ...) are named by their type
    name = tool.get("name")
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        what = "has no name" if name is None else f"name {str(name)[:80]!r} is not 1-128 letters, digits, _ or -"
        yield "tool", f"tools[{j}] {what}", "error"
    schema = tool.get("input_schema")
    if schema is None:
        yield "tool-schema", f"tools[{j}] needs input_schema (a JSON schema of type object)", "error"
        return
    problem = schema_problem(schema)
    if problem is None and schema.get("type") != "object":
        problem = f"input_schema must be of type object, not {schema.get('type')!r}"
    if problem:
        yield "tool-schema", f"tools[{j}].input_schema: {problem}", "error"
