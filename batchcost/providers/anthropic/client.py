"""The Message Batches client: the only module that imports ``anthropic``.

A ``providers.base.BatchClient``, as every provider's client is, so the lifecycle and the ledger stay neutral.
A Message Batch takes its requests inline, so there is no upload: a wave's file is read and sent by
``create_batch``. Batches are returned as plain dicts in our status vocabulary (``status``: in_progress,
cancelling, completed, expired, cancelled) with ``request_counts`` {total, completed, failed} and, once ended,
``output_file_id`` (the batch id, whose results ``download`` streams).

Finding a create whose answer was lost: Message Batches have no metadata field, so ``find_batch`` looks for a batch
created since the wave was recorded as ready (less two minutes of clock skew) with exactly the wave's number of
requests. One such batch is adopted; several are an error naming them (nothing is created twice).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import anthropic

from batchcost.core.atomic import atomic_writer
from batchcost.core.errors import RemoteError, UsageError
from batchcost.providers.base import BatchClient
from batchcost.providers.sdk import answered_count, sdk_errors, shown_url

ENDPOINT = "/v1/messages"
CLOCK_SKEW = dt.timedelta(minutes=2)
COUNT_ARGS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "cache_control", "output_config",
              "speed")  # what the SDK's count_tokens names; anything else counted travels as extra_body


class AnthropicBatchClient(BatchClient):
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, max_retries: int = 5,
                 timeout: float = 120.0):
        self._key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not self._key:
            raise UsageError("ANTHROPIC_API_KEY is not set (the key is read from the environment, never from a "
                             "file batchcost writes)")
        url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        self._client = anthropic.Anthropic(api_key=self._key, base_url=url, max_retries=max_retries,
                                           timeout=timeout)
        self.base_url = shown_url(url)

    def _call(self, what: str):
        return sdk_errors(what, self._key, self.base_url, anthropic.APIStatusError, anthropic.APIConnectionError,
                          anthropic.AnthropicError)

    # -- no files: requests travel inline -----------------------------------------------------------------------
    def upload(self, path: Path, filename: str) -> str:
        return "inline"

    def find_file(self, filename: str, size: int) -> str | None:
        return "inline"

    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str], *, wave_path: Path,
                     model: str | None = None) -> dict:
        """One attempt, no SDK retry (a create whose answer was lost is looked for before trying again)."""
        requests: list[Any] = []  # the SDK's Request shape, read straight from the wave
        with Path(wave_path).open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    line = json.loads(raw)
                    requests.append({"custom_id": line["custom_id"], "params": line["params"]})
        with self._call("creating the message batch"):
            return _batch(self._client.with_options(max_retries=0).messages.batches.create(requests=requests))

    def find_batch(self, key: str, value: str, *, requests: int | None = None, since: str | None = None,
                   limit: int = 200) -> dict | None:
        if requests is None or since is None:
            return None
        start = dt.datetime.fromisoformat(since) - CLOCK_SKEW
        found = []
        with self._call("listing message batches"):
            for n, batch in enumerate(self._client.messages.batches.list(limit=100)):
                created = batch.created_at if batch.created_at.tzinfo else batch.created_at.replace(
                    tzinfo=dt.timezone.utc)
                if created < start or n >= limit:
                    break  # newest first: everything further is older
                if _total(batch) == requests:
                    found.append(batch)
        if len(found) > 1:
            raise RemoteError(f"{len(found)} message batches of {requests:,} requests were created since this wave "
                              f"was sent ({', '.join(b.id for b in found)}); batchcost cannot tell which is this "
                              "plan's, so it creates none: cancel the extra one and run submit again")
        return _batch(found[0]) if found else None

    def retrieve(self, batch_id: str) -> dict:
        with self._call(f"retrieving message batch {batch_id}"):
            return _batch(self._client.messages.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> dict:
        with self._call(f"cancelling message batch {batch_id}"):
            return _batch(self._client.messages.batches.cancel(batch_id))

    def list(self, limit: int = 20) -> list[dict]:
        with self._call("listing message batches"):
            return [_batch(b) for b in self._client.messages.batches.list(limit=min(limit, 1000)).data][:limit]

    def download(self, file_id: str, dest: Path) -> tuple[str, int]:
        """Stream the batch's results (``file_id`` is the batch id) to ``dest`` whole-or-nothing."""
        digest, size = hashlib.sha256(), 0
        with self._call(f"downloading the results of {file_id}"), atomic_writer(dest) as fh:
            for item in self._client.messages.batches.results(file_id):
                line = (json.dumps(item.model_dump(mode="json", exclude_unset=True), ensure_ascii=False)
                        + "\n").encode()
                fh.write(line)
                digest.update(line)
                size += len(line)
        return digest.hexdigest(), size

    def count_tokens(self, params: dict) -> int:
        """The free ``messages.count_tokens`` endpoint's exact count for one request (``params`` holds only what
        the endpoint takes: ``counting_params``); the SDK backs off on 429 and 5xx."""
        known = {k: params[k] for k in COUNT_ARGS if k in params}
        extra = {k: v for k, v in params.items() if k not in COUNT_ARGS}
        what = f"counting tokens for a {params.get('model')} request"
        with self._call(what):
            answer = self._client.messages.count_tokens(**known, extra_body=extra or None)
        return answered_count(answer, "input_tokens", what, self._key)

    def send(self, endpoint: str, body: dict) -> dict:
        """One real-time Messages request with a plan line's params, as-is (the pilot); the Message as a dict."""
        with self._call("sending a pilot request to /v1/messages"):
            response = self._client.post(ENDPOINT, body=body, cast_to=object)
        if not isinstance(response, dict):
            raise RemoteError("/v1/messages answered with something that is not a JSON object")
        return response


def _total(batch) -> int:
    c = batch.request_counts
    return c.processing + c.succeeded + c.errored + c.canceled + c.expired


def _batch(batch) -> dict:
    """A MessageBatch in our vocabulary (the raw fields kept under ``anthropic``)."""
    c = batch.request_counts
    status = {"in_progress": "in_progress", "canceling": "cancelling"}.get(batch.processing_status)
    if status is None:  # ended: how the requests ended says what the batch did
        if batch.cancel_initiated_at is not None:
            status = "cancelled"
        elif c.succeeded == 0 and c.expired and not c.errored:
            status = "expired"
        else:
            status = "completed"
    return {"id": batch.id, "status": status, "endpoint": ENDPOINT,
            "request_counts": {"total": _total(batch), "completed": c.succeeded,
                               "failed": c.errored + c.expired + c.canceled},
            "created_at": batch.created_at.isoformat(), "output_file_id": batch.id if batch.results_url else None,
            "error_file_id": None,
            "anthropic": batch.model_dump(mode="json")}
