"""The batch client: the only module that imports ``openai``.

It uses the SDK's own configuration (OPENAI_API_KEY, OPENAI_BASE_URL; ``base_url`` overrides) and the SDK's own
retries with backoff for 408/409/429/5xx and dropped connections. Failures that survive the retries become
``RemoteError`` (exit 4) with the key scrubbed from every message.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import openai

from batchcost.atomic import atomic_writer
from batchcost.errors import RemoteError, UsageError

_KEYLIKE = re.compile(r"((?:sk-|AIza)[A-Za-z0-9_\-]{3})[A-Za-z0-9_\-*]{6,}")  # OpenAI/Anthropic, Google keys


def scrub(text: str, key: str | None) -> str:
    """Remove the API key (and anything shaped like one) from a message."""
    if key:
        text = text.replace(key, "***")
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)
    text = re.sub(r"(?i)([?&]key=)[^&\s'\"]+", r"\1***", text)  # a key in a query string
    return _KEYLIKE.sub(r"\1***", text)


@contextmanager
def sdk_errors(what: str, key: str | None, base_url: str, status_error: type, connection_error: type,
               base_error: type) -> Iterator[None]:
    """An SDK's failures (after its own retries) as one ``RemoteError`` line, the key scrubbed; ``transient`` says
    whether trying again may help (408/409/429/5xx and dropped connections). Shared by every provider's client."""
    try:
        yield
    except status_error as exc:
        message = getattr(exc, "message", None) or str(exc)
        code = int(getattr(exc, "status_code", None) or getattr(exc, "code", None) or 0)  # google-genai: .code
        error = RemoteError(f"{what} failed: HTTP {code}: {scrub(message, key)}")
        error.transient = code in (408, 409, 429) or code >= 500
        error.status = code
        raise error from None
    except connection_error as exc:
        error = RemoteError(f"{what} failed: cannot reach {base_url}: {scrub(str(exc.__cause__ or exc), key)}")
        error.transient = True
        raise error from None
    except base_error as exc:
        raise RemoteError(f"{what} failed: {scrub(str(exc), key)}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # an answer the SDK (or we) could not read
        raise RemoteError(f"{what} failed: the server's answer is not what the API documents "
                          f"({type(exc).__name__}: {scrub(' '.join(str(exc).split()), key)[:120]})") from None


MAX_TOKEN_COUNT = 2**53  # no request is billed anywhere near this; an answer above it is wrong, not big


def answered_count(answer, field: str, what: str, key: str | None = None) -> int:
    """The token count a counting endpoint answered (``answer.field``), or ``RemoteError`` (exit 4) naming what
    came instead: an answer that is no JSON object (an HTML error page, a bare string), one without the field, or
    a value that is no whole number of tokens (negative, a fraction, true, absurdly large). Nothing is ever
    estimated from such an answer, and nothing falls back silently to an offline count."""
    value = answer.get(field) if isinstance(answer, dict) else getattr(answer, field, None)
    if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    if isinstance(answer, (str, bytes)):
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer
        shown = f"text that is not a JSON object ({' '.join(text.split())[:60]!r})"
    elif value is None:
        shown = f"no {field}"
    else:
        shown = f"{field} {json.dumps(value, default=str)[:40]}"
    raise RemoteError(f"{what} failed: the server answered {scrub(shown, key)}, not a count of tokens (a whole "
                      "number, 0 or more)")


class BatchClient:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, max_retries: int = 5,
                 timeout: float = 120.0):
        self._key = api_key or os.environ.get("OPENAI_API_KEY")
        if not self._key:
            raise UsageError("OPENAI_API_KEY is not set (the key is read from the environment, never from a file "
                             "batchcost writes)")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self._client = openai.OpenAI(api_key=self._key, base_url=url, max_retries=max_retries, timeout=timeout)
        # what messages and the ledger show: never credentials written into the URL (https://user:key@host)
        self.base_url = re.sub(r"//[^/@]*@", "//", url)

    def _call(self, what: str):
        return sdk_errors(what, self._key, self.base_url, openai.APIStatusError, openai.APIConnectionError,
                          openai.OpenAIError)

    # -- files ----------------------------------------------------------------------------------------------
    def upload(self, path: Path, filename: str) -> str:
        with self._call(f"uploading {path}"), path.open("rb") as fh:
            return self._client.files.create(file=(filename, fh), purpose="batch").id

    def find_file(self, filename: str, size: int) -> str | None:
        """An already uploaded batch file of this name and size (after a crash between upload and ledger)."""
        with self._call("listing files"):
            for item in self._client.files.list(purpose="batch"):
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
    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str], *, wave_path=None) -> dict:
        """One attempt, no SDK retry: a create whose answer was lost may have happened, so the caller looks for
        the batch (find_batch) before trying again. That is what keeps a batch from being created twice."""
        with self._call("creating the batch"):
            return self._client.with_options(max_retries=0).batches.create(
                input_file_id=file_id, endpoint=endpoint, completion_window="24h", metadata=metadata).model_dump()

    def find_batch(self, key: str, value: str, limit: int = 500, **_) -> dict | None:
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
