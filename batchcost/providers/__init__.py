"""One module per batch API, behind one small interface; everything else in batchcost is provider-neutral.

To add a provider, add ``batchcost/providers/<name>.py`` with these names and list it in ``NAMES``:

- ``NAME``, ``LINE`` (the plan line's shape, for messages) and ``ENDPOINT`` (the neutral request kind its lines get)
- ``matches(obj)``: is this decoded plan line in the provider's shape?
- ``parse(obj, path, line, nbytes, text) -> PlanLine``: the neutral request record (id, model, kind, body, line,
  bytes), or a ``PlanError`` naming the field
- ``counter(info, **options)``: an object with ``count(endpoint, body) -> RequestCount`` saying how exact it is
  (``basis``: tokenizer, approximation with ``low``/``high``, or online)
- ``LIMITS``: a ``Limits`` (requests and bytes per batch, the custom_id pattern) for ``check`` and ``split``;
  ``check_request(item)`` yields (code, message) for what the provider would reject in one request
- ``classify(obj, endpoint) -> (status, usage, error)``: one result line as neutral usage (``usage_record``)
- ``STATUSES``: the provider's batch statuses mapped to ours (validating … completed, failed, expired, cancelled)
- ``client(**options)``: the only place that imports the provider's SDK (loaded lazily)
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType

from batchcost.errors import UsageError

NAMES = ("openai", "anthropic")
PLANNED = {"gemini": "a Gemini API Batch Mode line ({\"key\", \"request\"})",
           "vertex": "a Vertex AI batch prediction line ({\"request\"})"}
OUR_STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")

_forced: str | None = None


@dataclass(frozen=True)
class Limits:
    max_requests: int
    max_bytes: int
    id_pattern: re.Pattern | None = None
    id_rule: str = ""


def get(name: str) -> ModuleType:
    if name not in NAMES:
        raise UsageError(f"unknown provider {name!r}; known: {', '.join(NAMES)}")
    return importlib.import_module(f"batchcost.providers.{name}")


def force(name: str | None) -> None:
    """``--provider NAME``: every plan this process reads must be in that provider's shape."""
    global _forced
    if name is not None:
        get(name)
    _forced = name


def forced() -> str | None:
    return _forced


def shape_of(obj: dict) -> str:
    """The provider whose line shape ``obj`` has (DESIGN.md: detected from the line itself)."""
    if "params" in obj and "body" not in obj and "url" not in obj:
        return "anthropic"
    if "request" in obj and "body" not in obj:
        return "gemini" if "key" in obj else "vertex"
    return "openai"


def usage_record(*, input_tokens: int, output_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0,
                 cache_write_tokens: int = 0, cache_write_1h_tokens: int = 0) -> dict:
    """Neutral usage of one succeeded request. ``input_tokens`` is every input token billed (cache reads and
    writes included); ``output_tokens`` includes reasoning/thinking."""
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": cached_tokens,
            "reasoning_tokens": reasoning_tokens, "cache_write_tokens": cache_write_tokens,
            "cache_write_1h_tokens": cache_write_1h_tokens}
