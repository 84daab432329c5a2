"""Pre-flight: everything the Batch API would reject, found before upload, each with its line."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BatchcostError, line_of_plan, origin
from batchcost.core.inputs import duplicate_key
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.plans.counts import PlanCounter
from batchcost.plans.jobs import files_of
from batchcost.plans.reader import open_plan, parse_line
from batchcost.providers.base import PlanChecker, Provider

FILE_RULES = frozenset({"malformed", "mixed-providers", "duplicate-custom-id", "too-many-requests", "file-too-large",
                        "empty", "unknown-model"})  # the whole file is refused; a provider's rules say their own


@dataclass
class Finding:
    code: str
    message: str
    line: int | None = None
    severity: str = "error"  # "warning": the rule is not sure the API refuses it; warnings do not fail check
    refuses: str | None = None  # "file" or "request" where the rule said; else by FILE_RULES

    @property
    def scope(self) -> str:
        """Whether the API refuses the whole file (at validation) or only this request (in the error file)."""
        return self.refuses or ("file" if self.code in FILE_RULES else "request")

    def as_dict(self, path: Path | None = None) -> dict:
        where: dict[str, Any] = {"line": self.line}
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


def check_plan(path: str | Path, *, encoding: str | None = None, options: ReadOptions = PLAIN) -> Iterator[Finding]:
    """Yield every finding in plan order; whole-file findings come last. Reads the plan once, streaming."""
    path = Path(path)
    counter = PlanCounter(encoding=encoding, base_dir=path.parent)
    seen_ids: dict[str, int] = {}
    requests = total_bytes = 0
    provider: Provider | None = None
    file_rules = PlanChecker()  # the first line's provider's, once it is known
    first_line = 0
    with open_plan(path) as fh:
        for number, raw in enumerate(fh, start=1):
            total_bytes += len(raw)
            try:
                item = parse_line(raw, path, number, options=options)
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
                file_rules = provider.plan_checker()
            elif item.provider != provider.name:
                yield Finding("mixed-providers", providers.mixed(item.provider, provider.name, first_line, str(path)),
                              number)
                continue
            if item.custom_id in seen_ids:
                name = provider.id_field or "custom_id"  # Gemini's lines name it "key"
                first = line_of_plan(str(path), seen_ids[item.custom_id])
                yield Finding("duplicate-custom-id", f"{name} {item.custom_id!r} was already used "
                              f"{'on' if first.startswith('line') else 'at'} {first}", number)
            else:
                seen_ids[item.custom_id] = number
            for finding in provider.check_request(item):
                yield Finding(finding.code, finding.message, number, finding.severity, finding.scope)
            for finding in file_rules.see(item):
                yield Finding(finding.code, finding.message, number, finding.severity, finding.scope)
            if file_rules.request_checks(item):
                yield from _check_request(counter, item, number, provider)
    bounds = (provider or providers.default()).limits()
    if requests > bounds.max_requests:
        yield Finding("too-many-requests", f"{requests:,} requests; a batch holds at most "
                      f"{bounds.max_requests:,} (use `batchcost split`)")
    if total_bytes > bounds.max_bytes:
        yield Finding("file-too-large", f"{total_bytes:,} bytes; a batch holds at most "
                      f"{bounds.max_bytes:,} (use `batchcost split`)")
    for finding in (file_rules.finish() if file_rules is not None else ()):
        yield Finding(finding.code, finding.message, None, finding.severity, finding.scope)
    if requests == 0:
        yield Finding("empty", "the plan has no requests")


def _check_request(counter: PlanCounter, item: PlanLine, number: int, provider: Provider) -> Iterator[Finding]:
    """One request's model, context window and output bound (as the provider reads the bound); a request of several
    inputs (embeddings) has each input judged against the window, and their number against the model's most."""
    try:
        info = counter.model_info(item.model, item.provider)
        counted = counter.counter(item.model, item.provider).count(item.url, item.body)
    except BatchcostError as exc:
        yield Finding("unknown-model" if "unknown model" in exc.message else "invalid-body", exc.message, number)
        return
    except RecursionError:
        yield Finding("invalid-body", "the request is nested too deeply to count", number)
        return
    context, max_out = info.context_window, info.max_output_tokens
    if counted.inputs is not None:
        longest = max(counted.inputs, default=0)
        if context and longest > context:
            yield Finding("input-too-long", f"an embedding input has {longest:,} tokens; {info.name} accepts at "
                          f"most {context:,}", number)
        if info.max_inputs and len(counted.inputs) > info.max_inputs:
            yield Finding("too-many-inputs", f"{len(counted.inputs):,} inputs in one request; {info.name} accepts at "
                          f"most {info.max_inputs:,}", number)
        return
    # an approximate count: only what is sure to be over is reported (the band's low)
    tokens = counted.input_tokens if counted.low is None else counted.low
    if context and tokens > context:
        yield Finding("context-window", f"input of {tokens:,} tokens exceeds the {context:,}-token "
                      f"context window of {info.name}", number)
    bound = provider.output_bound(item.body)
    if bound and max_out is not None and bound[1] > max_out:
        yield Finding("max-output", f"{bound[0]} {bound[1]:,} exceeds {info.name}'s maximum output of "
                      f"{max_out:,} tokens", number)
    elif bound and context and tokens + bound[1] > context:
        yield Finding("context-window", f"input {tokens:,} + {bound[0]} {bound[1]:,} exceeds the "
                      f"{context:,}-token context window of {info.name}", number)
