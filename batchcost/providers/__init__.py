"""One module per batch API, behind one small interface; everything else in batchcost is provider-neutral.

To add a provider, add ``batchcost/providers/<name>.py`` with these names and list it in ``NAMES``:

- ``NAME``, ``TITLE`` (what one of its plan lines is called, for messages), ``LINE`` (the line's shape) and
  ``ENDPOINT`` (the neutral request kind its lines get); ``owns_batch(batch_id)`` (an id only it gives out)
- ``matches(obj)``: is this decoded plan line in the provider's shape? ``line(custom_id, endpoint, body)``: the
  line ``plan`` writes for a rendered request (``ENDPOINTS``, when set, are the request kinds a template may name)
- ``kind_of(body)`` (optional): the request kind a body is, for templates that name no endpoint (Gemini:
  ``generateContent`` or ``embedContent``)
- ``parse(obj, path, line, nbytes, text) -> PlanLine``: the neutral request record (id, model, kind, body, line,
  bytes), or a ``PlanError`` naming the field
- ``counter(info, **options)``: an object with ``count(endpoint, body) -> RequestCount`` saying how exact it is
  (``basis``: tokenizer, approximation with ``low``/``high``, or online)
- ``limits()``: a ``Limits`` (requests and bytes per batch, the custom_id pattern) for ``check`` and ``split``;
  ``check_request(item)`` yields (code, message) for what the provider would reject in one request;
  ``output_bound(body)``, where the output bound is not a top-level ``max_tokens``-like field, gives (name, value)
- ``classify(obj, endpoint) -> (status, usage, error)``: one result line as neutral usage (``usage_record``);
  ``response_usage(endpoint, response)``: the same for a real-time answer (the pilot)
- ``queue_refused(batch)`` (optional): the batch was refused for the enqueued-token limit (OpenAI's
  ``token_limit_exceeded``): it is held and made again when the queue drains
- ``request_fails(item, family, tools_key)`` (optional): whether ``check_request`` would find an error (the
  estimate says how many requests check expects to fail)
- ``batch_usage(batch)`` (optional): the tokens a batch object reports it has used so far, as neutral usage
- ``STATUSES``: the provider's batch statuses mapped to ours (validating … completed, failed, expired, cancelled)
- ``client(**options)``: the only place that imports the provider's SDK (loaded lazily)
- ``online_counter(**options)``: for ``--online``, a function from a request body to the exact input tokens the
  provider's free counting endpoint reports (or a ``UsageError`` saying why there is none)
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import re
from dataclasses import dataclass
from types import ModuleType

from batchcost.errors import UsageError

NAMES = ("openai", "anthropic", "gemini", "vertex")
OUR_STATUSES = ("validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")

_forced: str | None = None
_default_model: str | None = None  # --model: the batch's model, for line shapes that carry none (Gemini)


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


def set_default_model(name: str | None) -> None:
    global _default_model
    _default_model = name


def default_model() -> str | None:
    return _default_model


@contextlib.contextmanager
def reading_model(name: str | None):
    """Read plans with ``name`` as the batch's model, unless ``--model`` already says one (a template's model, for
    the lines it wrote)."""
    global _default_model
    saved = _default_model
    _default_model = saved or name
    try:
        yield
    finally:
        _default_model = saved


def shape_of(obj: dict) -> str:
    """The provider whose line shape ``obj`` has (DESIGN.md: detected from the line itself): the first module whose
    ``matches`` takes it; OpenAI's shape is the default."""
    for name in NAMES[1:]:
        if get(name).matches(obj):
            return name
    return "openai"


def describe(name: str) -> str:
    """What a plan line of provider ``name`` is called, for messages."""
    return get(name).TITLE if name in NAMES else name


def shapes() -> str:
    """Every provider's line shape, for a message about a line that has none of them."""
    return "; ".join(f"{get(name).LINE} ({name})" for name in NAMES)


@functools.cache
def names_requests(name: str) -> bool:
    """Whether the provider's lines carry an id of their own (Vertex lines do not: results echo the request)."""
    return getattr(get(name), "ID_FIELD", "custom_id") is not None


def mixed(provider: str, plan_provider: str, first_line: int, path: str | None = None) -> str:
    """The one message for a line of another provider than the plan's."""
    from batchcost.errors import line_of_plan

    return (f"this is {describe(provider)} in a plan of {describe(plan_provider)}s (from "
            f"{line_of_plan(path, first_line)}); a plan "
            "holds one provider's requests")


def for_batch(batch_id: str, endpoint: str | None = None) -> str:
    """The provider of a batch: the one whose request kind the ledger recorded for it, else the one whose ids look
    like it, else openai."""
    for name in NAMES:
        module = get(name)
        kinds = getattr(module, "ENDPOINTS", None) or (module.ENDPOINT,)
        if (endpoint is not None and endpoint in kinds and name != "openai") or module.owns_batch(batch_id):
            return name
    return "openai"


def queue_refused(batch: dict, endpoint: str | None = None) -> bool:
    """Whether the provider refused this batch for the enqueued-token limit (held and made again, not failed):
    the provider module's ``queue_refused(batch)``, where it has one."""
    module = get(for_batch(batch.get("id") or "", endpoint))
    check = getattr(module, "queue_refused", None)
    return bool(check is not None and check(batch))


def batch_usage(batch: dict, endpoint: str | None = None) -> dict | None:
    """The neutral usage a batch object reports so far (the provider module's ``batch_usage``), or None."""
    module = get(for_batch(batch.get("id") or "", endpoint))
    read = getattr(module, "batch_usage", None)
    return read(batch) if read is not None else None


MAX_TOKENS_PER_LINE = 2**53  # no request is billed anywhere near this; above it the line is wrong, not big


def count_field(obj: dict, key: str, where: str, default: int | None = 0) -> int:
    """A token count in a provider's usage block: a non-negative integer of real size; ``ValueError`` says why not."""
    import json

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


def refused(findings) -> bool:
    """Whether any of ``check_request``'s findings, ``(rule, message[, severity])``, is an error (the default)."""
    return any((finding[2] if len(finding) > 2 else "error") == "error" for finding in findings)


def usage_record(*, input_tokens: int, output_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0,
                 cache_write_tokens: int = 0, cache_write_1h_tokens: int = 0, **media) -> dict:
    """Neutral usage of one succeeded request. ``input_tokens`` is every input token billed (cache reads and
    writes included); ``output_tokens`` includes reasoning/thinking. ``media``: an image request's
    ``image_input_tokens`` / ``image_output_tokens`` (parts of the two), a video's ``video_seconds`` and
    ``video_size``."""
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": cached_tokens,
            "reasoning_tokens": reasoning_tokens, "cache_write_tokens": cache_write_tokens,
            "cache_write_1h_tokens": cache_write_1h_tokens, **media}
