"""The Gemini API's Batch Mode as a ``Provider``: plan lines ``{"key", "request": GenerateContentRequest}`` (or an
EmbedContentRequest), exact offline text counts with the Gemma 3 vocabulary (``counting``), request rules
(``rules``), result lines (``results``), and the client (``client``, the only importer of ``google.genai``).

The model is not part of a batch line (it is the batch's): it comes from ``--model``, a template's ``model:``, or a
``model`` field in the request itself (``models/`` prefix or not)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from batchcost.core.errors import PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding, ResultLine, Usage
from batchcost.providers.base import Provider
from batchcost.providers.gemini.fields import EMBED, ENDPOINT, field, kind_of
from batchcost.tokens.text import json_type

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


def model_of(request: dict, path: Path, line_no: int, options: ReadOptions) -> str:
    """The request's model: its own ``model`` field, else the batch's (``--model``, the template's)."""
    own = request.get("model")
    if own is not None and not isinstance(own, str):
        raise PlanError("request.model must be a string such as models/gemini-2.5-flash", path=path, line=line_no)
    name = (own or options.model or "").removeprefix("models/")
    if not name:
        raise PlanError("a Gemini batch line names no model (the batch does): pass --model, e.g. "
                        "--model gemini-2.5-flash", path=path, line=line_no)
    return name


class GeminiProvider(Provider):
    name = "gemini"
    title = "a Gemini API Batch Mode line"
    line_shape = '{"key", "request": {"contents": [{"role", "parts": [{"text"}]}], ...}}'
    endpoint = ENDPOINT
    endpoints: tuple[str, ...] = (ENDPOINT, EMBED)
    id_field: str | None = "key"  # results are joined to the plan on it
    env_key = "GEMINI_API_KEY"
    statuses = STATUSES

    # -- plan lines ---------------------------------------------------------------------------------------------
    def matches(self, obj: dict) -> bool:
        return "request" in obj and "key" in obj and "body" not in obj

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        key, request = obj.get("key"), obj.get("request")
        if not isinstance(key, str):
            raise PlanError("key is missing" if key is None else "key must be a string", path=path, line=line)
        if not key:
            raise PlanError("key is empty", path=path, line=line)
        if not isinstance(request, dict):
            raise PlanError(f"request must be an object (a GenerateContentRequest), not {json_type(request)}",
                            path=path, line=line)
        extra = sorted(set(obj) - {"key", "request", "metadata"})
        if extra:
            raise PlanError(f"unexpected field {extra[0]!r} beside key and request", path=path, line=line)
        body = {**request, "model": model_of(request, path, line, options)}
        return PlanLine(line, key, "POST", kind_of(request), body, nbytes, text, provider=self.name)

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        """A Gemini batch line (what ``plan`` writes): the model is the batch's, so it is not written into it."""
        return {"key": custom_id, "request": {k: v for k, v in body.items() if k != "model"}}

    def kind_of(self, body: dict) -> str | None:
        return kind_of(body)

    def owns_batch(self, batch_id: str) -> bool:
        return batch_id.startswith("batches/")  # the Gemini API's batch resource names

    # -- translation ------------------------------------------------------------------------------------------
    def to_work(self, item):
        from batchcost.providers.gemini.translate import to_work

        return to_work(item)

    def from_work(self, work, model):
        from batchcost.providers.gemini.translate import from_work

        return from_work(work, model)

    # -- counting -----------------------------------------------------------------------------------------------
    def counter(self, info, **options):
        from batchcost.providers.gemini.counting import GeminiCounter

        return GeminiCounter(info, **options)

    # -- what the API would refuse ------------------------------------------------------------------------------
    def limits(self) -> Limits:
        return LIMITS

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        from batchcost.providers.gemini.rules import check_request

        return check_request(item, warnings)

    def output_bound(self, body: dict) -> tuple[str, int] | None:
        """One candidate's output bound, by its JSON name."""
        config = field(body, "generationConfig")
        value = field(config, "maxOutputTokens") if isinstance(config, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return "generationConfig.maxOutputTokens", value
        return None

    # -- results ------------------------------------------------------------------------------------------------
    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        from batchcost.providers.gemini.results import classify

        return classify(obj, endpoint)

    def response_usage(self, endpoint: str, response: dict) -> Usage | None:
        from batchcost.providers.gemini.results import response_usage

        return response_usage(endpoint, response)

    # -- batches ------------------------------------------------------------------------------------------------
    def client(self, **options):
        from batchcost.providers.gemini.client import GeminiBatchClient

        return GeminiBatchClient(**options)

    def online_counter(self, **options) -> Callable[[dict], int]:
        from batchcost.providers.gemini.online import online_counter

        return online_counter(**options)
