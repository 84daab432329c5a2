"""The OpenAI Batch API as a ``Provider``: its line shape, limits, statuses, counting, request and file rules, result
lines, and the hot loop's shortcut for a plain chat request."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from batchcost.core.errors import BatchcostError, PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding, ResultLine, Usage
from batchcost.providers.base import OUR_STATUSES, FastPath, PlanChecker, Provider
from batchcost.providers.openai import quotas

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"


class OpenAIProvider(Provider):
    name = "openai"
    title = "an OpenAI Batch API line"
    line_shape = '{"custom_id", "method": "POST", "url", "body"}'
    endpoint = CHAT
    env_key = "OPENAI_API_KEY"
    statuses = {s: s for s in OUR_STATUSES}
    default_shape = True  # a line of no other provider's shape is read as OpenAI's (and said wrong field by field)

    @property
    def endpoints(self) -> tuple[str, ...]:  # type: ignore[override]
        from batchcost.providers.openai.counting import ENDPOINTS

        return ENDPOINTS

    # -- plan lines ---------------------------------------------------------------------------------------------
    def matches(self, obj: dict) -> bool:
        return "body" in obj or "url" in obj

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        """A line the reader's fast path did not take (it takes every well-formed one): the field that is wrong."""
        custom_id = _field(obj, "custom_id", str, path, line)
        if not custom_id:
            raise PlanError("custom_id is empty", path=path, line=line)
        if "method" not in obj and "url" not in obj and isinstance(obj.get("body"), dict):
            from batchcost import providers

            halves = [p.name for p in providers.registry().values() if p.line_shape.startswith('{"custom_id", "body"')]
            raise PlanError("method is missing" + (f" (a line of only custom_id and body is the batch file of "
                            f"{', '.join(halves)}: say which with --provider, and the model with --model where the "
                            "line names none)" if halves else ""), path=path, line=line)
        method = _field(obj, "method", str, path, line)
        url = _field(obj, "url", str, path, line)
        body = _field(obj, "body", dict, path, line)
        _field(body, "model", str, path, line, where="body.")
        return PlanLine(line, custom_id, method, url, body, nbytes, text, provider=self.name)

    def quick(self, obj: dict, line: int, nbytes: int, text: bytes) -> PlanLine | None:
        custom_id, method, url, body = obj.get("custom_id"), obj.get("method"), obj.get("url"), obj.get("body")
        if (type(custom_id) is str and custom_id and type(method) is str and type(url) is str and type(body) is dict
                and type(body.get("model")) is str):
            return PlanLine(line, custom_id, method, url, body, nbytes, text, self.name)
        return None

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        """A plan line in the Batch API's input shape (what ``plan`` writes)."""
        return {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}

    def chunk_field(self, endpoint: str) -> str | None:
        return "input" if endpoint == EMBEDDINGS else None

    # -- translation ------------------------------------------------------------------------------------------
    def to_work(self, item):
        from batchcost.providers.openai.translate import to_work

        return to_work(item)

    def from_work(self, work, model):
        from batchcost.providers.openai.translate import from_work

        return from_work(work, model)

    # -- counting -----------------------------------------------------------------------------------------------
    def counter(self, info, **options):
        from batchcost.providers.openai.counting import Counter

        return Counter(info, **options)

    def fast_path(self) -> FastPath:
        from batchcost.providers.openai.rules import failing_validator

        return FastPath(take=_plain_line, plain_of=lambda counter: counter.plain_chat, fails=failing_validator)

    # -- what the API would refuse ------------------------------------------------------------------------------
    def limits(self) -> Limits:
        return Limits(max_requests=quotas.MAX_REQUESTS_PER_FILE, max_bytes=quotas.MAX_BYTES_PER_FILE)

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        """Its method, and the per-request rules of ``rules`` (parameters, ranges, roles, tools, image URLs, model
        families)."""
        if item.method != quotas.BATCH_METHOD:
            yield RequestFinding("method", f"method must be POST, not {item.method!r}", scope="file")
        if not isinstance(item.body, dict):
            return
        from batchcost.providers.openai.rules import request_findings
        from batchcost.tokens.models import resolve_model

        try:
            family = resolve_model(item.model).name if isinstance(item.model, str) else ""
        except BatchcostError:
            family = ""  # an unknown model is its own finding
        for finding in request_findings(item.url, item.body, family, warnings=warnings):
            yield RequestFinding(*finding)

    def request_fails(self, item: PlanLine, family: str, tools_key: bytes = b"") -> bool:
        from batchcost.providers.openai.rules import request_fails

        return request_fails(item.url, item.body, family, tools_key)

    def plan_checker(self) -> PlanChecker:
        return _FileRules()

    # -- results ------------------------------------------------------------------------------------------------
    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        from batchcost.providers.openai.results import classify

        return classify(obj, endpoint)

    def response_usage(self, endpoint: str, response: dict) -> Usage | None:
        from batchcost.providers.openai.results import usage

        return usage(endpoint, response)

    # -- batches ------------------------------------------------------------------------------------------------
    def client(self, **options):
        from batchcost.providers.openai.client import OpenAIBatchClient

        return OpenAIBatchClient(**options)

    def queue_refused(self, batch: dict) -> bool:
        """A batch failed because the model's enqueued input tokens would pass the account's cap: the Batch API
        fails it at validation with ``token_limit_exceeded`` (nothing ran, nothing is billed)."""
        if batch.get("status") != "failed":
            return False
        errors = (batch.get("errors") or {}).get("data") or []
        return any(isinstance(e, dict) and e.get("code") == "token_limit_exceeded" for e in errors)

    def batch_usage(self, batch: dict) -> Usage | None:
        """The tokens a batch reports it has used so far (OpenAI batch objects carry ``usage``); None when the batch
        reports none."""
        from batchcost.providers.openai.results import usage

        reported = batch.get("usage")
        if not isinstance(reported, dict):
            return None
        try:
            return usage("/v1/responses", {"usage": reported})  # the batch's usage uses the Responses names
        except ValueError:
            return None

    def online_counter(self, **options) -> Callable[[dict], int]:
        """The input tokens OpenAI's free counting endpoint (``responses.input_tokens.count``) reports; a chat
        request is sent in the Responses shape."""
        from batchcost.providers.openai.client import OpenAIBatchClient
        from batchcost.providers.openai.online import responses_params

        options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
        remote = OpenAIBatchClient(**options)
        return lambda body: remote.count_input_tokens(responses_params(body))


def _plain_line(obj: dict) -> tuple[str, dict] | None:
    """(model, body) of a well-formed chat line, the commonest line there is; None for any other."""
    body = obj.get("body")
    custom_id = obj.get("custom_id")
    if (type(body) is dict and obj.get("url") == CHAT and type(custom_id) is str and custom_id
            and type(obj.get("method")) is str and type(model := body.get("model")) is str):
        return model, body
    return None


def _field(obj: dict, key: str, kind: type, path: Path, line: int, where: str = "") -> Any:
    if key not in obj:
        raise PlanError(f"{where}{key} is missing", path=path, line=line)
    value = obj[key]
    if not isinstance(value, kind):
        raise PlanError(f"{where}{key} must be {'a string' if kind is str else 'an object'}", path=path, line=line)
    return value


def _is_token_array(value: list) -> bool:
    return bool(value) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


class _FileRules(PlanChecker):
    """What the Batch API refuses of a whole file: an endpoint it does not batch, more than one endpoint or model a
    file, more embedding inputs than a file may hold."""

    def __init__(self):
        self.first_url: str | None = None
        self.first_model: str | None = None
        self.embedding_inputs = 0

    def request_checks(self, item: PlanLine) -> bool:
        from batchcost.providers.openai.counting import ENDPOINTS

        return item.url in ENDPOINTS  # a line to another endpoint is refused as that, not counted

    def see(self, item: PlanLine) -> Iterator[RequestFinding]:
        from batchcost.providers.openai.counting import ENDPOINTS

        if item.url not in ENDPOINTS:
            yield RequestFinding("endpoint", f"url {item.url!r} is not a batch endpoint ({', '.join(ENDPOINTS)})",
                                 scope="file")
            return
        if self.first_url is None:
            self.first_url = item.url
        elif item.url != self.first_url:
            yield RequestFinding("mixed-endpoints", f"url {item.url} differs from {self.first_url} (one endpoint per "
                                 "file)", scope="file")
        if self.first_model is None:
            self.first_model = item.model
        elif item.model != self.first_model:
            yield RequestFinding("mixed-models", f"model {item.model} differs from {self.first_model} (one model per "
                                 "file)", scope="file")
        if item.url == EMBEDDINGS:
            value = item.body.get("input")
            self.embedding_inputs += len(value) if isinstance(value, list) and not _is_token_array(value) else 1

    def finish(self) -> Iterator[RequestFinding]:
        if self.embedding_inputs > quotas.MAX_EMBEDDING_INPUTS_PER_FILE:
            yield RequestFinding("too-many-embedding-inputs", f"{self.embedding_inputs:,} embedding inputs; a batch "
                                 f"holds at most {quotas.MAX_EMBEDDING_INPUTS_PER_FILE:,}", scope="file")
