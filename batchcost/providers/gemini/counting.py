"""Counting Gemini requests offline, as ``promptTokenCount`` counts them (google-genai's LocalTokenizer accumulates it
the same way): every text part on its own with the Gemma 3 vocabulary, no per-turn overhead; function calls and
responses (name, keys, string values); function declarations and ``responseSchema`` (names, descriptions, enums,
required, property names; type names are free); ``systemInstruction``. Images by Google's documented tile rule and
PDFs per page, approximately, with a band; audio and video by URI, a band up to the context window."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from batchcost.core.errors import PlanError
from batchcost.providers.gemini.fields import EMBED, field
from batchcost.tokens.documents import decode_base64, pdf_pages
from batchcost.tokens.images import image_size
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import RequestCount, expect, length_function, note

IMAGE_TILE, TILE_TOKENS, SMALL_IMAGE = 768, 258, 384  # ai.google.dev/gemini-api/docs/tokens: images
PDF_PAGE_TOKENS = 258  # a PDF page counts as one image (docs: document processing)
# ... and its extracted text is billed too (a one-page PDF: 273 on Gemini 2.5, real pairs in tests/data/real_usage):
# the page's text is taken as 40 tokens, up to 2,500 for a dense page
PDF_PAGE_TEXT = (40, 2500)
AUDIO_TOKENS, VIDEO_TOKENS = 32, 263  # a second (ai.google.dev/gemini-api/docs/tokens)
MIN_MEDIA_BYTES = 500  # the least a second of compressed audio or video takes (4 kbit/s): the length's ceiling
TEXT_FILE_FRAMING = 8
TYPICAL_AUDIO_BYTES, TYPICAL_VIDEO_BYTES = 16_000, 250_000  # a second at 128 kbit/s and 2 Mbit/s: the centre


class GeminiCounter:
    """Counts GenerateContentRequests for one Gemini model, exactly for text."""

    def __init__(self, model: ModelInfo, *, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False, correction=None, api: str = "gemini"):
        self.model = model
        self.api = api  # "gemini" (the Gemini API) or "vertex": they bill tools and thought signatures apart
        self.rules = model.structure or {}
        self.assume_image_size = assume_image_size
        self._len = length_function(model.encoding)
        a = model.approximation
        self.ratios = None if a is None else (a.low, a.ratio, a.high)

    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        expect(body, dict, "request")
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
        rules = self.rules
        fixed = 0  # tokens beyond the text: per content, the tools template
        slack = 0.0
        slack_low = 0  # what only the band's low side adds
        calls = signatures = 0
        for i, content in enumerate(contents):
            content_calls, content_signatures = self._content(content, f"request.contents[{i}]", texts, media, result)
            calls += content_calls
            signatures += content_signatures
        per_content = int(rules.get("per_content", 0)) * len(contents)
        fixed += per_content
        if per_content and self.api == "vertex":  # the Gemini API's token a content, not measured on Vertex
            slack_low += per_content
            note(result, "Vertex is taken to bill a token a content as the Gemini API does (not measured on "
                         "Vertex: a band down to none)")
        if calls and rules.get("per_call"):
            fixed += round(float(rules["per_call"]) * calls)
            slack += float(rules.get("slack", 0)) * calls
            note(result, "function calls and responses are counted with fitted framing tokens (a band)")
        if signatures and self.api == "gemini" and rules.get("signature_high"):
            note(result, "replayed thought signatures are billed by the Gemini API but cannot be counted offline "
                         "(a band up to their size)")
            result.slack_high += math.ceil(signatures * float(rules["signature_high"]))
        system = field(body, "systemInstruction")
        if system is not None:
            if rules.get("system"):  # a token for it, as bills mostly show; one real bill had none: a band
                fixed += int(rules["system"])
                slack_low += int(rules["system"])
                note(result, "systemInstruction adds a token on most bills, none on some (a band)")
            if isinstance(system, str):
                texts.append(system)
            else:
                self._content(system, "request.systemInstruction", texts, media, result)
        tools = body.get("tools")
        if tools is not None:
            expect(tools, list, "request.tools")
            functions = properties = 0
            start = len(texts)
            for j, tool in enumerate(tools):
                expect(tool, dict, f"request.tools[{j}]")
                for k, declaration in enumerate(field(tool, "functionDeclarations") or []):
                    expect(declaration, dict, f"request.tools[{j}].functionDeclarations[{k}]")
                    functions += 1
                    for key in ("name", "description"):
                        if declaration.get(key):
                            texts.append(str(declaration[key]))
                    for key in ("parameters", "response", "parametersJsonSchema", "parameters_json_schema",
                                "responseJsonSchema", "response_json_schema"):
                        if isinstance(declaration.get(key), dict):
                            _schema(declaration[key], texts)
                            if key.startswith("parameters"):
                                properties += _properties(declaration[key])
            if functions and self.api == "gemini" and rules.get("tools"):  # Vertex bills no template
                fixed += round(float(rules["tools"]) + float(rules.get("per_function", 0)) * functions
                               + float(rules.get("per_property", 0)) * properties)
                declared = sum(self._len(t) for t in texts[start:])  # a richer schema strays further
                slack += float(rules.get("slack", 0)) * (1 + functions) + float(rules.get("tools_slack", 0)) * declared
                note(result, "function declarations are counted with the Gemini API's template, fitted (a band)")
                if set(tool) - {"functionDeclarations", "function_declarations"}:
                    note(result, "built-in tools (search, code execution) add prompt tokens the API reports as "
                                  "toolUsePromptTokenCount; not counted offline")
        config = field(body, "generationConfig")
        bound = None
        if config is not None:
            expect(config, dict, "request.generationConfig")
            schema = field(config, "responseSchema")
            if schema is None:
                schema = field(config, "responseJsonSchema")
            if isinstance(schema, dict) and rules.get("schema_billed", True):  # 2.5 and later do not bill it
                measured: list[str] = []
                _schema(schema, measured)
                tokens = sum(self._len(t) for t in measured)
                ratio = float(rules.get("schema_ratio", 1))
                fixed += round(tokens * ratio)  # the bill counts more of the schema than its names and words
                slack_low += math.ceil(tokens * (ratio - 1))
                result.slack_high += math.ceil(tokens * (float(rules.get("schema_high", ratio)) - ratio))
                note(result, "responseSchema is counted from its names and words times a fitted ratio (a band)")
            bound = field(config, "maxOutputTokens")
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 0):
                raise PlanError(f"request.generationConfig.maxOutputTokens must be a non-negative whole number, "
                                f"not {json.dumps(bound)[:40]}")
            n = field(config, "candidateCount")
            if bound is not None and isinstance(n, int) and not isinstance(n, bool) and n > 1:
                bound *= n
        result.max_output_tokens = bound  # thinking is billed as output and bounded by maxOutputTokens
        self._total(texts, media, result)
        result.input_tokens += fixed
        if slack or slack_low or result.slack_high or result.low is not None:
            half = math.ceil(slack)
            result.approximate, result.basis = True, "approximation"
            low = result.low if result.low is not None else result.input_tokens - fixed
            high = result.high if result.high is not None else result.input_tokens - fixed
            result.low = max(0, low + fixed - half - slack_low)
            result.high = high + fixed + half + result.slack_high
        return result

    def _embedding(self, body: dict[str, Any]) -> RequestCount:
        """An EmbedContentRequest: only the text parts of its content are billed (``tokenCount``)."""
        result = RequestCount(0, 0)
        content = expect(body.get("content"), dict, "request.content")
        parts = expect(content.get("parts"), list, "request.content.parts")
        texts = []
        for k, part in enumerate(parts):
            expect(part, dict, f"request.content.parts[{k}]")
            if "text" in part:
                texts.append(expect(part["text"], str, f"request.content.parts[{k}].text"))
            elif part:
                note(result, "embedding parts other than text are not counted offline")
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
            note(result, f"{self.model.name}'s vocabulary is not shipped: its text is counted with Gemma 3's "
                          f"({low}x to {high}x)")
        return result

    def _ceiling(self, tokens: int | None) -> int:
        """The most a medium the counter cannot read can add: ``tokens``, never more than the context window (the
        API refuses a longer prompt); with neither, the largest Gemini window."""
        window = self.model.context_window or 1_048_576
        return window if tokens is None else min(tokens, window)

    def _content(self, content: Any, at: str, texts: list[str], media: list[int],
                 result: RequestCount) -> tuple[int, int]:
        """A content's parts into ``texts`` and ``media``; gives its function calls and responses, and the
        characters of the thought signatures it replays (what the bill adds beyond the text)."""
        expect(content, dict, at)
        parts = content.get("parts")
        expect(parts, list, f"{at}.parts")
        calls = signatures = 0
        for k, part in enumerate(parts):
            where = f"{at}.parts[{k}]"
            expect(part, dict, where)
            if "text" in part:
                texts.append(expect(part["text"], str, f"{where}.text"))
            signature = part.get("thoughtSignature")
            if isinstance(signature, str):
                signatures += len(signature)
            if field(part, "functionCall") is not None or field(part, "functionResponse") is not None:
                calls += 1
            for kind, payload in (("functionCall", "args"), ("functionResponse", "response")):
                call = field(part, kind)  # a call's or a response's name, then its keys and string values
                if isinstance(call, dict):
                    if call.get("name"):
                        texts.append(str(call["name"]))
                    if isinstance(call.get(payload), dict):
                        _values(call[payload], texts)
            for kind in ("inlineData", "fileData"):
                blob = field(part, kind)
                if isinstance(blob, dict):  # fileData names a file by URI: its bytes are not here to read
                    self._media(field(blob, "mimeType") or "", blob.get("data") if kind == "inlineData" else None,
                                where, media, result)
        return calls, signatures

    def _media(self, mime: str, data: Any, at: str, media: list[int], result: RequestCount) -> None:
        raw = b""
        if isinstance(data, str):
            try:
                raw = decode_base64(data[:1 << 22])  # the standard and the URL-safe alphabet are both taken
            except ValueError:
                raise PlanError(f"{at}.inlineData.data is not base64") from None
        factor = int(self.rules.get("media_factor", 1))  # Gemini 2.0 bills an image or page as 5 tiles
        if mime.startswith("image/"):
            size = image_size(raw) if raw else self.assume_image_size
            if size is None:
                note(result, "images not readable offline are counted as 1 to 4 tiles (258 tokens each); "
                              "use --image-size WxH or --online")
                low, mid, high = TILE_TOKENS, TILE_TOKENS * factor, 4 * TILE_TOKENS * factor
            else:
                low = gemini_image_tokens(*size)
                mid = high = low * factor
                note(result, "images are counted by Google's tile rule (258 tokens a 768x768 tile)"
                     + (f", {factor} tiles each on {self.model.name} as its bills show" if factor > 1 else ""))
        elif mime == "application/pdf" and raw:
            pages = max(1, pdf_pages(raw))
            low = pages * PDF_PAGE_TOKENS
            mid = pages * (PDF_PAGE_TOKENS * factor + PDF_PAGE_TEXT[0])
            high = pages * (PDF_PAGE_TOKENS * factor + PDF_PAGE_TEXT[1])
            note(result, "PDF pages are counted at 258 tokens each (Google's rule) plus their text, which is not "
                         "read offline: a band")
        elif mime == "application/pdf":  # by URI: its pages are unknown offline, up to the API's maximum
            low = mid = PDF_PAGE_TOKENS
            high = self._ceiling(MAX_PDF_PAGES * (PDF_PAGE_TOKENS * factor + PDF_PAGE_TEXT[1]))
            note(result, f"a PDF given by URI is counted as 1 to {MAX_PDF_PAGES:,} pages (the API's maximum, at 258 "
                          "tokens a page): its pages cannot be read offline; use --online")
        elif mime.startswith("text/") and raw:  # a text file is read as its text
            text = raw.decode("utf-8", "replace")
            tokens = self._len(text)
            low, mid, high = tokens, tokens + TEXT_FILE_FRAMING, tokens + 2 * TEXT_FILE_FRAMING
            note(result, "inline text files are counted as their text, with a few framing tokens (a band)")
        elif mime.startswith(("audio/", "video/")) and raw:
            seconds = wav_seconds(raw) if mime in ("audio/wav", "audio/x-wav", "audio/wave") else None
            rate = AUDIO_TOKENS if mime.startswith("audio/") else VIDEO_TOKENS + AUDIO_TOKENS
            if seconds is not None:  # a WAV file's header gives its length
                mid = math.ceil(seconds * AUDIO_TOKENS)
                low, high = max(0, mid - 8), mid + 8
                note(result, "WAV audio is counted at 32 tokens a second from its header's length (a band)")
            else:  # its length is not read offline: a typical bitrate for the centre; at least MIN_MEDIA_BYTES a
                # second, so no longer than that
                typical = TYPICAL_AUDIO_BYTES if mime.startswith("audio/") else TYPICAL_VIDEO_BYTES
                low = 0
                high = self._ceiling(math.ceil(len(raw) / MIN_MEDIA_BYTES * rate))
                mid = min(high, math.ceil(len(raw) / typical * rate))
                note(result, f"{mime} is not counted offline (audio 32 and video 263 tokens a second): 0 up to its "
                             f"length at {MIN_MEDIA_BYTES:,} bytes a second; use --online")
        else:  # audio, video by URI: their length is unknown offline; the high is what the context window can hold
            low = mid = 0
            high = self._ceiling(None)
            note(result, f"{mime or 'this media'} is not counted offline (audio 32 and video 263 tokens a second): "
                          "0 up to the context window; use --online")
        media[0] += low
        media[1] += mid
        media[2] += high


MAX_PDF_PAGES = 1000  # ai.google.dev/gemini-api/docs/document-processing: "up to 1000 document pages"


def wav_seconds(raw: bytes) -> float | None:
    """A RIFF/WAVE file's length in seconds, from its fmt chunk's byte rate and its data chunk's size."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return None
    at, rate, size = 12, None, None
    while at + 8 <= len(raw):
        chunk, length = raw[at:at + 4], int.from_bytes(raw[at + 4:at + 8], "little")
        if chunk == b"fmt " and at + 20 <= len(raw):
            rate = int.from_bytes(raw[at + 16:at + 20], "little")
        elif chunk == b"data":
            size = min(length, len(raw) - at - 8)
            break
        at += 8 + length + (length & 1)
    return size / rate if rate and size is not None else None


def gemini_image_tokens(width: int, height: int) -> int:
    """Google's rule for Gemini 2.0 and later: an image with both sides at most 384 px is 258 tokens; a larger one is
    cut into 768x768 tiles of 258 tokens each (ai.google.dev/gemini-api/docs/tokens, "Image")."""
    if width <= SMALL_IMAGE and height <= SMALL_IMAGE:
        return TILE_TOKENS
    return math.ceil(width / IMAGE_TILE) * math.ceil(height / IMAGE_TILE) * TILE_TOKENS


def _properties(schema: Any, depth: int = 0) -> int:
    """How many properties a schema declares, nested ones (objects, array items, anyOf) included."""
    if not isinstance(schema, dict) or depth > 32:
        return 0
    found = 0
    properties = schema.get("properties")
    if isinstance(properties, dict):
        found += len(properties) + sum(_properties(sub, depth + 1) for sub in properties.values())
    found += _properties(schema.get("items"), depth + 1)
    for key in ("anyOf", "oneOf", "any_of"):
        alternatives = schema.get(key)
        for sub in alternatives if isinstance(alternatives, list) else []:
            found += _properties(sub, depth + 1)
    return found


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
    for key in ("anyOf", "oneOf", "any_of"):
        alternatives = schema.get(key)
        for sub in alternatives if isinstance(alternatives, list) else []:
            if isinstance(sub, dict):
                _schema(sub, texts)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            texts.append(str(name))
            if isinstance(sub, dict):
                _schema(sub, texts)
    if schema.get("example") is not None:
        _values(schema["example"], texts)
