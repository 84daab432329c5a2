"""Gemini API Batch Mode: plan lines ``{"key", "request": GenerateContentRequest}``, exact offline text counts with
the Gemma 3 vocabulary, and result lines ``{"key", "response": GenerateContentResponse}`` or ``{"key", "error"}``.

The model is not part of a batch line (it is the batch's): it comes from ``--model``, a template's ``model:``, or a
``model`` field in the request itself (``models/`` prefix or not).

Counting follows what ``promptTokenCount`` counts, as google-genai's own LocalTokenizer accumulates it
(``google/genai/local_tokenizer.py``): each text is tokenized on its own, with no special token and no per-turn
overhead (the Gemini 2.0 Flash conversation of geminibyexample.com, 3 turns, billed ``prompt_token_count=30`` =
7 + 15 + 8) — the text of every part; a function call's name, its argument keys and string values; a function
response's name, keys and string values; every function declaration's name, description and parameter schema
(type names are not counted: format, description, enum values, required names, property names, items, example);
``generationConfig.responseSchema`` likewise; and ``systemInstruction``. Images are counted by Google's
documented tile rule and PDFs per page, approximately; ``--online`` asks ``countTokens``.
"""
from __future__ import annotations

import base64
import functools
import json
import math
import re
from pathlib import Path
from typing import Any, Iterator

from batchcost.errors import PlanError
from batchcost.estimator.counting import RequestCount, _expect, _json_type, _length_function, _note
from batchcost.estimator.images import image_size
from batchcost.estimator.models import ModelInfo
from batchcost.providers import Limits, count_field, usage_record

NAME = "gemini"
TITLE = "a Gemini API Batch Mode line"
LINE = '{"key", "request": {"contents": [{"role", "parts": [{"text"}]}], ...}}'
ENDPOINT = "generateContent"  # the neutral request kind of a Gemini batch line
EMBED = "embedContent"  # ... and of an embedding batch line: {"key", "request": {"content": {"parts"}, ...}}
ENDPOINTS = (ENDPOINT, EMBED)
ENV_KEY = "GEMINI_API_KEY"
ID_FIELD = "key"  # results are joined to the plan on it

# https://ai.google.dev/gemini-api/docs/batch-mode: an input file of up to 2 GB; no request count is documented,
# so a batch is bounded by its bytes. Keys are free text, unique within the file (results are joined on them).
LIMITS = Limits(max_requests=10_000_000, max_bytes=2 * 1024 ** 3)

# batch states (https://ai.google.dev/api/batch-mode): JOB_STATE_* (BATCH_STATE_* in the v1beta REST resource)
STATUSES = {"JOB_STATE_PENDING": "validating", "JOB_STATE_QUEUED": "validating", "JOB_STATE_RUNNING": "in_progress",
            "JOB_STATE_SUCCEEDED": "completed", "JOB_STATE_FAILED": "failed", "JOB_STATE_CANCELLING": "cancelling",
            "JOB_STATE_CANCELLED": "cancelled", "JOB_STATE_EXPIRED": "expired",
            "BATCH_STATE_PENDING": "validating", "BATCH_STATE_RUNNING": "in_progress",
            "BATCH_STATE_SUCCEEDED": "completed", "BATCH_STATE_FAILED": "failed",
            "BATCH_STATE_CANCELLED": "cancelled", "BATCH_STATE_EXPIRED": "expired"}


def limits() -> Limits:
    return LIMITS


def owns_batch(batch_id: str) -> bool:
    return batch_id.startswith("batches/")  # the Gemini API's batch resource names


def matches(obj: dict) -> bool:
    return "request" in obj and "key" in obj and "body" not in obj


def line(custom_id: str, endpoint: str, body: dict) -> dict:
    """A Gemini batch line (what ``plan`` writes): the model is the batch's, so it is not written into the line."""
    return {"key": custom_id, "request": {k: v for k, v in body.items() if k != "model"}}


def model_of(request: dict, path: Path, line_no: int) -> str:
    """The request's model: its own ``model`` field, else ``--model`` / the template's (the batch's model)."""
    from batchcost import providers

    own = request.get("model")
    if own is not None and not isinstance(own, str):
        raise PlanError("request.model must be a string such as models/gemini-2.5-flash", path=path, line=line_no)
    name = (own or providers.default_model() or "").removeprefix("models/")
    if not name:
        raise PlanError("a Gemini batch line names no model (the batch does): pass --model, e.g. "
                        "--model gemini-2.5-flash", path=path, line=line_no)
    return name


def parse(obj: dict, path: Path, line_no: int, nbytes: int, text: bytes):
    from batchcost.plans.reader import PlanLine

    key, request = obj.get("key"), obj.get("request")
    if not isinstance(key, str):
        raise PlanError("key is missing" if key is None else "key must be a string", path=path, line=line_no)
    if not key:
        raise PlanError("key is empty", path=path, line=line_no)
    if not isinstance(request, dict):
        raise PlanError(f"request must be an object (a GenerateContentRequest), not {_json_type(request)}",
                        path=path, line=line_no)
    extra = sorted(set(obj) - {"key", "request", "metadata"})
    if extra:
        raise PlanError(f"unexpected field {extra[0]!r} beside key and request", path=path, line=line_no)
    body = {**request, "model": model_of(request, path, line_no)}
    return PlanLine(line_no, key, "POST", kind_of(request), body, nbytes, text, provider=NAME)


def kind_of(request: dict) -> str:
    """An EmbedContentRequest has one ``content``; a GenerateContentRequest has ``contents``."""
    return EMBED if "content" in request and "contents" not in request else ENDPOINT


def _get(obj: dict, camel: str) -> Any:
    """A field by its JSON (camelCase) name or its proto (snake_case) name: the API takes both."""
    if camel in obj:
        return obj[camel]
    return obj.get(_snake(camel))


@functools.cache
def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def output_bound(body: dict) -> tuple[str, int] | None:
    """The request's output bound for ``check`` (one candidate's), by its JSON name."""
    config = _get(body, "generationConfig")
    value = _get(config, "maxOutputTokens") if isinstance(config, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return "generationConfig.maxOutputTokens", value
    return None


def check_request(item, warnings: bool = True) -> Iterator[tuple]:
    """What the batch would reject in one request, beyond counting."""
    if item.url == EMBED:
        content = item.body.get("content")
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
            yield "contents", "request.content must be a content with a non-empty list of parts"
        return
    if not isinstance(item.body.get("contents"), list) or not item.body["contents"]:
        yield "contents", "request.contents must be a non-empty list of contents"
    yield from request_findings(item.body, warnings=warnings)


@functools.cache
def _rules() -> dict:
    from batchcost.data import load_data

    rules = load_data("request_rules.yaml")["gemini"]
    request = set(rules["request_fields"]) | {_snake(n) for n in rules["request_fields"]}
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
    from batchcost.providers.shared_rules import out_of_range, unknown_fields

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
    system = _get(body, "systemInstruction")
    if isinstance(system, dict):
        yield from _parts(system, "systemInstruction", rules)
    config = _get(body, "generationConfig")
    if not isinstance(config, dict):
        return
    yield from out_of_range(lambda key: _get(config, key), {k: tuple(v) for k, v in rules["ranges"].items()},
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
            blob = _get(part, kind)
            if isinstance(blob, dict):
                yield from _blob(blob, kind, f"{at}.parts[{k}].{kind}", rules)


def _blob(blob: dict, kind: str, at: str, rules: dict) -> Iterator[tuple[str, str, str]]:
    mime = _get(blob, "mimeType")
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


def request_fails(item, family: str = "", tools_key: bytes = b"") -> bool:
    """Whether ``check`` expects the API to refuse this request (for the estimate's count of failures)."""
    from batchcost.providers import refused

    return refused(check_request(item, warnings=False))


# -- counting -------------------------------------------------------------------------------------------------
IMAGE_TILE, TILE_TOKENS, SMALL_IMAGE = 768, 258, 384  # ai.google.dev/gemini-api/docs/tokens: images
PDF_PAGE_TOKENS = 258  # a PDF page counts as one image (docs: document processing)


class GeminiCounter:
    """Counts GenerateContentRequests for one Gemini model, exactly for text."""

    def __init__(self, model: ModelInfo, *, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False, correction=None):
        self.model = model
        self.assume_image_size = assume_image_size
        self._len = _length_function(model.encoding)
        a = model.approximation
        self.ratios = None if a is None else (a.low, a.ratio, a.high)

    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        _expect(body, dict, "request")
        if (endpoint == EMBED) != (self.model.kind == "embedding"):
            model = "an embedding model" if self.model.kind == "embedding" else "a generation model"
            line = "an EmbedContentRequest" if endpoint == EMBED else "a GenerateContentRequest"
            raise PlanError(f"{self.model.name} is {model}; this line is {line}")
        if endpoint == EMBED:
            return self._embedding(body)
        result = RequestCount(0, None)
        texts: list[str] = []
        media = [0, 0, 0]
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise PlanError("request.contents must be a non-empty list of contents")
        for i, content in enumerate(contents):
            self._content(content, f"request.contents[{i}]", texts, media, result)
        system = _get(body, "systemInstruction")
        if system is not None:
            if isinstance(system, str):
                texts.append(system)
            else:
                self._content(system, "request.systemInstruction", texts, media, result)
        tools = body.get("tools")
        if tools is not None:
            _expect(tools, list, "request.tools")
            for j, tool in enumerate(tools):
                _expect(tool, dict, f"request.tools[{j}]")
                for k, declaration in enumerate(_get(tool, "functionDeclarations") or []):
                    _expect(declaration, dict, f"request.tools[{j}].functionDeclarations[{k}]")
                    for key in ("name", "description"):
                        if declaration.get(key):
                            texts.append(str(declaration[key]))
                    for key in ("parameters", "response"):
                        if isinstance(declaration.get(key), dict):
                            _schema(declaration[key], texts)
                if set(tool) - {"functionDeclarations", "function_declarations"}:
                    _note(result, "built-in tools (search, code execution) add prompt tokens the API reports as "
                                  "toolUsePromptTokenCount; not counted offline")
        config = _get(body, "generationConfig")
        bound = None
        if config is not None:
            _expect(config, dict, "request.generationConfig")
            schema = _get(config, "responseSchema")
            if isinstance(schema, dict):
                _schema(schema, texts)
            bound = _get(config, "maxOutputTokens")
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 0):
                raise PlanError(f"request.generationConfig.maxOutputTokens must be a non-negative whole number, "
                                f"not {json.dumps(bound)[:40]}")
            n = _get(config, "candidateCount")
            if bound is not None and isinstance(n, int) and not isinstance(n, bool) and n > 1:
                bound *= n
        result.max_output_tokens = bound  # thinking is billed as output and bounded by maxOutputTokens
        return self._total(texts, media, result)

    def _embedding(self, body: dict[str, Any]) -> RequestCount:
        """An EmbedContentRequest: only the text parts of its content are billed (``tokenCount``)."""
        result = RequestCount(0, 0)
        content = _expect(body.get("content"), dict, "request.content")
        parts = _expect(content.get("parts"), list, "request.content.parts")
        texts = []
        for k, part in enumerate(parts):
            _expect(part, dict, f"request.content.parts[{k}]")
            if "text" in part:
                texts.append(_expect(part["text"], str, f"request.content.parts[{k}].text"))
            elif part:
                _note(result, "embedding parts other than text are not counted offline")
        return self._total(texts, [0, 0, 0], result)

    def _total(self, texts: list[str], media: list[int], result: RequestCount) -> RequestCount:
        text_tokens = sum(self._len(t) for t in texts)
        if self.ratios is None:
            result.input_tokens = text_tokens + media[1]
            if any(media):
                result.approximate, result.basis = True, "approximation"
                result.low, result.high = text_tokens + media[0], text_tokens + media[2]
        else:
            low, mid, high = self.ratios
            result.approximate, result.basis = True, "approximation"
            result.input_tokens = round(text_tokens * mid) + media[1]
            result.low = math.floor(text_tokens * low) + media[0]
            result.high = math.ceil(text_tokens * high) + media[2]
            _note(result, f"{self.model.name}'s vocabulary is not shipped: its text is counted with Gemma 3's "
                          f"({low}x to {high}x)")
        return result

    def _ceiling(self, tokens: int | None) -> int:
        """The most a medium the counter cannot read can add: ``tokens``, never more than the context window (the
        API refuses a longer prompt); with neither, the largest Gemini window."""
        window = self.model.context_window or 1_048_576
        return window if tokens is None else min(tokens, window)

    def _content(self, content: Any, at: str, texts: list[str], media: list[int], result: RequestCount) -> None:
        _expect(content, dict, at)
        parts = content.get("parts")
        _expect(parts, list, f"{at}.parts")
        for k, part in enumerate(parts):
            where = f"{at}.parts[{k}]"
            _expect(part, dict, where)
            if "text" in part:
                texts.append(_expect(part["text"], str, f"{where}.text"))
            for kind, payload in (("functionCall", "args"), ("functionResponse", "response")):
                call = _get(part, kind)  # a call's or a response's name, then its keys and string values
                if isinstance(call, dict):
                    if call.get("name"):
                        texts.append(str(call["name"]))
                    if isinstance(call.get(payload), dict):
                        _values(call[payload], texts)
            for kind in ("inlineData", "fileData"):
                blob = _get(part, kind)
                if isinstance(blob, dict):  # fileData names a file by URI: its bytes are not here to read
                    self._media(_get(blob, "mimeType") or "", blob.get("data") if kind == "inlineData" else None,
                                where, media, result)

    def _media(self, mime: str, data: Any, at: str, media: list[int], result: RequestCount) -> None:
        raw = b""
        if isinstance(data, str):
            head = data[:1 << 22]
            decode = base64.urlsafe_b64decode if ("-" in head or "_" in head) else base64.b64decode  # both are taken
            try:
                raw = decode(head + "=" * (-len(head) % 4))
            except (ValueError, TypeError):
                raise PlanError(f"{at}.inlineData.data is not base64") from None
        if mime.startswith("image/"):
            size = image_size(raw) if raw else self.assume_image_size
            if size is None:
                _note(result, "images not readable offline are counted as 1 to 4 tiles (258 tokens each); "
                              "use --image-size WxH or --online")
                low, mid, high = TILE_TOKENS, TILE_TOKENS, 4 * TILE_TOKENS
            else:
                low = mid = high = gemini_image_tokens(*size)
                _note(result, "images are counted by Google's tile rule (258 tokens a 768x768 tile)")
        elif mime == "application/pdf" and raw:
            pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", raw))
            low = mid = high = max(1, pages) * PDF_PAGE_TOKENS
            _note(result, "PDF pages are counted at 258 tokens each (Google's rule; extracted text not counted)")
        elif mime == "application/pdf":  # by URI: its pages are unknown offline, up to the API's maximum
            low = mid = PDF_PAGE_TOKENS
            high = self._ceiling(MAX_PDF_PAGES * PDF_PAGE_TOKENS)
            _note(result, f"a PDF given by URI is counted as 1 to {MAX_PDF_PAGES:,} pages (the API's maximum, at 258 "
                          "tokens a page): its pages cannot be read offline; use --online")
        else:  # audio, video: their length is unknown offline; the high is what the context window can hold
            low = mid = 0
            high = self._ceiling(None)
            _note(result, f"{mime or 'this media'} is not counted offline (audio 32 and video 263 tokens a second): "
                          "0 up to the context window; use --online")
        media[0] += low
        media[1] += mid
        media[2] += high


MAX_PDF_PAGES = 1000  # ai.google.dev/gemini-api/docs/document-processing: "up to 1000 document pages"


def gemini_image_tokens(width: int, height: int) -> int:
    """Google's rule for Gemini 2.0 and later: an image with both sides at most 384 px is 258 tokens; a larger one is
    cut into 768x768 tiles of 258 tokens each (ai.google.dev/gemini-api/docs/tokens, "Image")."""
    if width <= SMALL_IMAGE and height <= SMALL_IMAGE:
        return TILE_TOKENS
    return math.ceil(width / IMAGE_TILE) * math.ceil(height / IMAGE_TILE) * TILE_TOKENS


def _values(value: Any, texts: list[str]) -> None:
    """A dict's keys and every string inside it (LocalTokenizer's _dict_traverse)."""
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        texts.extend(str(k) for k in value)
        for item in value.values():
            _values(item, texts)
    elif isinstance(value, list):
        for item in value:
            _values(item, texts)


def _schema(schema: dict, texts: list[str]) -> None:
    """A Schema's counted text (LocalTokenizer's add_schema): format, description, enum, required, property names,
    items and example; its type, title and default are not counted."""
    for key in ("format", "description"):
        if schema.get(key):
            texts.append(str(schema[key]))
    for key in ("enum", "required"):
        if isinstance(schema.get(key), list):
            texts.extend(str(v) for v in schema[key])
    if isinstance(schema.get("items"), dict):
        _schema(schema["items"], texts)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            texts.append(str(name))
            if isinstance(sub, dict):
                _schema(sub, texts)
    if schema.get("example") is not None:
        _values(schema["example"], texts)


def counter(info: ModelInfo, **options) -> GeminiCounter:
    return GeminiCounter(info, **options)


# -- results --------------------------------------------------------------------------------------------------
def classify(obj: dict, endpoint: str) -> tuple[str, dict | None, str | None]:
    """(status, usage, error) of one result line: ``{"key", "response": {..., "usageMetadata"}}`` or
    ``{"key", "error": {"code", "message"}}``."""
    error = obj.get("error")
    if error is not None:
        code = error.get("status") or error.get("code") if isinstance(error, dict) else error
        return "failed", None, str(code or "error")
    response = obj.get("response")
    if not isinstance(response, dict):
        raise ValueError("a result line needs a response or an error")
    if endpoint == EMBED or "embedding" in response:
        return "succeeded", _embedding_usage(response), None
    return "succeeded", _usage(_get(response, "usageMetadata")), None


def _embedding_usage(response: dict) -> dict:
    """An embedding's billed input is its ``tokenCount`` (an int64, so JSON may carry it as a string)."""
    value = _get(response, "tokenCount")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    tokens = count_field({"tokenCount": value}, "tokenCount", "response.", default=None)
    return usage_record(input_tokens=tokens, output_tokens=0)


def _usage(usage: Any) -> dict:
    """usageMetadata as neutral usage: input = prompt (cached included) + tool-use prompt; output = candidates +
    thoughts (thinking is billed as output)."""
    if not isinstance(usage, dict):
        raise ValueError("a response without usageMetadata")

    def field(name: str, default: int | None = 0) -> int:
        key = name if name in usage else _snake(name)
        return count_field(usage, key, "usageMetadata.", default=default)

    prompt = field("promptTokenCount", default=None)
    cached = field("cachedContentTokenCount")
    tool = field("toolUsePromptTokenCount")
    thoughts = field("thoughtsTokenCount")
    output = field("candidatesTokenCount") + thoughts
    if cached > prompt:
        raise ValueError(f"usageMetadata.cachedContentTokenCount {cached:,} is over promptTokenCount {prompt:,}")
    return usage_record(input_tokens=prompt + tool, output_tokens=output, cached_tokens=cached,
                        reasoning_tokens=thoughts)


def client(**options):
    from batchcost.providers.gemini_client import GeminiBatchClient

    return GeminiBatchClient(**options)


def online_counter(**options):
    """``--online``: a function from a request to its input tokens as billed, from the free ``countTokens``
    endpoint. The SDK sends the Gemini API contents only, so the endpoint counts the contents (media included)
    and the rest (system instruction, tools, response schema: text) is counted offline, exactly. countTokens
    answers one token more per content than ``promptTokenCount`` bills (Google's public examples: 24 for a
    two-turn history billed 22, 10 for a one-line prompt billed 9), so that token is taken off."""
    from batchcost.estimator.models import resolve_model

    options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
    remote = client(**options)

    def count(body: dict) -> int:
        model = body.get("model", "")
        if kind_of(body) == EMBED:
            contents = [body["content"]]
            rest = 0
        else:
            contents = body.get("contents") or []
            rest = GeminiCounter(resolve_model(model)).count(ENDPOINT, {**without_contents(body), "contents": [
                {"parts": []}]}).input_tokens  # one empty content: the counter wants one, and it counts nothing
        return max(0, remote.count_tokens(model, contents) - len(contents)) + rest

    return count


def without_contents(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("contents", "model")}


def response_usage(endpoint: str, response: dict) -> dict | None:
    try:
        return _usage(_get(response, "usageMetadata"))
    except ValueError:
        return None
