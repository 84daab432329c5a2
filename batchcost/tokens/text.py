"""What every provider's counter shares: a request's count (``RequestCount``), memoised text lengths, the checks
that turn a malformed body into one clear ``PlanError``, notes that mark a count approximate, and the template
fingerprint calibration and caching are keyed by."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from batchcost.core.errors import PlanError
from batchcost.tokens.encodings import token_counter

MAX_BOUND = 2**53  # the largest integer every JSON reader keeps exactly; no model comes near it


@dataclass(slots=True)
class RequestCount:
    """Input tokens of one request and its own output bound (None when it sets none)."""

    input_tokens: int
    max_output_tokens: int | None
    approximate: bool = False
    notes: list[str] = field(default_factory=list)
    prefix_tokens: int = 0  # tokens of the shared prefix (tools, leading system/developer messages): cacheable
    fingerprint: str = ""  # the request's template: model + shared prefix + response format, hashed (no text kept)
    tools_key: bytes = b""  # digest of the tools block (reused by the fingerprint)
    low: int | None = None  # the stated band of an approximate count (None: the count is exact)
    high: int | None = None
    basis: str = "tokenizer"  # tokenizer (exact offline), approximation, or online (the provider counted it)
    cache_ttl: str | None = None  # an explicit cache breakpoint (Claude's cache_control): "5m" or "1h"
    cache_key: str = ""  # what the breakpoint's prefix holds, hashed: requests sharing it share one cache entry
    image_input_tokens: int = 0  # image models: the input tokens that are image tokens (an edit's input images)
    image_output: tuple | None = None  # image models: (low, expected, high) image tokens of the images made
    video: tuple | None = None  # video models: (size, seconds)
    inputs: tuple[int, ...] | None = None  # a request of several inputs (embeddings): each input's tokens
    slack: float = 0.0  # constructs counted by a fitted rendering: the band's half-width they add (set by a counter)
    slack_low: int = 0  # ... and what only the band's low side adds (media counted at their most)
    slack_high: int = 0  # ... and what only the band's high side adds (media of unknown size, earlier responses)


MEMO_ENTRIES = 8192
SHORT_TEXT = 128  # shorter strings are their own cache key; longer ones are keyed by a 128-bit digest


@lru_cache(maxsize=64)
def length_function(encoding: str) -> Callable[[str], int]:
    """len(encode_ordinary(text)), memoised: a shared system prompt or tools block is tokenized once per process.

    Long texts are keyed by their BLAKE2 digest, so the memo holds at most MEMO_ENTRIES small keys whatever the
    texts' size (memory stays flat on plans of unique long documents)."""
    count = token_counter(encoding)  # ordinary text: "<|endoftext|>" typed by a user is not special
    digest = hashlib.blake2b
    memo: dict = {}

    def length(text: str) -> int:
        key = text if len(text) <= SHORT_TEXT else digest(text.encode("utf-8", "surrogatepass"),
                                                           digest_size=16).digest()
        n = memo.get(key)
        if n is None:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()  # bounded: repeated texts come back at once, unique ones never pile up
            n = memo[key] = count(text)
        return n

    return length


def expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PlanError(f"{what} must be {_article(names)}, not {json_type(value)}")
    return value


def nonempty_list(body: dict, key: str, where: str) -> list:
    """``body[key]``, which must be a list with something in it (PlanError naming ``where.key`` otherwise)."""
    value = body.get(key)
    if value is None:
        raise PlanError(f"{where}.{key} is missing")
    expect(value, list, f"{where}.{key}")
    if not value:
        raise PlanError(f"{where}.{key} is empty")
    return value


def _article(name: str) -> str:
    plain = {"str": "a string", "list": "a list", "dict": "an object", "int": "an integer"}
    return " or ".join(plain.get(n, n) for n in name.split(" or "))


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _part_key(value: Any) -> bytes:
    if isinstance(value, str):
        return digest(value)
    return digest(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def fingerprint(family: str, endpoint: str, body: dict, tools_key: bytes = b"") -> str:
    """A short hash of what requests made from one template share: the model family, the leading system or
    developer messages, instructions, tools and response format. Calibration is keyed by it; no text is kept."""
    parts = [family.encode(), endpoint.encode(), tools_key]
    messages = body["messages"] if isinstance(body.get("messages"), list) else []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer"):
            break
        parts += [str(message.get("role")).encode(), _part_key(message.get("content")),
                  str(message.get("name", "")).encode()]
    for key in ("instructions", "response_format", "text"):
        if key in body:
            parts += [key.encode(), _part_key(body[key])]
    if not tools_key and ("tools" in body or "functions" in body):
        parts.append(_part_key([body.get("tools"), body.get("functions")]))
    return hashlib.blake2b(b"\x1f".join(parts), digest_size=8).hexdigest()


def note(result: RequestCount, note: str) -> None:
    result.approximate = True
    if note not in result.notes:
        result.notes.append(note)
