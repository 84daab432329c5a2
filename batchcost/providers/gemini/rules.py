"""What the Gemini API would reject in one GenerateContentRequest: roles, generationConfig ranges, empty parts, inline
data that is not base64 or of a MIME type Gemini does not take (errors), and fields the API does not define
(warnings, from google-genai's own GenerationConfig)."""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from batchcost.core.records import RequestFinding
from batchcost.providers.gemini.fields import EMBED, field, snake


def check_request(item, warnings: bool = True) -> Iterator[RequestFinding]:
    """What the batch would reject in one request, beyond counting."""
    if item.url == EMBED:
        content = item.body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            yield RequestFinding("contents", "request.content must be a content with a non-empty list of parts")
        return
    if not isinstance(item.body.get("contents"), list) or not item.body["contents"]:
        yield RequestFinding("contents", "request.contents must be a non-empty list of contents")
    for finding in request_findings(item.body, warnings=warnings):
        yield RequestFinding(*finding)


@functools.cache
def _rules() -> dict:
    from batchcost.data import load_data

    rules = load_data("request_rules.yaml")["gemini"]
    request = set(rules["request_fields"]) | {snake(n) for n in rules["request_fields"]}
    return {**rules, "request": request}


@functools.cache
def _config_fields() -> set[str]:
    """google-genai's GenerationConfig field names, snake and camel case (the API takes both); imported only for
    check's warnings, never by the estimate."""
    from google.genai import types

    names = set(types.GenerationConfig.model_fields)
    return names | {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), n) for n in names}


def request_findings(body: dict, *, warnings: bool = True) -> Iterator[tuple[str, str, str]]:
    """(rule, message, severity) for one GenerateContentRequest: roles, generationConfig ranges (errors), and
    fields the API does not define (warnings)."""
    from batchcost.providers.rules import out_of_range, unknown_fields

    rules = _rules()
    if warnings:
        yield from unknown_fields(body, rules["request"], lambda key: f"{key!r} is not a GenerateContentRequest "
                                  "field (the API refuses unknown fields)", "unknown-field")
    contents = body.get("contents")
    for i, content in enumerate(contents if isinstance(contents, list) else ()):
        role = content.get("role") if isinstance(content, dict) else None
        if role is not None and role not in rules["roles"]:
            yield ("role", f"contents[{i}].role {role!r} is not one of {', '.join(rules['roles'])} (a system prompt "
                   "goes in systemInstruction)", "error")
        yield from _parts(content, f"contents[{i}]", rules)
    system = field(body, "systemInstruction")
    if isinstance(system, dict):
        yield from _parts(system, "systemInstruction", rules)
    config = field(body, "generationConfig")
    if not isinstance(config, dict):
        return
    yield from out_of_range(lambda key: field(config, key), {k: tuple(v) for k, v in rules["ranges"].items()},
                            ("candidateCount", "maxOutputTokens"), "generationConfig.")
    if warnings:
        yield from unknown_fields(config, _config_fields(), lambda key: f"generationConfig.{key} is not a "
                                  "GenerationConfig field google-genai knows", "unknown-field")


_MIME = re.compile(r"^[a-z]+/[a-z0-9][a-z0-9.+-]*$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*={0,2}$")  # standard or URL-safe (the API takes both)


def _parts(content: Any, at: str, rules: dict) -> Iterator[tuple[str, str, str]]:
    """A content's parts: at least one, and each inlineData a MIME type the API takes with base64 data."""
    if not isinstance(content, dict):
        return
    parts = content.get("parts")
    if parts == []:
        yield "empty-content", f"{at}.parts is empty (a content needs at least one part)", "error"
    for k, part in enumerate(parts if isinstance(parts, list) else ()):
        if not isinstance(part, dict):
            continue
        for kind in ("inlineData", "fileData"):
            blob = field(part, kind)
            if isinstance(blob, dict):
                yield from _blob(blob, kind, f"{at}.parts[{k}].{kind}", rules)


def _blob(blob: dict, kind: str, at: str, rules: dict) -> Iterator[tuple[str, str, str]]:
    mime = field(blob, "mimeType")
    if kind == "inlineData" or mime is not None:
        if not isinstance(mime, str) or not _MIME.match(mime.lower()):
            yield "mime-type", f"{at}.mimeType {json.dumps(mime)[:40]} is not a MIME type such as image/png", "error"
        else:
            family = mime.split("/", 1)[0].lower()
            known = rules["mime_types"]
            if family in ("image", "audio", "video") and mime.lower() not in known[family]:
                yield ("mime-type", f"{at}.mimeType {mime!r} is not a {family} type Gemini takes "
                       f"({', '.join(known[family])})", "error")
            elif family not in ("image", "audio", "video") and mime.lower() not in known["document"]:
                yield ("mime-type", f"{at}.mimeType {mime!r} is not among the documented document types "
                       f"({', '.join(known['document'])}); the API may refuse it", "warning")
    if kind == "inlineData":
        data = blob.get("data")
        if not isinstance(data, str) or len(data) % 4 == 1 or not _BASE64.match(data[:1 << 20]):
            yield "inline-data", f"{at}.data is not base64 (standard or URL-safe)", "error"
