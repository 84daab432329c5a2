"""The OpenAI batch client: the only module that imports ``openai``.

It uses the SDK's own configuration (OPENAI_API_KEY, OPENAI_BASE_URL; ``base_url`` overrides) and the SDK's own
retries with backoff for 408/409/429/5xx and dropped connections. Failures that survive the retries become
``RemoteError`` (exit 4) with the key scrubbed from every message.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, cast

import openai

from batchcost.core.atomic import atomic_writer
from batchcost.core.errors import RemoteError, UsageError
from batchcost.providers.base import BatchClient
from batchcost.providers.sdk import answered_count, sdk_errors, shown_url


class OpenAIBatchClient(BatchClient):
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, max_retries: int = 5,
                 timeout: float = 120.0, key_env: str = "OPENAI_API_KEY", url_env: str = "OPENAI_BASE_URL",
                 default_url: str = "https://api.openai.com/v1", purpose: str = "batch"):
        """``key_env``, ``url_env``, ``default_url`` and ``purpose``: an OpenAI-compatible service's own (its key
        variable, base-URL variable, base URL and the file purpose its batch files take)."""
        self._key = api_key or os.environ.get(key_env)
        if not self._key:
            raise UsageError(f"{key_env} is not set (the key is read from the environment, never from a file "
                             "batchcost writes)")
        self._purpose = purpose
        url = base_url or os.environ.get(url_env) or default_url
        self._client = openai.OpenAI(api_key=self._key, base_url=url, max_retries=max_retries, timeout=timeout)
        # what messages and the ledger show: never credentials written into the URL (https://user:key@host)
        self.base_url = shown_url(url)

    def _call(self, what: str):
        return sdk_errors(what, self._key, self.base_url, openai.APIStatusError, openai.APIConnectionError,
                          openai.OpenAIError)

    # -- files ----------------------------------------------------------------------------------------------
    def upload(self, path: Path, filename: str) -> str:
        with self._call(f"uploading {path}"), path.open("rb") as fh:
            return self._client.files.create(file=(filename, fh), purpose=cast(Any, self._purpose)).id

    def find_file(self, filename: str, size: int) -> str | None:
        """An already uploaded batch file of this name and size (after a crash between upload and ledger)."""
        with self._call("listing files"):
            for item in self._client.files.list(purpose=self._purpose):
                if item.filename == filename and item.bytes == size:
                    return item.id
        return None

    def download(self, file_id: str, dest: Path) -> tuple[str, int]:
        """Stream a file to ``dest`` whole-or-nothing; return (sha256, bytes)."""
        digest, size = hashlib.sha256(), 0
        with self._call(f"downloading {file_id}"):
            with self._client.files.with_streaming_response.content(file_id) as response, \
                    atomic_writer(dest) as fh:
                for chunk in response.iter_bytes():
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        return digest.hexdigest(), size

    # -- real time (the pilot) ----------------------------------------------------------------------------------
    def send(self, endpoint: str, body: dict) -> dict:
        """One real-time request with a plan line's body, as-is; the response as a plain dict."""
        path = endpoint.removeprefix("/v1")
        with self._call(f"sending a pilot request to {endpoint}"):
            response = self._client.post(path, body=body, cast_to=object)
        if not isinstance(response, dict):
            raise RemoteError(f"{endpoint} answered with something that is not a JSON object")
        return response

    def count_input_tokens(self, params: dict) -> int:
        """The free ``POST /v1/responses/input_tokens`` count of one request in the Responses shape
        (``providers.openai.responses_params``); the SDK backs off on 429 and 5xx."""
        from openai.types.responses import input_token_count_params

        known = set(input_token_count_params.InputTokenCountParams.__annotations__)
        what = f"counting input tokens for a {params.get('model')} request"
        with self._call(what):
            answer = self._client.responses.input_tokens.count(
                **{k: v for k, v in params.items() if k in known},
                extra_body={k: v for k, v in params.items() if k not in known} or None)
        return answered_count(answer, "input_tokens", what, self._key)

    # -- batches ----------------------------------------------------------------------------------------------
    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str], *, wave_path: Path | None = None,
                     model: str | None = None) -> dict:
        """One attempt, no SDK retry: a create whose answer was lost may have happened, so the caller looks for
        the batch (find_batch) before trying again. That is what keeps a batch from being created twice."""
        with self._call("creating the batch"):
            return self._client.with_options(max_retries=0).batches.create(
                input_file_id=file_id, endpoint=cast(Any, endpoint), completion_window="24h",
                metadata=metadata).model_dump()

    def find_batch(self, key: str, value: str, *, requests: int | None = None, since: str | None = None,
                   limit: int = 500) -> dict | None:
        """A batch whose metadata[key] == value (after a crash between create and ledger)."""
        with self._call("listing batches"):
            for n, batch in enumerate(self._client.batches.list(limit=100)):
                if (batch.metadata or {}).get(key) == value:
                    return batch.model_dump()
                if n >= limit:
                    break
        return None

    def retrieve(self, batch_id: str) -> dict:
        with self._call(f"retrieving batch {batch_id}"):
            return self._client.batches.retrieve(batch_id).model_dump()

    def cancel(self, batch_id: str) -> dict:
        with self._call(f"cancelling batch {batch_id}"):
            return self._client.batches.cancel(batch_id).model_dump()

    def list(self, limit: int = 20) -> list[dict]:
        with self._call("listing batches"):
            return [b.model_dump() for b in self._client.batches.list(limit=limit).data]
