"""Vertex AI batch prediction for Gemini as a ``Provider``: plan lines ``{"request": GenerateContentRequest}`` with no
id, counted and checked as the Gemini API's are (the same models, vocabulary and rules: it is a ``GeminiProvider``),
and output lines ``{"status", "processed_time", "request", "response"}`` that echo the request instead of naming it.

Reconcile joins a result to its plan line on the echoed request; where several plan lines hold the same request,
in the order they come (and says how many were joined that way). Submission (a Cloud Storage or BigQuery source)
is done with Google's own tools; batchcost estimates, checks and reconciles.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from batchcost.core.errors import PlanError, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, ResultLine
from batchcost.providers.gemini.fields import ENDPOINT, camel, field
from batchcost.providers.gemini.provider import GeminiProvider, model_of
from batchcost.tokens.text import json_type

# https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini: up to 200,000 requests
# a job, and an input file of at most 1 GB in Cloud Storage.
LIMITS = Limits(max_requests=200_000, max_bytes=1024 ** 3)


class VertexProvider(GeminiProvider):
    name = "vertex"
    title = "a Vertex AI batch prediction line"
    line_shape = '{"request": {"contents": [{"role", "parts": [{"text"}]}], ...}}'
    endpoint = ENDPOINT
    endpoints: tuple[str, ...] = (ENDPOINT,)  # Vertex embedding batches take another input shape: not supported
    id_field: str | None = None  # results echo the request: reconcile joins them on ``echo_key``
    env_key = "GOOGLE_APPLICATION_CREDENTIALS"
    models_of = "gemini"  # Vertex serves the Gemini models (models.yaml gemini_models)

    def matches(self, obj: dict) -> bool:
        return "request" in obj and "key" not in obj and "body" not in obj

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        request = obj.get("request")
        if not isinstance(request, dict):
            raise PlanError(f"request must be an object (a GenerateContentRequest), not {json_type(request)}",
                            path=path, line=line)
        extra = sorted(set(obj) - {"request"})
        if extra:
            raise PlanError(f"unexpected field {extra[0]!r} beside request (Vertex lines carry no id)", path=path,
                            line=line)
        body = {**request, "model": model_of(request, path, line, options)}
        # Vertex lines carry no id: the line number stands in for one inside batchcost (never written out)
        return PlanLine(line, f"line-{line}", "POST", ENDPOINT, body, nbytes, text, provider=self.name)

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        """A Vertex batch line (what ``plan`` writes): the request alone; the model is the job's."""
        return {"request": {k: v for k, v in body.items() if k != "model"}}

    def kind_of(self, body: dict) -> str | None:
        return None  # one request kind

    def owns_batch(self, batch_id: str) -> bool:
        return "/batchPredictionJobs/" in batch_id

    def limits(self) -> Limits:
        return LIMITS

    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        """An output line: an empty ``status`` and a ``response`` when it succeeded; else ``status`` says why."""
        from batchcost.providers.gemini.results import usage

        status = obj.get("status")
        if status:
            return ResultLine("failed", None, str(status)[:200])
        response = obj.get("response")
        if not isinstance(response, dict):
            raise ValueError("an output line needs a response or a status")
        return ResultLine("succeeded", usage(field(response, "usageMetadata")))

    def echo_key(self, obj: dict) -> str:
        """What a plan line and its result line share (both hold the request), whatever the key order or spacing;
        ``ValueError`` for a line that holds no request."""
        request = obj.get("request") if isinstance(obj, dict) else None
        if not isinstance(request, dict):
            raise ValueError("a result line must echo its request")
        return hashlib.sha256(json.dumps(_canonical(request), sort_keys=True, ensure_ascii=False,
                                         separators=(",", ":")).encode()).hexdigest()

    def client(self, **options):
        raise UsageError("batchcost does not submit Vertex AI batch prediction jobs: upload the plan to Cloud Storage "
                         "and create the job with gcloud or google-genai (vertexai=True), then reconcile its "
                         "predictions.jsonl with batchcost")

    def counter(self, info, **options):
        from batchcost.providers.gemini.counting import GeminiCounter

        return GeminiCounter(info, api="vertex", **options)

    def online_counter(self, **options):
        raise UsageError("--online is not available for Vertex plans: their text counts are exact offline")


def _canonical(value):
    """A request as Vertex re-serialises it when it echoes it in predictions.jsonl: keys in camelCase (protobuf's
    JSON names), numbers by value (``1.0`` is echoed as ``1``); key order is left to the caller's sort."""
    if isinstance(value, dict):
        return {camel(str(k)): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
