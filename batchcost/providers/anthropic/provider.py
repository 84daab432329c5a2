"""Anthropic Message Batches as a ``Provider``: plan lines ``{"custom_id", "params"}``, approximate offline counts
with a stated band (``counting``), request rules from the SDK's types (``rules``), result lines ``{"custom_id",
"result": {"type", "message" | "error"}}`` (``results``), and the client (``client``, the only importer of
``anthropic``). ``--online`` asks the free ``messages.count_tokens`` endpoint instead, exactly."""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from batchcost.core.errors import PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding, ResultLine, Usage
from batchcost.providers.base import Provider
from batchcost.tokens.text import json_type

ENDPOINT = "/v1/messages"  # the neutral request kind of every Message Batches line

# https://platform.claude.com/docs/en/build-with-claude/batch-processing: "up to 100,000 Message requests or 256 MB
# in size, whichever is reached first"; custom_id "must match ^[a-zA-Z0-9_-]{1,64}$" and be unique in the batch.
LIMITS = Limits(max_requests=100_000, max_bytes=256 * 1024 * 1024, id_pattern=re.compile(r"[a-zA-Z0-9_-]{1,64}"),
                id_rule="1 to 64 letters, digits, _ or -")


class AnthropicProvider(Provider):
    name = "anthropic"
    title = "an Anthropic Message Batches line"
    line_shape = '{"custom_id", "params": {"model", "max_tokens", "messages", ...}}'
    endpoint = ENDPOINT
    endpoints = (ENDPOINT,)
    env_key = "ANTHROPIC_API_KEY"
    # processing_status: in_progress | canceling | ended (request_counts say how each request ended)
    statuses = {"in_progress": "in_progress", "canceling": "cancelling", "ended": "completed"}

    # -- plan lines ---------------------------------------------------------------------------------------------
    def matches(self, obj: dict) -> bool:
        return "params" in obj and "body" not in obj and "url" not in obj

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        custom_id, params = obj.get("custom_id"), obj.get("params")
        if not isinstance(custom_id, str):
            raise PlanError("custom_id is missing" if custom_id is None else "custom_id must be a string",
                            path=path, line=line)
        if not custom_id:
            raise PlanError("custom_id is empty", path=path, line=line)
        if not isinstance(params, dict):
            raise PlanError(f"params must be an object (a Messages API request), not {json_type(params)}",
                            path=path, line=line)
        if not isinstance(params.get("model"), str):
            raise PlanError("params.model is missing" if "model" not in params else "params.model must be a string",
                            path=path, line=line)
        extra = sorted(set(obj) - {"custom_id", "params"})
        if extra:
            raise PlanError(f"unexpected field {extra[0]!r} beside custom_id and params", path=path, line=line)
        return PlanLine(line, custom_id, "POST", ENDPOINT, params, nbytes, text, provider=self.name)

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        """A Message Batches plan line (what ``plan`` writes): the request body is its ``params``."""
        return {"custom_id": custom_id, "params": body}

    def owns_batch(self, batch_id: str) -> bool:
        return batch_id.startswith("msgbatch_")  # the Message Batches API's ids

    # -- translation ------------------------------------------------------------------------------------------
    def to_work(self, item):
        from batchcost.providers.anthropic.translate import to_work

        return to_work(item)

    def from_work(self, work, model):
        from batchcost.providers.anthropic.translate import from_work

        return from_work(work, model)

    # -- counting -----------------------------------------------------------------------------------------------
    def counter(self, info, **options):
        from batchcost.providers.anthropic.counting import ClaudeCounter

        return ClaudeCounter(info, **options)

    # -- what the API would refuse ------------------------------------------------------------------------------
    def limits(self) -> Limits:
        return LIMITS

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        """Beyond counting: id shape, max_tokens, and the per-request rules of ``rules`` (the SDK's parameter names
        and roles, stream, tools, images, documents, cache breakpoints, thinking)."""
        if LIMITS.id_pattern is not None and not LIMITS.id_pattern.fullmatch(item.custom_id):
            yield RequestFinding("custom-id", f"custom_id {item.custom_id[:80]!r} must be {LIMITS.id_rule}")
        bound = item.body.get("max_tokens")
        if bound is None:
            yield RequestFinding("max-tokens", "params.max_tokens is required on every Messages request")
        elif not isinstance(bound, int) or isinstance(bound, bool) or bound < 1:
            yield RequestFinding("max-tokens", f"params.max_tokens must be a whole number of at least 1, not "
                                 f"{json.dumps(bound)[:40]}")
        if isinstance(item.body, dict):
            from batchcost.providers.anthropic.rules import request_findings

            for finding in request_findings(item.body, warnings=warnings):
                yield RequestFinding(*finding)

    # -- results ------------------------------------------------------------------------------------------------
    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        from batchcost.providers.anthropic.results import classify

        return classify(obj, endpoint)

    def response_usage(self, endpoint: str, response: dict) -> Usage | None:
        from batchcost.providers.anthropic.results import response_usage

        return response_usage(endpoint, response)

    # -- batches ------------------------------------------------------------------------------------------------
    def client(self, **options):
        from batchcost.providers.anthropic.client import AnthropicBatchClient

        return AnthropicBatchClient(**options)

    def online_counter(self, **options) -> Callable[[dict], int]:
        """A request body's exact input tokens, asked of the free counting endpoint (which bills nothing and
        creates nothing)."""
        from batchcost.providers.anthropic.client import AnthropicBatchClient
        from batchcost.providers.anthropic.online import counting_params

        options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
        remote = AnthropicBatchClient(**options)
        return lambda body: remote.count_tokens(counting_params(body))
