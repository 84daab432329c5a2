"""Counting Claude requests offline: an approximation with a stated band (no official offline tokenizer exists for
Claude 3 and later). The text is measured with the model's proxy encoding and scaled by the family's ratios
(models.yaml ``approximations``) to a central figure and a band; structure tokens (per request, message, block,
system), the documented tool-use system prompt (by ``tool_choice``), images by Anthropic's documented rule and PDF
pages are added. Thinking blocks of earlier assistant turns are not counted (Anthropic strips them)."""
from __future__ import annotations

import base64
import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

from batchcost.core.errors import PlanError
from batchcost.tokens.documents import pdf_pages
from batchcost.tokens.images import image_size
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import RequestCount, expect, fingerprint, json_type, length_function, nonempty_list, note

MAX_IMAGE_TOKENS = 1600  # Anthropic: images are scaled to at most ~1.15 megapixels (about 1,600 tokens)
MAX_LONG_EDGE = 1568
PDF_PAGE_TOKENS = (1400, 1650, 4500)  # low, central, high per page: "1,500 to 3,000 tokens per page" + its image;
# the centre is what one-page PDFs were billed on real pairs (tests/data/real_usage: 1,598 to 1,658)
MAX_BOUND = 2**53
MAX_PDF_PAGES = 100  # platform.claude.com/docs/en/build-with-claude/pdf-support: "Maximum pages per request: 100"


class ClaudeCounter:
    """Counts Messages requests for one Claude model; reuse one per model (text lengths are memoised)."""

    def __init__(self, model: ModelInfo, *, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False,
                 correction: tuple[Decimal, Decimal, Decimal] | None = None):
        if model.approximation is None or model.structure is None:
            raise PlanError(f"model {model.name} is not a Claude model")
        self.model = model
        self.assume_image_size = assume_image_size
        self.base_dir = base_dir
        self.fingerprints = fingerprints
        self._len = length_function(model.encoding)
        a = model.approximation
        self.ratios = (a.low, a.ratio, a.high)
        self.correction = correction  # calibration: billed / estimated seen for this family (low, central, high)
        self.structure = model.structure

    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        expect(body, dict, "params")
        result = RequestCount(0, None, approximate=True, basis="approximation")
        s = self.structure
        acc = _Sum(s["per_request"])
        fitted = self.model.constructs or {}
        tools = body.get("tools")
        if tools is not None:
            expect(tools, list, "params.tools")
            if tools:
                choice = body.get("tool_choice") or {"type": "auto"}
                kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
                prompts = self.model.tool_prompt or {}
                acc.fixed += prompts.get(kind, prompts.get("auto", 0))
                acc.fit(fitted, "tools", 1)
                acc.fit(fitted, "per_tool", len(tools))
                if kind in ("any", "tool"):
                    acc.fit(fitted, "forced", 1)
                for j, tool in enumerate(tools):
                    expect(tool, dict, f"params.tools[{j}]")
                    acc.text += self._tool(tool)
                    acc.mark_if_cached(tool)
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
            acc.fit(fitted, "thinking", 1)
        schema = _output_schema(body)
        if schema is not None:  # structured output: a fixed prompt and the schema
            acc.fit(fitted, "format", 1)
            acc.text += self._len(json.dumps(schema, ensure_ascii=False, separators=(",", ":")))
        system = body.get("system")
        if system is not None:
            acc.fixed += s["system"]
            if isinstance(system, str):
                acc.text += self._len(system)
            else:
                expect(system, list, "params.system")
                for j, block in enumerate(system):
                    self._block(block, f"params.system[{j}]", acc, result)
        for j, message in enumerate(nonempty_list(body, "messages", "params")):
            at = f"params.messages[{j}]"
            expect(message, dict, at)
            role = message.get("role")
            if role not in ("user", "assistant", "system"):  # the API takes a system turn among the messages
                raise PlanError(f"{at}.role must be user, assistant or system, not {json.dumps(role)[:30]}")
            acc.fixed += s["per_message"]
            content = message.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            else:
                expect(content, list, f"{at}.content")
                for k, block in enumerate(content):
                    self._block(block, f"{at}.content[{k}]", acc, result)
        bound = body.get("max_tokens")
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or not 0 <= bound <= MAX_BOUND):
            raise PlanError(f"params.max_tokens must be a non-negative whole number, not {json.dumps(bound)[:40]}")
        result.max_output_tokens = bound  # thinking's budget_tokens is part of max_tokens: the bound stays
        low, central, high = acc.band(self.ratios)
        low, high = max(0, low - math.ceil(acc.slack)), high + math.ceil(acc.slack)
        if self.correction is not None:  # a corrected centre, and the band narrowed to what was seen (never wider)
            c_low, c_mid, c_high = self.correction
            corrected = round(central * c_mid)
            low, high = max(low, math.floor(central * c_low)), min(high, math.ceil(central * c_high))
            central = min(max(corrected, low), high)
            note(result, f"{self.model.name} counts corrected by calibration (x{c_mid})")
        result.input_tokens, result.low, result.high = central, low, high
        top = body.get("cache_control")  # automatic caching: the breakpoint is the end of the prompt
        if isinstance(top, dict):
            acc.marked, acc.marked_ttl = _Sum(acc.fixed, acc.text, _three(acc.media)), top.get("ttl")
        if acc.marked is not None:
            prefix = min(acc.marked.band(self.ratios)[1], central)
            if prefix >= (self.model.min_cacheable or 1024):  # a shorter prefix is billed as plain input
                result.prefix_tokens = prefix
                result.cache_ttl = "1h" if acc.marked_ttl == "1h" else "5m"
                result.cache_key = _prefix_key(self.model.name, body)
        if self.fingerprints or result.prefix_tokens >= 1024:
            result.fingerprint = fingerprint(self.model.name, endpoint, _fingerprint_view(body))
        return result

    def _tool(self, tool: dict) -> int:
        """A tool definition: its name, description and compact input schema (a server tool: its compact JSON)."""
        if "input_schema" in tool:
            parts = [str(tool.get("name", "")), str(tool.get("description") or ""),
                     json.dumps(tool["input_schema"], ensure_ascii=False, separators=(",", ":"))]
            return sum(self._len(p) for p in parts if p)
        return self._len(json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, ensure_ascii=False,
                                    separators=(",", ":")))

    def _block(self, block: Any, at: str, acc: _Sum, result: RequestCount) -> None:
        expect(block, dict, at)
        kind = block.get("type")
        acc.fixed += self.structure["per_block"]
        if kind == "text":
            acc.text += self._len(expect(block.get("text"), str, f"{at}.text"))
        elif kind == "image":
            acc.add_media(self._image(block, at, result))
        elif kind == "document":
            acc.add_media(self._document(block, at, result, acc))
        elif kind == "tool_use":
            acc.text += self._len(str(block.get("name", ""))) + self._len(json.dumps(block.get("input", {}),
                                                                                     ensure_ascii=False))
            acc.fit(self.model.constructs or {}, "tool_use", 1)
        elif kind == "tool_result":
            acc.fit(self.model.constructs or {}, "tool_result", 1)
            content = block.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            elif isinstance(content, list):
                for k, inner in enumerate(content):
                    self._block(inner, f"{at}.content[{k}]", acc, result)
            elif content is not None:
                raise PlanError(f"{at}.content must be a string or a list of blocks, not {json_type(content)}")
        elif kind in ("thinking", "redacted_thinking"):
            pass  # thinking of earlier assistant turns is stripped before counting (Anthropic's docs)
        elif isinstance(kind, str):
            acc.text += self._len(json.dumps({k: v for k, v in block.items() if k != "cache_control"},
                                             ensure_ascii=False))
            note(result, f"{kind} blocks are counted as their JSON text")
        else:
            raise PlanError(f"{at}.type is missing" if kind is None else f"{at}.type must be a string")
        acc.mark_if_cached(block)

    def _image(self, block: dict, at: str, result: RequestCount) -> tuple[int, int, int]:
        source = expect(block.get("source"), dict, f"{at}.source")
        size = None
        if source.get("type") == "base64":
            data = source.get("data")
            expect(data, str, f"{at}.source.data")
            head = data[:87_384]  # 64 KiB of image: enough for any header (a multiple of 4 characters)
            try:
                size = image_size(base64.b64decode(head + "=" * (-len(head) % 4)))
            except (ValueError, TypeError):
                size = None
            if size is None:
                raise PlanError(f"{at}.source.data is not a PNG, JPEG, GIF or WebP image")
        elif source.get("type") == "url":
            expect(source.get("url"), str, f"{at}.source.url")
            if self.assume_image_size:
                size = self.assume_image_size
                note(result, "remote images assumed to be {}x{} px".format(*size))
        elif source.get("type") == "file":
            expect(source.get("file_id"), str, f"{at}.source.file_id")
        else:
            raise PlanError(f"{at}.source.type must be base64, url or file, not {json.dumps(source.get('type'))[:30]}")
        if size is None:
            note(result, "images not readable offline are counted as up to the largest image "
                          f"({MAX_IMAGE_TOKENS:,} tokens; use --image-size WxH or --online)")
            return 0, MAX_IMAGE_TOKENS, MAX_IMAGE_TOKENS
        tokens = claude_image_tokens(*size)
        return math.floor(tokens * 0.9), tokens, math.ceil(tokens * 1.1) + 5

    def _document(self, block: dict, at: str, result: RequestCount, acc: _Sum) -> tuple[int, int, int]:
        source = expect(block.get("source"), dict, f"{at}.source")
        kind = source.get("type")
        if kind == "text":
            acc.text += self._len(expect(source.get("data"), str, f"{at}.source.data"))
            return 0, 0, 0
        if kind == "content":
            content = source.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            return 0, 0, 0
        pages = None
        if kind == "base64":
            data = expect(source.get("data"), str, f"{at}.source.data")
            try:
                raw = base64.b64decode(data, validate=False)
            except (ValueError, TypeError):
                raise PlanError(f"{at}.source.data is not base64") from None
            pages = pdf_pages(raw) or 1
        note(result, "PDF pages are counted at 1,500 to 4,500 tokens each (text and page image)"
              + ("" if pages else f"; a PDF not readable offline (a URL or a file id) is counted as 1 to "
                                  f"{MAX_PDF_PAGES} pages, the API's maximum (use --online)"))
        if pages is None:  # unknown pages: one page's low and centre, and the most a request may hold as the high
            window = self.model.context_window or 200_000
            return PDF_PAGE_TOKENS[0], PDF_PAGE_TOKENS[1], min(MAX_PDF_PAGES * PDF_PAGE_TOKENS[2], window)
        return _three([pages * t for t in PDF_PAGE_TOKENS])


def _output_schema(body: dict) -> Any:
    """The JSON schema of a structured-output request (``output_format`` or ``output_config.format``), or None."""
    fmt = body.get("output_format")
    config = body.get("output_config")
    if fmt is None and isinstance(config, dict):
        fmt = config.get("format")
    if isinstance(fmt, dict):
        schema = fmt.get("schema")
        return schema if schema is not None else None
    return None


def _three(figures: list[int]) -> tuple[int, int, int]:
    """A (low, central, high) triple from a list of three."""
    low, central, high = figures
    return low, central, high


class _Sum:
    """One request's tokens as they are met: proxy-encoding text (scaled by the ratios), structure and prompts
    (the same in every figure), and media (images, documents: their own low, central, high); ``marked`` is the
    sum as it stood at the last cache_control breakpoint (the cacheable prefix)."""

    __slots__ = ("text", "fixed", "media", "marked", "marked_ttl", "slack")

    def __init__(self, fixed: int = 0, text: int = 0, media: tuple[int, int, int] = (0, 0, 0)):
        self.text, self.fixed, self.media = text, fixed, list(media)
        self.marked: _Sum | None = None
        self.marked_ttl: str | None = None
        self.slack = 0.0  # the band's widening from fitted constructs

    def fit(self, fitted: dict, construct: str, times: int) -> None:
        """A construct's fitted tokens (models.yaml ``claude_constructs``), and its share of the band."""
        if construct in fitted and times:
            self.fixed += round(fitted[construct] * times)
            self.slack += fitted.get("slack", 0) * times

    def add_media(self, tokens: tuple[int, int, int]) -> None:
        self.media = [m + t for m, t in zip(self.media, tokens)]

    def mark_if_cached(self, block: dict) -> None:
        mark = block.get("cache_control")
        if mark is not None:
            self.marked = _Sum(self.fixed, self.text, _three(self.media))
            self.marked_ttl = mark.get("ttl") if isinstance(mark, dict) else None

    def band(self, ratios: tuple[Decimal, Decimal, Decimal]) -> tuple[int, int, int]:
        low, central, high = ratios
        return (self.fixed + self.media[0] + math.floor(self.text * low),
                self.fixed + self.media[1] + round(self.text * central),
                self.fixed + self.media[2] + math.ceil(self.text * high))


def claude_image_tokens(width: int, height: int) -> int:
    """Anthropic's rule: tokens = width * height / 750, after scaling to at most 1,568 px on the long edge and about
    1.15 megapixels (https://platform.claude.com/docs/en/build-with-claude/vision#evaluate-image-size)."""
    scale = min(1.0, MAX_LONG_EDGE / max(width, height), math.sqrt(1_150_000 / (width * height)))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    return min(MAX_IMAGE_TOKENS, math.ceil(w * h / 750))


def _prefix_key(model: str, params: dict) -> str:
    """The content up to the last cache_control breakpoint (tools, then system, then messages: the order the
    cache reads the prompt), hashed: requests with the same key share one cache entry. No text is kept."""
    items: list = [("settings", {k: params.get(k) for k in ("tool_choice", "thinking")})]
    last = None
    for tool in params.get("tools") or []:
        items.append(("tool", tool))
        if isinstance(tool, dict) and tool.get("cache_control") is not None:
            last = len(items)
    system = params.get("system")
    for block in [system] if isinstance(system, str) else (system or []):
        items.append(("system", block))
        if isinstance(block, dict) and block.get("cache_control") is not None:
            last = len(items)
    for message in params.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        items.append(("role", message.get("role") if isinstance(message, dict) else None))
        for block in [content] if isinstance(content, str) else (content or []):
            items.append(("block", block))
            if isinstance(block, dict) and block.get("cache_control") is not None:
                last = len(items)
    if isinstance(params.get("cache_control"), dict):
        last = len(items)
    text = json.dumps([model, items[:last]], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _fingerprint_view(params: dict) -> dict:
    """What requests from one template share, in the shape the fingerprint reads (system first)."""
    system = params.get("system")
    view: dict[str, Any] = {"messages": [{"role": "system", "content": system}] if system is not None else []}
    if "tools" in params:
        view["tools"] = params["tools"]
    settings = {k: params[k] for k in ("tool_choice", "thinking") if k in params}
    if settings:
        view["text"] = settings  # one of the keys the fingerprint reads; both settings kept
    return view


