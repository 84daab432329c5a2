"""What OpenAI would reject in one request, found before upload: ``check``'s per-request rules for OpenAI plans.

Parameter names and message roles come from the openai SDK's own request types (``typing.get_type_hints`` of its
TypedDicts: the machine-readable source shipped in the registry package); ranges, function names, image URLs and
what each model family refuses come from ``data/request_rules.yaml`` (sources and ``checked_on`` there). Each rule
yields ``(rule id, message, severity)``; ``warning`` where the answer is not certain, since a false finding on a
plan the API accepts is worse than a miss.
"""
from __future__ import annotations

import functools
import json
import re
import typing
from collections.abc import Collection, Iterator
from typing import Any

from batchcost.data import load_data
from batchcost.providers.rules import out_of_range, schema_problem, unknown_fields

CHAT, RESPONSES, EMBEDDINGS = "/v1/chat/completions", "/v1/responses", "/v1/embeddings"
MODERATIONS = "/v1/moderations"
IMAGE_GENERATIONS, IMAGE_EDITS, VIDEOS = "/v1/images/generations", "/v1/images/edits", "/v1/videos"
JUDGED = (CHAT, RESPONSES, EMBEDDINGS, MODERATIONS, IMAGE_GENERATIONS, IMAGE_EDITS, VIDEOS)
# the SDK's chat roles, for the estimate's hot path (which does not import the SDK; a test keeps them equal)
CHAT_ROLES = frozenset(("system", "developer", "user", "assistant", "tool", "function"))
# the content part types a /v1/responses input message takes (input parts, and an assistant turn's output parts)
RESPONSES_PARTS = frozenset(("input_text", "input_image", "input_file", "output_text", "refusal"))


@functools.cache
def _rules() -> dict:
    return load_data("request_rules.yaml")


@functools.cache
def _sdk() -> dict:
    """Parameter names per endpoint and the chat roles, from the openai SDK's request types."""
    import openai
    from openai.types import (
        embedding_create_params,
        image_edit_params,
        image_generate_params,
        moderation_create_params,
        video_create_params,
    )
    from openai.types.chat import ChatCompletionMessageParam, completion_create_params
    from openai.types.responses import (
        ResponseInputContentParam,
        ResponseInputItemParam,
        ResponseOutputMessageParam,
        response_create_params,
    )

    def names(cls) -> set[str]:
        return set(typing.get_type_hints(cls))

    roles = set()
    for member in typing.get_args(ChatCompletionMessageParam):
        roles |= set(typing.get_args(typing.get_type_hints(member)["role"]))
    parts: set[str] = set()
    output = typing.get_args(typing.get_type_hints(ResponseOutputMessageParam)["content"])[0]
    for member in (*typing.get_args(ResponseInputContentParam), *typing.get_args(output)):
        parts |= set(typing.get_args(typing.get_type_hints(member)["type"]))
    items: set[str] = set()
    for member in typing.get_args(ResponseInputItemParam):
        hints = typing.get_type_hints(member)
        items |= _literals(hints["type"]) if "type" in hints else set()
    return {"version": openai.__version__, "roles": roles, "responses_parts": parts, "responses_items": items,
            CHAT: names(completion_create_params.CompletionCreateParamsBase) | {"stream"},
            RESPONSES: names(response_create_params.ResponseCreateParamsBase) | {"stream"},
            EMBEDDINGS: names(embedding_create_params.EmbeddingCreateParams),
            MODERATIONS: names(moderation_create_params.ModerationCreateParams),
            IMAGE_GENERATIONS: names(image_generate_params.ImageGenerateParamsBase) | {"stream"},
            # a batch line is JSON, so an edit names its images by URL or file id in "images" (the SDK's
            # multipart "image" field is the same thing as a file upload)
            IMAGE_EDITS: names(image_edit_params.ImageEditParamsBase) | {"stream", "images"},
            VIDEOS: names(video_create_params.VideoCreateParams)}


def _literals(hint) -> set[str]:
    """Every string of the Literal types inside ``hint`` (Optional, Union and Required unwrapped)."""
    out: set[str] = set()
    for arg in typing.get_args(hint):
        out |= {arg} if isinstance(arg, str) else _literals(arg)
    return out


@functools.cache
def _families() -> dict[str, dict]:
    out = {}
    for family in _rules()["families"].values():
        for model in family["models"]:
            out[model] = family
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def request_findings(endpoint: str, body: dict, family: str, *, warnings: bool = True, tools: bool = True
                     ) -> Iterator[tuple[str, str, str]]:
    """(rule, message, severity) for one request of ``endpoint`` to a model of registry family ``family``. Without
    ``warnings`` only the error rules run, with no import of the SDK (the estimate's count of failures)."""
    rules = _rules()
    if endpoint not in JUDGED:
        return
    if warnings:
        sdk = _sdk()
        yield from unknown_fields(body, sdk[endpoint], lambda key: f"{key!r} is not a {endpoint} parameter the "
                                  f"openai SDK {sdk['version']} knows (the API refuses unrecognized arguments)")
    if body.get("stream") is True:
        yield "stream", "stream: true is refused in a batch (each line is one complete request)", "error"
    if endpoint in (CHAT, RESPONSES):  # the sampling and bound ranges are theirs; images judge their own n
        yield from out_of_range(body.get, {k: tuple(v) for k, v in rules["ranges"].items()}, _WHOLE)
    yield from _family_rules(endpoint, body, family)
    if endpoint == CHAT:
        yield from _messages(body.get("messages"), _sdk()["roles"] if warnings else CHAT_ROLES)
    if tools and endpoint in (CHAT, RESPONSES):
        yield from _tools(body.get("tools"), chat=endpoint == CHAT)
    elif endpoint == EMBEDDINGS:
        value = body.get("input")
        if value == "" or value == []:
            yield "input", "input is empty (an embedding needs at least one token)", "error"
        yield from _dimensions(body, family)
    if endpoint == RESPONSES:
        known = _sdk() if warnings else None  # the item types change with every SDK: check's, not the estimate's
        yield from _responses_parts(body.get("input"), known["responses_parts"] if known else RESPONSES_PARTS,
                                    known["responses_items"] if known else None)
    elif endpoint == MODERATIONS and isinstance(body.get("input"), list):
        for k, part in enumerate(body["input"]):
            if isinstance(part, dict) and part.get("type") == "image_url":
                yield from _image_url(part.get("image_url"), f"input[{k}].image_url")


_WHOLE = ("n", "max_tokens", "max_completion_tokens", "max_output_tokens", "top_logprobs")


def _dimensions(body: dict, family: str) -> Iterator[tuple[str, str, str]]:
    if "dimensions" not in body:
        return
    most = _rules()["embedding_dimensions"].get(family)
    value = body["dimensions"]
    if most is None:
        yield "dimensions", f"{family} does not take dimensions (only text-embedding-3 models do)", "error"
    elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        yield "dimensions", f"dimensions is {json.dumps(value)[:30]}; {family} takes 1 to {most:,}", "error"


def _responses_parts(items: Any, known: Collection[str],
                     item_types: Collection[str] | None) -> Iterator[tuple[str, str, str]]:
    """A /v1/responses input's items, of a type the API takes (``item_types``, when known), and their message
    content parts, each of a part type it takes (a chat part such as ``text`` or ``image_url`` is not one)."""
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        kind = item.get("type") if isinstance(item, dict) else None
        if item_types is not None and isinstance(kind, str) and kind not in item_types:
            yield ("input-item", f"input[{i}].type {kind!r} is not an input item type the openai SDK knows (message, "
                   "function_call, function_call_output, reasoning, ...)", "error")
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, list):
            continue
        for k, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind not in known:
                yield ("content-part", f"input[{i}].content[{k}].type {kind!r} is not a content part type the API "
                       f"takes ({', '.join(sorted(known))})", "error")


def _family_rules(endpoint: str, body: dict, family_name: str) -> Iterator[tuple[str, str, str]]:
    family = _families().get(family_name)
    if family is None:
        return
    reasoning = body.get("reasoning")  # chat: reasoning_effort; responses: reasoning.effort
    effort = body.get("reasoning_effort") or (reasoning.get("effort") if isinstance(reasoning, dict) else None)
    strict = family.get("default_only")
    lenient = family.get("default_only_unless_effort_none")
    for defaults, severity in ((strict, "error"), (lenient if effort != "none" else None, "warning")):
        for key, default in (defaults or {}).items():
            if _number(body.get(key)) and body[key] != default:
                yield ("reasoning-sampling", f"{family_name} takes {key} only at its default ({default}), not "
                       f"{body[key]}" + ("" if severity == "error" else " (unless reasoning effort is none)"),
                       severity)
    if endpoint == CHAT:
        for key in family.get("refused_chat") or ():
            if key in body:
                yield ("reasoning-max-tokens", f"{family_name} refuses {key}: use max_completion_tokens "
                       "(reasoning tokens count against it)", "error")
    for key in family.get("uncertain") or ():
        if key in body and body[key] not in (None, False):
            yield "reasoning-parameter", f"{family_name} may refuse {key} (reasoning models do not take it)", \
                "warning"


def _messages(messages: Any, roles: Collection[str]) -> Iterator[tuple[str, str, str]]:
    if not isinstance(messages, list) or not messages:
        return  # counting already reports a messages field that is not a list
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role not in roles:
            yield ("role", f"messages[{i}].role {role!r} is not one of {', '.join(sorted(roles))}", "error")
        content = message.get("content")
        if isinstance(content, list):
            for k, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "image_url":
                    yield from _image_url(part.get("image_url"), f"messages[{i}].content[{k}].image_url")


def _image_url(image: Any, at: str) -> Iterator[tuple[str, str, str]]:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        yield "image-url", f"{at}.url is missing", "error"
        return
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in _rules()["image_url_schemes"]:
        yield "image-url", f"{at}.url is a {scheme or 'scheme-less'} URL; images are https, http or data: URLs", \
            "error"
    # a data: URL's contents (base64, an image type) are the counter's to judge: it reads them to count them


def _tools(tools: Any, *, chat: bool) -> Iterator[tuple[str, str, str]]:
    if not isinstance(tools, list):
        return
    pattern = re.compile(_rules()["function_name"])
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        spec = tool.get("function") if chat else tool
        if not isinstance(spec, dict):
            yield "tool", f"tools[{j}].function is missing", "error"
            continue
        name = spec.get("name")
        if not isinstance(name, str) or not pattern.match(name):
            what = "has no name" if name is None else f"name {name!r} is not 1-64 letters, digits, _ or -"
            yield "tool", f"tools[{j}] {what}", "error"
        parameters = spec.get("parameters")
        if parameters is not None:
            problem = schema_problem(parameters)
            if problem:
                yield "tool-schema", f"tools[{j}].parameters: {problem}", "error"


def failing_validator(family: str) -> tuple[frozenset, typing.Callable[[dict], bool]]:
    """A quick test for the estimate's hot loop: would this plain chat request (text messages with known roles, a
    whole output bound of at least 1, no tools, no stream: what ``Counter.plain_chat`` takes) fail on a value rule
    (ranges, the model family's refusals)? The same verdict as ``request_findings`` errors for such a request.
    Returns (the keys worth a look, the test): a body with none of those keys passes without a call."""
    ranges = {k: tuple(v) for k, v in _rules()["ranges"].items()}
    keys = frozenset(ranges)
    family_rules = _families().get(family) or {}
    strict = family_rules.get("default_only") or {}
    refused = frozenset(family_rules.get("refused_chat") or ())
    # the plain path already holds max_tokens / max_completion_tokens to whole numbers of at least 1
    watched = (keys - {"max_tokens", "max_completion_tokens", "max_output_tokens"}) | set(strict) | refused

    def fails(body: dict) -> bool:
        if body.get("stream") is True or not refused.isdisjoint(body):
            return True
        for key in keys.intersection(body):
            value = body[key]
            low, high = ranges[key]
            if not _number(value) or (key in _WHOLE and not isinstance(value, int)) or \
                    (low is not None and value < low) or (high is not None and value > high):
                return True
        for key, default in strict.items():
            if _number(body.get(key)) and body[key] != default:
                return True
        return False

    return frozenset(watched), fails


_TOOL_VERDICTS: dict[bytes, bool] = {}  # tools block digest -> refused: requests of one template share one block


def request_fails(endpoint: str, body: dict, family: str, tools_key: bytes = b"") -> bool:
    """Whether any error rule refuses this request (the general path of the estimate's count of failures). The tool
    rules are judged once per distinct tools block (``tools_key``, the counter's digest of it)."""
    if tools_key and endpoint in (CHAT, RESPONSES):
        verdict = _TOOL_VERDICTS.get(tools_key)
        if verdict is None:
            if len(_TOOL_VERDICTS) >= 1024:
                _TOOL_VERDICTS.clear()
            verdict = _TOOL_VERDICTS[tools_key] = any(
                severity == "error" for _, _, severity in _tools(body.get("tools"), chat=endpoint == CHAT))
        if verdict:
            return True
        return any(severity == "error"
                   for _, _, severity in request_findings(endpoint, body, family, warnings=False, tools=False))
    return any(severity == "error" for _, _, severity in request_findings(endpoint, body, family, warnings=False))
