"""The neutral records every layer passes around: a plan line, a batch's limits, one request's usage and one result
line's outcome, a finding of a rule. A provider turns its own shapes into these; nothing above the providers reads a
provider's shape."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

MAX_TOKENS_PER_LINE = 2**53  # no request is billed anywhere near this; above it the line is wrong, not big


@dataclass(slots=True)
class PlanLine:
    """One request of a plan, in neutral terms: its id, its request kind (``method`` and ``url``), its body."""

    line: int  # 1-based line number in the file
    custom_id: str
    method: str
    url: str
    body: dict[str, Any]
    nbytes: int  # bytes of the line as written, newline included
    raw: bytes = b""  # the line's JSON text as written (no BOM, no line ending), for writing it out unchanged
    provider: str = ""  # whose line shape it has; method and url are the neutral request kind

    @property
    def model(self) -> str:
        return self.body["model"]


@dataclass(frozen=True)
class Limits:
    """What one batch may hold: requests, bytes, and the shape of an id."""

    max_requests: int
    max_bytes: int
    id_pattern: re.Pattern | None = None
    id_rule: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """What one succeeded request was billed, in neutral terms. ``input_tokens`` is every input token billed (cache
    reads and writes included); ``output_tokens`` includes reasoning and thinking. An image request's image tokens
    are parts of the two; a video is billed by its seconds of a size."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0  # 5-minute cache writes
    cache_write_1h_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    video_seconds: int = 0
    video_size: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Usage:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def __add__(self, other: Usage) -> Usage:
        """Two usages together (a job's waves): every count summed."""
        return Usage(input_tokens=self.input_tokens + other.input_tokens,
                     output_tokens=self.output_tokens + other.output_tokens,
                     cached_tokens=self.cached_tokens + other.cached_tokens,
                     reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
                     cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
                     cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
                     image_input_tokens=self.image_input_tokens + other.image_input_tokens,
                     image_output_tokens=self.image_output_tokens + other.image_output_tokens,
                     video_seconds=self.video_seconds + other.video_seconds,
                     video_size=self.video_size or other.video_size)


@dataclass(frozen=True, slots=True)
class ResultLine:
    """One result line of a batch: ``status`` succeeded, failed, expired or cancelled; its usage when it
    succeeded; the provider's error code otherwise."""

    status: str
    usage: Usage | None = None
    error: str | None = None


class RequestFinding(NamedTuple):
    """What a provider's rules find: the rule's id, a sentence, whether the API surely refuses it (``error``) or
    may (``warning``), and whether it refuses the whole file (``file``, at validation) or this request only."""

    code: str
    message: str
    severity: str = "error"
    scope: str = "request"


def refused(findings) -> bool:
    """Whether any finding is an error."""
    return any(f.severity == "error" if isinstance(f, RequestFinding) else
               (f[2] if len(f) > 2 else "error") == "error" for f in findings)


def token_count(obj: dict, key: str, where: str, default: int | None = 0) -> int:
    """A token count in a provider's usage block: a non-negative integer of real size; ``ValueError`` says why not."""
    value = obj.get(key)
    if value is None:
        if default is None:
            raise ValueError(f"{where}{key} is missing")
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}{key} must be a non-negative integer, not {json.dumps(value)[:40]}")
    if value > MAX_TOKENS_PER_LINE:
        raise ValueError(f"{where}{key} is {value:,}, out of any real range")
    return value


@dataclass(slots=True)
class Part:
    """One piece of a turn, in neutral terms: ``kind`` text, image, document, audio, tool_call or tool_result;
    media as base64 ``data`` with its ``media_type`` or by ``url``; a tool call's ``name``, ``arguments`` (an object)
    and ``call_id``; a tool result's ``call_id`` and ``text``."""

    kind: str
    text: str = ""
    media_type: str = ""
    data: str | None = None
    url: str | None = None
    name: str = ""
    arguments: Any = None
    call_id: str = ""

    def b64(self) -> str:
        """The media's base64 in the standard alphabet, padded (URL-safe input is taken too)."""
        data = (self.data or "").replace("-", "+").replace("_", "/")
        return data + "=" * (-len(data) % 4)


@dataclass(slots=True)
class Turn:
    role: str  # user or assistant
    parts: list[Part]


@dataclass(slots=True)
class Work:
    """What one request asks of a model, whichever API carries it: the system text, the turns, the tools (name,
    description, JSON-schema parameters), the tool choice (auto, none, required or a tool's name), a JSON schema the
    answer must follow, the output bound and sampling; ``lost`` says what of the source had no place here."""

    system: list[str]
    turns: list[Turn]
    tools: list[dict]
    tool_choice: str | None = None
    schema: dict | None = None
    schema_name: str = "answer"
    json_mode: bool = False  # the answer must be JSON, no schema given
    max_output: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    lost: list[str] | None = None

    def lose(self, what: str) -> None:
        if self.lost is None:
            self.lost = []
        if what not in self.lost:
            self.lost.append(what)
