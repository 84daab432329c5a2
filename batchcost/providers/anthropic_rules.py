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
from typing import Any, Iterator

from batchcost.providers.shared_rules import schema_problem, unknown_fields

# custom tool names: the Messages API documents ^[a-zA-Z0-9_-]{1,64}$; held to the longer 128 its newer models
# take, since a false finding on a plan the API accepts is worse than a miss
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
URL_SCHEMES = ("https", "http")
# the SDK's roles and image media types, for the estimate's count of failures (which never imports the SDK: it
# takes most of a second); a test keeps them equal to the SDK's
ROLES = frozenset(("user", "assistant", "system"))
MEDIA_TYPES = frozenset(("image/jpeg", "image/png", "image/gif", "image/webp"))


@functools.cache
def _sdk() -> dict:
    import anthropic
    from anthropic.types import MessageParam, base64_image_source_param, message_create_params

    roles: set[str] = set()
    for member in typing.get_args(MessageParam):
        roles |= set(typing.get_args(typing.get_type_hints(member)["role"]))
    media = typing.get_type_hints(base64_image_source_param.Base64ImageSourceParam)["media_type"]
    return {"version": anthropic.__version__, "roles": roles, "media_types": set(typing.get_args(media)),
            "params": set(typing.get_type_hints(message_create_params.MessageCreateParamsNonStreaming))}


def request_findings(body: dict, *, warnings: bool = True) -> Iterator[tuple[str, str, str]]:
    """(rule, message, severity) for one request's ``params``. Without ``warnings`` only the error rules run, with
    no import of the SDK."""
    sdk = _sdk() if warnings else {"roles": ROLES, "media_types": MEDIA_TYPES}
    if warnings:
        yield from unknown_fields(body, sdk["params"], lambda key: f"{key!r} is not a Messages parameter the "
                                  f"anthropic SDK {sdk['version']} knows (the API refuses unknown parameters)")
    if body.get("stream") is True:
        yield "stream", "stream: true is refused in a batch (its requests are MessageCreateParamsNonStreaming)", "error"
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role not in sdk["roles"]:
                yield ("role", f"messages[{i}].role {role!r} is not one of {', '.join(sorted(sdk['roles']))}",
                       "error")
            content = message.get("content")
            if isinstance(content, list):
                for k, block in enumerate(content):
                    yield from _image(block, f"messages[{i}].content[{k}]", sdk)
    tools = body.get("tools")
    if isinstance(tools, list):
        for j, tool in enumerate(tools):
            yield from _tool(tool, j)


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
