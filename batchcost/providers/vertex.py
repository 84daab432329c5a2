"""Vertex AI batch prediction for Gemini: plan lines ``{"request": GenerateContentRequest}`` with no id, counted as
the Gemini API's are (the same models, vocabulary and rules: ``providers.gemini``), and output lines
``{"status", "processed_time", "request", "response"}`` that echo the request instead of naming it.

Reconcile joins a result to its plan line on the echoed request; where several plan lines hold the same request,
in the order they come (and says how many were joined that way). Submission (a Cloud Storage or BigQuery source)
is done with Google's own tools; batchcost estimates, checks and reconciles.
"""
from __future__ import annotations

from pathlib import Path
from batchcost.errors import PlanError
from batchcost.estimator.counting import _json_type
from batchcost.providers import Limits
from batchcost.providers import gemini as _gemini

NAME = "vertex"
TITLE = "a Vertex AI batch prediction line"
LINE = '{"request": {"contents": [{"role", "parts": [{"text"}]}], ...}}'
ENDPOINT = _gemini.ENDPOINT
ENDPOINTS = (ENDPOINT,)  # Vertex embedding batches take another input shape: not supported
ENV_KEY = "GOOGLE_APPLICATION_CREDENTIALS"
ID_FIELD = None  # results echo the request: reconcile joins them on ``echo_key``
MODELS_OF = "gemini"  # Vertex serves the Gemini models (models.yaml gemini_models)

# https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini: up to 200,000 requests
# a job, and an input file of at most 1 GB in Cloud Storage.
LIMITS = Limits(max_requests=200_000, max_bytes=1024 ** 3)
STATUSES = _gemini.STATUSES
counter = _gemini.counter
check_request = _gemini.check_request
request_fails = _gemini.request_fails
output_bound = _gemini.output_bound
response_usage = _gemini.response_usage


def limits() -> Limits:
    return LIMITS


def owns_batch(batch_id: str) -> bool:
    return "/batchPredictionJobs/" in batch_id


def matches(obj: dict) -> bool:
    return "request" in obj and "key" not in obj and "body" not in obj


def line(custom_id: str, endpoint: str, body: dict) -> dict:
    """A Vertex batch line (what ``plan`` writes): the request alone; the model is the job's."""
    return {"request": {k: v for k, v in body.items() if k != "model"}}


def parse(obj: dict, path: Path, line_no: int, nbytes: int, text: bytes):
    from batchcost.plans.reader import PlanLine

    request = obj.get("request")
    if not isinstance(request, dict):
        raise PlanError(f"request must be an object (a GenerateContentRequest), not {_json_type(request)}",
                        path=path, line=line_no)
    extra = sorted(set(obj) - {"request"})
    if extra:
        raise PlanError(f"unexpected field {extra[0]!r} beside request (Vertex lines carry no id)", path=path,
                        line=line_no)
    body = {**request, "model": _gemini.model_of(request, path, line_no)}
    # Vertex lines carry no id: the line number stands in for one inside batchcost (never written out)
    return PlanLine(line_no, f"line-{line_no}", "POST", ENDPOINT, body, nbytes, text, provider=NAME)


def classify(obj: dict, endpoint: str) -> tuple[str, dict | None, str | None]:
    """An output line: an empty ``status`` and a ``response`` when it succeeded; else ``status`` says why."""
    status = obj.get("status")
    if status:
        return "failed", None, str(status)[:200]
    response = obj.get("response")
    if not isinstance(response, dict):
        raise ValueError("an output line needs a response or a status")
    return "succeeded", _gemini._usage(_gemini._get(response, "usageMetadata")), None


def echo_key(obj: dict) -> str:
    """What a plan line and its result line share (both hold the request), whatever the key order or spacing;
    ``ValueError`` for a line that holds no request."""
    import hashlib
    import json

    request = obj.get("request") if isinstance(obj, dict) else None
    if not isinstance(request, dict):
        raise ValueError("a result line must echo its request")
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def client(**options):
    from batchcost.errors import UsageError

    raise UsageError("batchcost does not submit Vertex AI batch prediction jobs: upload the plan to Cloud Storage "
                     "and create the job with gcloud or google-genai (vertexai=True), then reconcile its "
                     "predictions.jsonl with batchcost")


def online_counter(**options):
    from batchcost.errors import UsageError

    raise UsageError("--online is not available for Vertex plans: their text counts are exact offline")

