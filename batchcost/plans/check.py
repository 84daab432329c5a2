"""Pre-flight: everything the Batch API would reject, found before upload, each with its line."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from batchcost import providers
from batchcost.errors import BatchcostError, line_of_plan, origin
from batchcost.plans.jobs import files_of
from batchcost.estimator.counting import EMBEDDINGS, ENDPOINTS
from batchcost.estimator.plan_counts import PlanCounter
from batchcost.plans import limits
from batchcost.inputs import duplicate_key
from batchcost.plans.reader import open_plan, parse_line


FILE_RULES = frozenset({"malformed", "mixed-providers", "duplicate-custom-id", "endpoint", "mixed-endpoints",
                        "mixed-models", "method", "too-many-requests", "file-too-large", "too-many-embedding-inputs",
                        "empty", "unknown-model"})  # the whole file is refused; any other rule fails its request


@dataclass
class Finding:
    code: str
    message: str
    line: int | None = None
    severity: str = "error"  # "warning": the rule is not sure the API refuses it; warnings do not fail check

    @property
    def scope(self) -> str:
        """Whether the API refuses the whole file (at validation) or only this request (in the error file)."""
        return "file" if self.code in FILE_RULES else "request"

    def as_dict(self, path: Path | None = None) -> dict:
        where = {"line": self.line}
        if path is not None and files_of(Path(path)):
            source, line = origin(str(path), self.line)
            where = {"file": source, "line": line}
        return {**where, "code": self.code, "rule": self.code, "severity": self.severity, "scope": self.scope,
                "message": self.message}

    def one_line(self, path: Path) -> str:
        source, line = origin(str(path), self.line)  # a job's line names the file it came from
        where = f"{source}:{line}" if line is not None else str(source)
        tag = "" if self.severity == "error" else "warning: "
        return f"{where}: {tag}{self.message} [{self.code}]"


def _per_choice_bound(body: dict) -> tuple[str, int] | None:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return key, value
    return None


def check_plan(path: str | Path, *, encoding: str | None = None) -> Iterator[Finding]:
    """Yield every finding in plan order; whole-file findings come last. Reads the plan once, streaming."""
    path = Path(path)
    counter = PlanCounter(encoding=encoding, base_dir=path.parent)
    seen_ids: dict[str, int] = {}
    first_url = first_model = None
    requests = total_bytes = embedding_inputs = 0
    provider = None
    with open_plan(path) as fh:
        for number, raw in enumerate(fh, start=1):
            total_bytes += len(raw)
            try:
                item = parse_line(raw, path, number)
            except BatchcostError as exc:
                yield Finding("malformed", exc.message, number)
                continue
            if item is None:
                continue
            requests += 1
            twice = duplicate_key(raw)
            if twice is not None:
                yield Finding("duplicate-key", f"the key {twice!r} is given twice in one object of this line (which of "
                              "the two the API reads is its parser's choice): keep one", number)
            if provider is None:
                provider, first_line = providers.get(item.provider), number
            elif item.provider != provider.NAME:
                yield Finding("mixed-providers", providers.mixed(item.provider, provider.NAME, first_line, str(path)),
                              number)
                continue
            if item.custom_id in seen_ids:
                name = getattr(provider, "ID_FIELD", None) or "custom_id"  # Gemini's lines name it "key"
                first = line_of_plan(str(path), seen_ids[item.custom_id])
                yield Finding("duplicate-custom-id", f"{name} {item.custom_id!r} was already used "
                              f"{'on' if first.startswith('line') else 'at'} {first}", number)
            else:
                seen_ids[item.custom_id] = number
            for code, message, *severity in provider.check_request(item):
                yield Finding(code, message, number, *severity)
            if provider.NAME != "openai":  # the endpoint, one-model and embeddings rules below are OpenAI's
                yield from _check_request(counter, item, path, number, getattr(provider, "output_bound", None))
                continue
            if item.url not in ENDPOINTS:
                yield Finding("endpoint", f"url {item.url!r} is not a batch endpoint ({', '.join(ENDPOINTS)})",
                              number)
                continue
            if first_url is None:
                first_url = item.url
            elif item.url != first_url:
                yield Finding("mixed-endpoints", f"url {item.url} differs from {first_url} (one endpoint per file)",
                              number)
            if first_model is None:
                first_model = item.model
            elif item.model != first_model:
                yield Finding("mixed-models", f"model {item.model} differs from {first_model} (one model per file)",
                              number)
            yield from _check_request(counter, item, path, number)
            if item.url == EMBEDDINGS:
                value = item.body.get("input")
                embedding_inputs += len(value) if isinstance(value, list) and not _is_token_array(value) else 1
    bounds = (provider or providers.get("openai")).limits()
    if requests > bounds.max_requests:
        yield Finding("too-many-requests", f"{requests:,} requests; a batch holds at most "
                      f"{bounds.max_requests:,} (use `batchcost split`)")
    if total_bytes > bounds.max_bytes:
        yield Finding("file-too-large", f"{total_bytes:,} bytes; a batch holds at most "
                      f"{bounds.max_bytes:,} (use `batchcost split`)")
    if embedding_inputs > limits.MAX_EMBEDDING_INPUTS_PER_FILE:
        yield Finding("too-many-embedding-inputs", f"{embedding_inputs:,} embedding inputs; a batch holds at "
                      f"most {limits.MAX_EMBEDDING_INPUTS_PER_FILE:,}")
    if requests == 0:
        yield Finding("empty", "the plan has no requests")


def _is_token_array(value: list) -> bool:
    return bool(value) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _check_request(counter: PlanCounter, item, path: Path, number: int, output_bound=None) -> Iterator[Finding]:
    """One request's model, context window and output bound (``output_bound``: the provider's reading of the
    bound, as (name, value), where the body does not hold it at the top level)."""
    try:
        info = counter.model_info(item.model)
        if item.url == EMBEDDINGS:  # the per-input lengths are all the checks need: tokenize each input once
            counting = counter.counter(item.model)
            counting.takes(item.url)
            lengths = counting.input_lengths(item.body.get("input"), "body.input")
        else:
            counted = counter.count_line(item, path)
    except BatchcostError as exc:
        yield Finding("unknown-model" if "unknown model" in exc.message else "invalid-body", exc.message, number)
        return
    context, max_out = info.context_window, info.max_output_tokens
    if item.url == EMBEDDINGS:
        longest = max(lengths, default=0)
        if context and longest > context:
            yield Finding("input-too-long", f"an embedding input has {longest:,} tokens; {info.name} accepts at "
                          f"most {context:,}", number)
        if info.max_inputs and len(lengths) > info.max_inputs:
            yield Finding("too-many-inputs", f"{len(lengths):,} inputs in one request; {info.name} accepts at "
                          f"most {info.max_inputs:,}", number)
        return
    # an approximate count: only what is sure to be over is reported (the band's low)
    tokens = counted.input_tokens if counted.input_low is None else counted.input_low
    if context and tokens > context:
        yield Finding("context-window", f"input of {tokens:,} tokens exceeds the {context:,}-token "
                      f"context window of {info.name}", number)
    bound = (output_bound or _per_choice_bound)(item.body)
    if bound and max_out is not None and bound[1] > max_out:
        yield Finding("max-output", f"{bound[0]} {bound[1]:,} exceeds {info.name}'s maximum output of "
                      f"{max_out:,} tokens", number)
    elif bound and context and tokens + bound[1] > context:
        yield Finding("context-window", f"input {tokens:,} + {bound[0]} {bound[1]:,} exceeds the "
                      f"{context:,}-token context window of {info.name}", number)
