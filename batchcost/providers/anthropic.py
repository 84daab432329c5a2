"""Anthropic Message Batches: plan lines ``{"custom_id", "params"}``, approximate offline counts with a stated band,
results ``{"custom_id", "result": {"type", "message" | "error"}}``, and the client (the only importer of ``anthropic``).

Counting. There is no official offline tokenizer for Claude 3 and later, so a count is an approximation: the text
is measured with the model's proxy encoding (cl100k_base) and scaled by the family's ratios (models.yaml
``approximations``) to a central figure and a band; structure tokens (per request, message, block, system), the
documented tool-use system prompt (by ``tool_choice``), and images by Anthropic's documented rule are added. Thinking
blocks of earlier assistant turns are not counted (Anthropic strips them). ``--online`` asks the free
``messages.count_tokens`` endpoint instead, exactly.
"""
from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from batchcost.errors import PlanError
from batchcost.estimator.counting import (RequestCount, _expect, _json_type, _length_function, _note, fingerprint,
                                          nonempty_list)
from batchcost.estimator.images import image_size
from batchcost.estimator.models import ModelInfo
from batchcost.providers import Limits, count_field, usage_record

NAME = "anthropic"
TITLE = "an Anthropic Message Batches line"
LINE = '{"custom_id", "params": {"model", "max_tokens", "messages", ...}}'
ENDPOINT = "/v1/messages"  # the neutral request kind of every Message Batches line
ENDPOINTS = (ENDPOINT,)
ENV_KEY = "ANTHROPIC_API_KEY"

# https://platform.claude.com/docs/en/build-with-claude/batch-processing: "up to 100,000 Message requests or 256 MB
# in size, whichever is reached first"; custom_id "must match ^[a-zA-Z0-9_-]{1,64}$" and be unique in the batch.
LIMITS = Limits(max_requests=100_000, max_bytes=256 * 1024 * 1024, id_pattern=re.compile(r"[a-zA-Z0-9_-]{1,64}"),
                id_rule="1 to 64 letters, digits, _ or -")


def line(custom_id: str, endpoint: str, body: dict) -> dict:
    """A Message Batches plan line (what ``plan`` writes): the request body is its ``params``."""
    return {"custom_id": custom_id, "params": body}


def limits() -> Limits:
    return LIMITS


def owns_batch(batch_id: str) -> bool:
    return batch_id.startswith("msgbatch_")  # the Message Batches API's ids

# processing_status: in_progress | canceling | ended (request_counts say how each request ended)
STATUSES = {"in_progress": "in_progress", "canceling": "cancelling", "ended": "completed"}


def matches(obj: dict) -> bool:
    return "params" in obj and "body" not in obj and "url" not in obj


def parse(obj: dict, path: Path, line: int, nbytes: int, text: bytes):
    from batchcost.plans.reader import PlanLine

    custom_id, params = obj.get("custom_id"), obj.get("params")
    if not isinstance(custom_id, str):
        raise PlanError("custom_id is missing" if custom_id is None else "custom_id must be a string",
                        path=path, line=line)
    if not custom_id:
        raise PlanError("custom_id is empty", path=path, line=line)
    if not isinstance(params, dict):
        raise PlanError(f"params must be an object (a Messages API request), not {_json_type(params)}",
                        path=path, line=line)
    if not isinstance(params.get("model"), str):
        raise PlanError("params.model is missing" if "model" not in params else "params.model must be a string",
                        path=path, line=line)
    extra = sorted(set(obj) - {"custom_id", "params"})
    if extra:
        raise PlanError(f"unexpected field {extra[0]!r} beside custom_id and params", path=path, line=line)
    return PlanLine(line, custom_id, "POST", ENDPOINT, params, nbytes, text, provider=NAME)


def check_request(item, warnings: bool = True) -> Iterator[tuple]:
    """What the Message Batches API would reject in one request, beyond counting: id shape, max_tokens, and the
    per-request rules of ``anthropic_rules`` (the SDK's parameter names and roles, stream, tools, images)."""
    if not LIMITS.id_pattern.fullmatch(item.custom_id):
        yield "custom-id", f"custom_id {item.custom_id[:80]!r} must be {LIMITS.id_rule}"
    bound = item.body.get("max_tokens")
    if bound is None:
        yield "max-tokens", "params.max_tokens is required on every Messages request"
    elif not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
        yield "max-tokens", f"params.max_tokens must be a whole number of at least 1, not {json.dumps(bound)[:40]}"
    if isinstance(item.body, dict):
        from batchcost.providers.anthropic_rules import request_findings

        yield from request_findings(item.body, warnings=warnings)


def request_fails(item, family: str = "", tools_key: bytes = b"") -> bool:
    """Whether ``check`` expects the API to refuse this request (for the estimate's count of failures)."""
    from batchcost.providers import refused

    return refused(check_request(item, warnings=False))


# -- counting -------------------------------------------------------------------------------------------------
MAX_IMAGE_TOKENS = 1600  # Anthropic: images are scaled to at most ~1.15 megapixels (about 1,600 tokens)
MAX_LONG_EDGE = 1568
PDF_PAGE_TOKENS = (1500, 2250, 4500)  # low, central, high per page: "1,500 to 3,000 tokens per page" + its image
MAX_BOUND = 2**53
MAX_PDF_PAGES = 100  # platform.claude.com/docs/en/build-with-claude/pdf-support: "Maximum pages per request: 100"


class ClaudeCounter:
    """Counts Messages requests for one Claude model; reuse one per model (text lengths are memoised)."""

    def __init__(self, model: ModelInfo, *, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False, correction: Decimal | None = None):
        if model.approximation is None or model.structure is None:
            raise PlanError(f"model {model.name} is not a Claude model")
        self.model = model
        self.assume_image_size = assume_image_size
        self.base_dir = base_dir
        self.fingerprints = fingerprints
        self._len = _length_function(model.encoding)
        a = model.approximation
        self.ratios = (a.low, a.ratio, a.high)
        self.correction = correction  # calibration: billed / estimated seen for this family (low, central, high)
        self.structure = model.structure

    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        _expect(body, dict, "params")
        result = RequestCount(0, None, approximate=True, basis="approximation")
        s = self.structure
        acc = _Sum(s["per_request"])
        tools = body.get("tools")
        if tools is not None:
            _expect(tools, list, "params.tools")
            if tools:
                choice = body.get("tool_choice") or {"type": "auto"}
                kind = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
                prompts = self.model.tool_prompt or {}
                acc.fixed += prompts.get(kind, prompts.get("auto", 0))
                for j, tool in enumerate(tools):
                    _expect(tool, dict, f"params.tools[{j}]")
                    acc.text += self._tool(tool)
                    acc.mark_if_cached(tool)
        system = body.get("system")
        if system is not None:
            acc.fixed += s["system"]
            if isinstance(system, str):
                acc.text += self._len(system)
            else:
                _expect(system, list, "params.system")
                for j, block in enumerate(system):
                    self._block(block, f"params.system[{j}]", acc, result)
        for j, message in enumerate(nonempty_list(body, "messages", "params")):
            at = f"params.messages[{j}]"
            _expect(message, dict, at)
            role = message.get("role")
            if role not in ("user", "assistant"):
                raise PlanError(f"{at}.role must be user or assistant, not {json.dumps(role)[:30]}")
            acc.fixed += s["per_message"]
            content = message.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            else:
                _expect(content, list, f"{at}.content")
                for k, block in enumerate(content):
                    self._block(block, f"{at}.content[{k}]", acc, result)
        bound = body.get("max_tokens")
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or not 0 <= bound <= MAX_BOUND):
            raise PlanError(f"params.max_tokens must be a non-negative whole number, not {json.dumps(bound)[:40]}")
        result.max_output_tokens = bound  # thinking's budget_tokens is part of max_tokens: the bound stays
        low, central, high = acc.band(self.ratios)
        if self.correction is not None:  # a corrected centre, and the band narrowed to what was seen (never wider)
            c_low, c_mid, c_high = self.correction
            corrected = round(central * c_mid)
            low, high = max(low, math.floor(central * c_low)), min(high, math.ceil(central * c_high))
            central = min(max(corrected, low), high)
            _note(result, f"{self.model.name} counts corrected by calibration (x{c_mid})")
        result.input_tokens, result.low, result.high = central, low, high
        top = body.get("cache_control")  # automatic caching: the breakpoint is the end of the prompt
        if isinstance(top, dict):
            acc.marked, acc.marked_ttl = _Sum(acc.fixed, acc.text, tuple(acc.media)), top.get("ttl")
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

    def _block(self, block: Any, at: str, acc: "_Sum", result: RequestCount) -> None:
        _expect(block, dict, at)
        kind = block.get("type")
        acc.fixed += self.structure["per_block"]
        if kind == "text":
            acc.text += self._len(_expect(block.get("text"), str, f"{at}.text"))
        elif kind == "image":
            acc.add_media(self._image(block, at, result))
        elif kind == "document":
            acc.add_media(self._document(block, at, result, acc))
        elif kind == "tool_use":
            acc.text += self._len(str(block.get("name", ""))) + self._len(json.dumps(block.get("input", {}),
                                                                                     ensure_ascii=False))
        elif kind == "tool_result":
            content = block.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            elif isinstance(content, list):
                for k, inner in enumerate(content):
                    self._block(inner, f"{at}.content[{k}]", acc, result)
            elif content is not None:
                raise PlanError(f"{at}.content must be a string or a list of blocks, not {_json_type(content)}")
        elif kind in ("thinking", "redacted_thinking"):
            pass  # thinking of earlier assistant turns is stripped before counting (Anthropic's docs)
        elif isinstance(kind, str):
            acc.text += self._len(json.dumps({k: v for k, v in block.items() if k != "cache_control"},
                                             ensure_ascii=False))
            _note(result, f"{kind} blocks are counted as their JSON text")
        else:
            raise PlanError(f"{at}.type is missing" if kind is None else f"{at}.type must be a string")
        acc.mark_if_cached(block)

    def _image(self, block: dict, at: str, result: RequestCount) -> tuple[int, int, int]:
        source = block.get("source")
        _expect(source, dict, f"{at}.source")
        size = None
        if source.get("type") == "base64":
            data = source.get("data")
            _expect(data, str, f"{at}.source.data")
            head = data[:87_384]  # 64 KiB of image: enough for any header (a multiple of 4 characters)
            try:
                size = image_size(base64.b64decode(head + "=" * (-len(head) % 4)))
            except (ValueError, TypeError):
                size = None
            if size is None:
                raise PlanError(f"{at}.source.data is not a PNG, JPEG, GIF or WebP image")
        elif source.get("type") == "url":
            _expect(source.get("url"), str, f"{at}.source.url")
            if self.assume_image_size:
                size = self.assume_image_size
                _note(result, "remote images assumed to be {}x{} px".format(*size))
        elif source.get("type") == "file":
            _expect(source.get("file_id"), str, f"{at}.source.file_id")
        else:
            raise PlanError(f"{at}.source.type must be base64, url or file, not {json.dumps(source.get('type'))[:30]}")
        if size is None:
            _note(result, "images not readable offline are counted as up to the largest image "
                          f"({MAX_IMAGE_TOKENS:,} tokens; use --image-size WxH or --online)")
            return 0, MAX_IMAGE_TOKENS, MAX_IMAGE_TOKENS
        tokens = claude_image_tokens(*size)
        return math.floor(tokens * 0.9), tokens, math.ceil(tokens * 1.1) + 5

    def _document(self, block: dict, at: str, result: RequestCount, acc: "_Sum") -> tuple[int, int, int]:
        source = block.get("source")
        _expect(source, dict, f"{at}.source")
        kind = source.get("type")
        if kind == "text":
            acc.text += self._len(_expect(source.get("data"), str, f"{at}.source.data"))
            return 0, 0, 0
        if kind == "content":
            content = source.get("content")
            if isinstance(content, str):
                acc.text += self._len(content)
            return 0, 0, 0
        pages = None
        if kind == "base64":
            data = _expect(source.get("data"), str, f"{at}.source.data")
            try:
                raw = base64.b64decode(data, validate=False)
            except (ValueError, TypeError):
                raise PlanError(f"{at}.source.data is not base64") from None
            pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", raw)) or 1
        _note(result, "PDF pages are counted at 1,500 to 4,500 tokens each (text and page image)"
              + ("" if pages else f"; a PDF not readable offline (a URL or a file id) is counted as 1 to "
                                  f"{MAX_PDF_PAGES} pages, the API's maximum (use --online)"))
        if pages is None:  # unknown pages: one page's low and centre, and the most a request may hold as the high
            window = self.model.context_window or 200_000
            return PDF_PAGE_TOKENS[0], PDF_PAGE_TOKENS[1], min(MAX_PDF_PAGES * PDF_PAGE_TOKENS[2], window)
        return tuple(pages * t for t in PDF_PAGE_TOKENS)


class _Sum:
    """One request's tokens as they are met: proxy-encoding text (scaled by the ratios), structure and prompts
    (the same in every figure), and media (images, documents: their own low, central, high); ``marked`` is the
    sum as it stood at the last cache_control breakpoint (the cacheable prefix)."""

    __slots__ = ("text", "fixed", "media", "marked", "marked_ttl")

    def __init__(self, fixed: int = 0, text: int = 0, media: tuple[int, int, int] = (0, 0, 0)):
        self.text, self.fixed, self.media = text, fixed, list(media)
        self.marked: _Sum | None = None
        self.marked_ttl: str | None = None

    def add_media(self, tokens: tuple[int, int, int]) -> None:
        self.media = [m + t for m, t in zip(self.media, tokens)]

    def mark_if_cached(self, block: dict) -> None:
        mark = block.get("cache_control")
        if mark is not None:
            self.marked = _Sum(self.fixed, self.text, tuple(self.media))
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
    view = {"messages": [{"role": "system", "content": system}] if system is not None else []}
    if "tools" in params:
        view["tools"] = params["tools"]
    settings = {k: params[k] for k in ("tool_choice", "thinking") if k in params}
    if settings:
        view["text"] = settings  # one of the keys the fingerprint reads; both settings kept
    return view


def counter(info: ModelInfo, **options) -> ClaudeCounter:
    return ClaudeCounter(info, **options)


# -- results --------------------------------------------------------------------------------------------------
def classify(obj: dict, endpoint: str) -> tuple[str, dict | None, str | None]:
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
        return "succeeded", _usage(message.get("usage")), None
    if kind == "errored":
        error = result.get("error")
        inner = error.get("error") if isinstance(error, dict) and isinstance(error.get("error"), dict) else error
        code = inner.get("type") if isinstance(inner, dict) else None
        return "failed", None, str(code or "errored")
    if kind == "canceled":
        return "cancelled", None, "canceled"
    if kind == "expired":
        return "expired", None, "expired"
    raise ValueError(f"result.type {json.dumps(kind)[:30]} is not succeeded, errored, canceled or expired")


def response_usage(endpoint: str, response: dict) -> dict | None:
    """Neutral usage of a real-time answer (a Message), for the pilot."""
    try:
        return _usage(response.get("usage"))
    except ValueError:
        return None


def _usage(usage: Any) -> dict:
    if not isinstance(usage, dict):
        raise ValueError("a succeeded result without a usage block")
    fresh = count_field(usage, "input_tokens", "usage.", default=None)
    output = count_field(usage, "output_tokens", "usage.")
    read = count_field(usage, "cache_read_input_tokens", "usage.")
    written = count_field(usage, "cache_creation_input_tokens", "usage.")
    split = usage.get("cache_creation")
    five = one_hour = 0
    if isinstance(split, dict):
        five = count_field(split, "ephemeral_5m_input_tokens", "usage.cache_creation.")
        one_hour = count_field(split, "ephemeral_1h_input_tokens", "usage.cache_creation.")
        if five + one_hour != written:
            raise ValueError(f"usage.cache_creation splits {five + one_hour:,} tokens but "
                             f"cache_creation_input_tokens is {written:,}")
    else:
        five = written  # no split given: 5-minute writes, the default time to live
    # Anthropic's input_tokens excludes cache reads and writes; the neutral record counts every input token
    return usage_record(input_tokens=fresh + read + written, output_tokens=output, cached_tokens=read,
                        cache_write_tokens=five, cache_write_1h_tokens=one_hour)


def client(**options):
    from batchcost.providers.anthropic_client import AnthropicBatchClient

    return AnthropicBatchClient(**options)


# -- exact counts online --------------------------------------------------------------------------------------
# Messages parameters that shape the answer, not the prompt: they add no input token and count_tokens refuses them
NOT_COUNTED = frozenset({"max_tokens", "metadata", "service_tier", "stop_sequences", "stream", "temperature",
                         "top_k", "top_p", "container", "inference_geo"})


def counting_params(body: dict) -> dict:
    """What ``messages.count_tokens`` is sent for a request: everything that is part of the prompt."""
    return {k: v for k, v in body.items() if k not in NOT_COUNTED}


def online_counter(**options):
    """``--online``: a function from a request body to its exact input tokens, asked of the free counting endpoint
    (which bills nothing and creates nothing)."""
    options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
    remote = client(**options)
    return lambda body: remote.count_tokens(counting_params(body))
