"""One OpenAI-compatible batch service as a ``Provider``: OpenAI's batch line (or its ``{custom_id, body}`` half),
results and client, with the service's own base URL, key, limits, models and counting.

A line of OpenAI's shape is this service's when its model is one the service's catalogue names (the names are
the services' own: ``llama-3.3-70b-versatile`` is Groq's, ``meta-llama/Llama-3.3-70B-Instruct-Turbo`` Together's);
``--provider NAME`` reads a plan as the service's whatever its models. Services whose jobs name the model (Mistral,
Fireworks) take it from ``--model``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from batchcost.core.errors import PlanError, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding
from batchcost.providers.base import PlanChecker
from batchcost.providers.compatible import catalog
from batchcost.providers.compatible.counting import CHAT, COMPLETIONS, EMBEDDINGS
from batchcost.providers.openai.provider import OpenAIProvider
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import json_type


class CompatibleProvider(OpenAIProvider):
    default_shape = False

    def __init__(self, service: str):
        self.service = catalog.services()[service]
        self.name = service
        self.title = self.service.title
        self.env_key = self.service.env_key
        self.line_shape = ('{"custom_id", "method": "POST", "url", "body": {"model", ...}}' if self.service.shape ==
                           "openai" else '{"custom_id", "body": {...}}')

    @property
    def endpoints(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.service.endpoints

    # -- plan lines ---------------------------------------------------------------------------------------------
    def matches(self, obj: dict) -> bool:
        """A line of OpenAI's shape naming a model of this service's catalogue (the automatic detection)."""
        body = obj.get("body")
        return type(body) is dict and catalog.owners().get(body.get("model")) == self.name  # type: ignore[arg-type]

    def accepts(self, obj: dict) -> bool:
        return isinstance(obj.get("body"), dict) or "custom_id" in obj

    def claimed_models(self) -> tuple[str, ...]:
        return tuple(m for m, owner in catalog.owners().items() if owner == self.name)

    def quick(self, obj: dict, line: int, nbytes: int, text: bytes) -> PlanLine | None:
        return None

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise PlanError("custom_id is missing" if custom_id is None else "custom_id must be a non-empty string",
                            path=path, line=line)
        body = obj.get("body")
        if not isinstance(body, dict):
            raise PlanError(f"body must be an object, not {json_type(body)}", path=path, line=line)
        if self.service.shape == "openai":
            method, url = obj.get("method"), obj.get("url")
            if not isinstance(method, str):
                raise PlanError("method is missing" if method is None else "method must be a string", path=path,
                                line=line)
            if not isinstance(url, str):
                raise PlanError("url is missing" if url is None else "url must be a string", path=path, line=line)
        else:
            extra = sorted(set(obj) - {"custom_id", "body", "method", "url"})
            if extra:
                raise PlanError(f"unexpected field {extra[0]!r} in {self.title}", path=path, line=line)
            method = obj["method"] if isinstance(obj.get("method"), str) else "POST"
            url = obj["url"] if isinstance(obj.get("url"), str) else self.kind_of(body) or CHAT
        model = body.get("model")
        if model is None:
            model = options.model
            if model is None:
                raise PlanError(f"body.model is missing: {self.title} names no model (the job does); give --model",
                                path=path, line=line)
            body = {**body, "model": model}
        elif not isinstance(model, str):
            raise PlanError(f"body.model must be a string, not {json_type(model)}", path=path, line=line)
        return PlanLine(line, custom_id, method, url, body, nbytes, text, provider=self.name)

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        if self.service.shape == "openai":
            return {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}
        if not self.service.model_in_line:
            body = {k: v for k, v in body.items() if k != "model"}
        return {"custom_id": custom_id, "body": body}

    def kind_of(self, body: dict) -> str | None:
        return EMBEDDINGS if "input" in body and "messages" not in body else (
            COMPLETIONS if "prompt" in body else CHAT)

    def chunk_field(self, endpoint: str) -> str | None:
        return "input" if endpoint == EMBEDDINGS else None

    # -- counting -----------------------------------------------------------------------------------------------
    def counter(self, info: ModelInfo, **options):
        from batchcost.providers.compatible.counting import TemplateCounter

        return TemplateCounter(info)

    def model_info(self, name: str) -> ModelInfo | None:
        return catalog.model_info(self.name, name)

    def fast_path(self):
        return None

    # -- what the API would refuse ------------------------------------------------------------------------------
    def limits(self) -> Limits:
        return Limits(max_requests=self.service.max_requests, max_bytes=self.service.max_bytes)

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        if item.method != "POST":
            yield RequestFinding("method", f"method must be POST, not {item.method!r}", scope="file")
        if item.url not in self.service.endpoints:
            yield RequestFinding("endpoint", f"url {item.url!r} is not one {self.name} batches "
                                 f"({', '.join(self.service.endpoints)})", scope="file")

    def request_fails(self, item: PlanLine, family: str, tools_key: bytes = b"") -> bool:
        return any(f.severity == "error" for f in self.check_request(item, warnings=False))

    def plan_checker(self) -> PlanChecker:
        return PlanChecker()

    # -- batches ------------------------------------------------------------------------------------------------
    def client(self, **options):
        if not self.service.submit:
            raise UsageError(f"batchcost does not submit {self.title}s: {self.name}'s batch jobs are made with its "
                             "own tools; batchcost estimates, checks and reconciles them")
        from batchcost.providers.openai.client import OpenAIBatchClient

        return OpenAIBatchClient(key_env=self.service.env_key, url_env=self.service.base_url_env,
                                 default_url=self.service.base_url, purpose=self.service.purpose, **options)

    def online_counter(self, **options):
        raise UsageError(f"--online is not available for {self.title}s: {self.name} has no counting endpoint")

    def base_url_env(self) -> str:
        return self.service.base_url_env

    def configured_url(self) -> str:
        return os.environ.get(self.service.base_url_env) or self.service.base_url
