"""The Gemini API Batch Mode client: the only module that imports ``google.genai``.

A ``providers.base.BatchClient``, as every provider's client is, so the lifecycle and the ledger stay neutral.
A wave is uploaded with the Files API (``files.upload``, resumable) and becomes a batch through
``batches.create`` (``batches.create_embeddings`` for embedding lines) with the batch's model, which is the plan's
(``--model``, the template's, or the approval's). The wave's submission tag is the batch's ``display_name``, so a
create whose answer was lost is found by it (the Gemini API keeps no other metadata). Batches are returned as plain
dicts in our vocabulary (``status`` from ``JOB_STATE_*``) with ``request_counts`` from the batch's ``batchStats``
and ``output_file_id`` (the responses file, downloaded streaming to disk).

Key: ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` (the SDK's own order); base URL: ``--base-url``,
``GOOGLE_GEMINI_BASE_URL`` or Google's.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from google import genai
from google.genai import batches as genai_batches
from google.genai import errors as genai_errors
from google.genai import types

try:  # the HTTP library google-genai is built on (httpx2 in google-genai 3, httpx before)
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older google-genai
    import httpx  # type: ignore[no-redef]

from batchcost.core.atomic import atomic_writer
from batchcost.core.errors import RemoteError, UsageError
from batchcost.providers.base import SUBMISSION_TAG, BatchClient
from batchcost.providers.gemini.fields import EMBED
from batchcost.providers.gemini.fields import ENDPOINT as GENERATE
from batchcost.providers.sdk import answered_count, sdk_errors, shown_url

DEFAULT_URL = "https://generativelanguage.googleapis.com"
_NO_TRANSPORT = object()  # this google-genai has no raw transport (older versions)


class GeminiBatchClient(BatchClient):
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, max_retries: int = 5,
                 timeout: float = 120.0):
        self._key = api_key or os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not self._key:
            raise UsageError("GEMINI_API_KEY (or GOOGLE_API_KEY) is not set (the key is read from the environment, "
                             "never from a file batchcost writes)")
        url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_URL
        retry = types.HttpRetryOptions(attempts=max_retries + 1, initial_delay=0.5, max_delay=30.0)
        self._options = types.HttpOptions(base_url=url, api_version="v1beta", timeout=int(timeout * 1000),
                                          retry_options=retry)
        self._client = genai.Client(api_key=self._key, http_options=self._options)
        self.base_url = shown_url(url)

    def _call(self, what: str):
        return sdk_errors(what, self._key, self.base_url, genai_errors.APIError, httpx.TransportError,
                          (ValueError, genai_errors.UnknownApiResponseError))

    def _once(self) -> types.HttpOptions:
        """This client's options without the SDK's retries (for a create, which is looked for before a retry)."""
        return self._options.model_copy(update={"retry_options": types.HttpRetryOptions(attempts=1)})

    # -- files ----------------------------------------------------------------------------------------------
    def upload(self, path: Path, filename: str) -> str:
        with self._call(f"uploading {path}"):
            name = self._client.files.upload(file=str(path), config=types.UploadFileConfig(
                display_name=filename, mime_type="jsonl")).name
        if not name:
            raise RemoteError(f"uploading {path}: the Gemini API answered without a file name")
        return name

    def find_file(self, filename: str, size: int) -> str | None:
        """An already uploaded file of this display name and size (after a crash between upload and ledger)."""
        with self._call("listing files"):
            for item in self._client.files.list(config={"page_size": 100}):
                if item.display_name == filename and item.size_bytes == size:
                    return item.name
        return None

    def download(self, file_id: str, dest: Path) -> tuple[str, int]:
        """Stream the responses file to ``dest`` whole-or-nothing; return (sha256, bytes)."""
        with self._call(f"downloading {file_id}"), atomic_writer(dest) as fh:
            sink = _Hashing(fh)
            self._client.files.download(file=file_id, destination=sink)  # type: ignore[call-overload]
        return sink.digest.hexdigest(), sink.size

    # -- batches ----------------------------------------------------------------------------------------------
    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str], *, wave_path: Path,
                     model: str | None = None) -> dict:
        """One attempt, no SDK retry (a create whose answer was lost is looked for before trying again). The
        batch's model is the wave's."""
        if not model:
            raise UsageError("a Gemini batch names its model: approve the plan for one (--model)")
        config: Any = {"display_name": metadata[SUBMISSION_TAG], "http_options": self._once()}
        with self._call(f"creating the batch for {model}"):
            if endpoint == EMBED:
                job = self._client.batches.create_embeddings(model=model, src={"file_name": file_id}, config=config)
            else:
                job = self._client.batches.create(model=model, src=file_id, config=config)
        return _batch(job, {}, endpoint)

    def find_batch(self, key: str, value: str, *, requests: int | None = None, since: str | None = None,
                   limit: int = 500) -> dict | None:
        """The batch whose display name is the wave's tag (after a crash between create and ledger)."""
        with self._call("listing batches"):
            for n, job in enumerate(self._client.batches.list(config={"page_size": 100})):
                if job.display_name == value and job.name:
                    return self.retrieve(job.name)
                if n >= limit:
                    break
        return None

    def retrieve(self, batch_id: str) -> dict:
        with self._call(f"retrieving batch {batch_id}"):
            raw = self._raw_get(batch_id)
            if raw is None:
                return _batch(self._client.batches.get(name=batch_id), {}, None)
            return _batch(types.BatchJob._from_response(response=genai_batches._BatchJob_from_mldev(raw),
                                                        kwargs={}), raw, None)

    def _raw_get(self, batch_id: str) -> dict | None:
        """The batch's operation as the API sent it, through the SDK's own transport (key, base URL, retries):
        the SDK's BatchJob leaves out ``batchStats``, the request counts a progress display needs. None when
        this SDK version has no such transport (the counts are then unknown until the results are read)."""
        if not hasattr(genai_batches, "_BatchJob_from_mldev"):
            return None
        name = batch_id if batch_id.startswith("batches/") else f"batches/{batch_id}"
        answer = self._raw("get", name, {}, f"retrieving batch {batch_id}")
        return None if answer is _NO_TRANSPORT else answer

    def _raw(self, method: str, path: str, body: dict, what: str):
        """One call through the SDK's own transport (key, base URL, retries), the answer as the API sent it (a
        JSON object, else ``RemoteError``); ``_NO_TRANSPORT`` when this SDK version has none. Callers hold
        ``_call``."""
        request = getattr(getattr(self._client, "_api_client", None), "request", None)
        if request is None:
            return _NO_TRANSPORT
        response = request(method, path, body, None)
        try:
            answer = json.loads(response.body) if response.body else {}
        except ValueError:
            answer = response.body  # not JSON: said below, in the caller's words
        if not isinstance(answer, dict):
            raise RemoteError(f"{what} failed: the server answered something that is not a JSON object "
                              f"({' '.join(str(answer).split())[:60]!r})")
        return answer

    def cancel(self, batch_id: str) -> dict:
        with self._call(f"cancelling batch {batch_id}"):
            self._client.batches.cancel(name=batch_id)
        return self.retrieve(batch_id)

    def list(self, limit: int = 20) -> list[dict]:
        with self._call("listing batches"):
            out = []
            for job in self._client.batches.list(config={"page_size": min(limit, 100)}):
                out.append(_batch(job, {}, None))
                if len(out) >= limit:
                    break
            return out

    # -- counting and real time ---------------------------------------------------------------------------------
    def count_tokens(self, model: str, contents: Any) -> int:
        """The free ``countTokens`` endpoint's total for these contents (the SDK sends contents only to the
        Gemini API)."""
        what = f"counting tokens for a {model} request"
        path = (model if model.startswith("models/") else f"models/{model}") + ":countTokens"
        with self._call(what):
            answer = self._raw("post", path, {"contents": contents}, what)  # the answer as sent: no coercion
            if answer is _NO_TRANSPORT:
                answer = self._client.models.count_tokens(model=model, contents=contents)
        return answered_count(answer, "totalTokens" if isinstance(answer, dict) else "total_tokens", what, self._key)

    def send(self, endpoint: str, body: dict) -> dict:
        """One real-time generateContent request with a plan line's request, as-is (the pilot)."""
        model = body.get("model", "")
        path = (model if model.startswith("models/") else f"models/{model}") + ":generateContent"
        with self._call(f"sending a pilot request to {model}"):
            answer = self._raw("post", path, {k: v for k, v in body.items() if k != "model"},
                               f"{model}:generateContent")
        if answer is _NO_TRANSPORT:
            raise UsageError("this google-genai version cannot send a request as-is; the pilot needs google-genai 3")
        return answer


class _Hashing:
    """A writable stream that hashes and counts what passes to the file."""

    def __init__(self, fh):
        self.fh, self.digest, self.size = fh, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def _int(value) -> int:
    try:
        return int(value or 0)  # int64 fields arrive as JSON strings
    except (TypeError, ValueError):
        return 0


def _batch(job: types.BatchJob, raw: dict, endpoint: str | None) -> dict:
    """A BatchJob in our vocabulary (the raw fields kept under ``gemini``)."""
    from batchcost.providers.gemini.provider import STATUSES

    meta = raw.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    state = job.state.value if job.state is not None else "JOB_STATE_PENDING"
    kind = endpoint or (EMBED if "EmbedContentBatch" in str(meta.get("@type", "")) else GENERATE)
    dest = job.dest
    error = job.error.message if job.error is not None and job.error.message else None
    return {"id": job.name, "status": STATUSES.get(state, "in_progress"), "endpoint": kind,
            "model": (job.model or "").removeprefix("models/"), "display_name": job.display_name,
            "request_counts": {"total": _int(stats.get("requestCount")),
                               "completed": _int(stats.get("successfulRequestCount")),
                               "failed": _int(stats.get("failedRequestCount"))},
            "created_at": job.create_time.isoformat() if job.create_time else None,
            "output_file_id": dest.file_name if dest is not None else None, "error_file_id": None,
            **({"error": error} if error else {}),
            "gemini": raw or job.model_dump(mode="json", exclude_none=True)}
