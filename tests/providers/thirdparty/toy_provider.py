"""A batch API batchcost does not ship: "toy", added from outside the package through the entry-point group
``batchcost.providers`` only, as a third party would (no edit to batchcost). Its lines are
``{"id": ..., "model": "toy-1", "prompt": "...", "max_new_tokens": N}``; it bills one token per o200k_base token of
the prompt plus 4 per request, and refuses an empty prompt or ids longer than 16 characters."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from batchcost.core.errors import PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import Limits, PlanLine, RequestFinding, ResultLine, Usage
from batchcost.providers.base import Provider
from batchcost.tokens.models import ChatRules, ModelInfo
from batchcost.tokens.text import RequestCount, length_function

PER_REQUEST = 4
KIND = "toy-generate"
MODEL = ModelInfo(name="toy-1", kind=KIND, encoding="o200k_base", context_window=4096, max_output_tokens=512,
                  chat_rules=ChatRules(0, 0, 0),
                  image_rules=None, reasoning=False, provider="toy")


class ToyCounter:
    def __init__(self, model: ModelInfo):
        self.model = model
        self._len = length_function(model.encoding)

    def count(self, endpoint: str, body: dict) -> RequestCount:
        return RequestCount(input_tokens=self._len(body["prompt"]) + PER_REQUEST,
                            max_output_tokens=body.get("max_new_tokens"))


class ToyProvider(Provider):
    name = "toy"
    title = "a toy batch line"
    line_shape = '{"id", "model", "prompt"}'
    endpoint = KIND
    id_field = "id"

    def matches(self, obj: dict) -> bool:
        return "prompt" in obj and "id" in obj and "body" not in obj

    def parse(self, obj: dict, path: Path, line: int, nbytes: int, text: bytes,
              options: ReadOptions = PLAIN) -> PlanLine:
        if not isinstance(obj.get("prompt"), str):
            raise PlanError("prompt must be a string", path=path, line=line)
        if not isinstance(obj.get("id"), str):
            raise PlanError("id must be a string", path=path, line=line)
        body = {k: v for k, v in obj.items() if k != "id"}
        body.setdefault("model", options.model or MODEL.name)
        return PlanLine(line, obj["id"], "POST", KIND, body, nbytes, text, provider=self.name)

    def line(self, custom_id: str, endpoint: str, body: dict) -> dict:
        return {"id": custom_id, **body}

    def model_info(self, name: str) -> ModelInfo | None:
        return MODEL if name == MODEL.name else None

    def counter(self, info: ModelInfo, **options) -> ToyCounter:
        return ToyCounter(info)

    def limits(self) -> Limits:
        return Limits(max_requests=3, max_bytes=1 << 20, id_pattern=re.compile(r".{1,16}"),
                      id_rule="1 to 16 characters")

    def check_request(self, item: PlanLine, warnings: bool = True) -> Iterator[RequestFinding]:
        if len(item.custom_id) > 16:
            yield RequestFinding("toy-id", f"id {item.custom_id!r} is longer than 16 characters")
        if not item.body["prompt"].strip():
            yield RequestFinding("toy-empty", "the prompt is empty (the toy API refuses it)")

    def output_bound(self, body: dict) -> tuple[str, int] | None:
        bound = body.get("max_new_tokens")
        return ("max_new_tokens", bound) if isinstance(bound, int) else None

    def classify(self, obj: dict, endpoint: str) -> ResultLine:
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            raise ValueError(f"a toy result needs usage, not {json.dumps(usage)[:40]}")
        return ResultLine("succeeded", Usage(input_tokens=usage["in"], output_tokens=usage["out"]), None)


PROVIDER = ToyProvider()
