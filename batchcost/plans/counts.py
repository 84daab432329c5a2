"""Count every request of a plan, streaming, one Counter per model."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BatchcostError, PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.plans.reader import read_plan
from batchcost.providers.base import Counter
from batchcost.tokens.models import ModelInfo, custom_model, resolve_model
from batchcost.tokens.text import RequestCount


@dataclass(slots=True)
class CountedRequest:
    """One plan line with its counts: the record ``count --format jsonl`` prints."""

    line: int
    custom_id: str
    model: str
    endpoint: str
    input_tokens: int
    max_output_tokens: int | None
    approximate: bool = False
    notes: list[str] = field(default_factory=list)
    family: str = ""
    nbytes: int = 0
    prefix_tokens: int = 0
    fingerprint: str = ""
    provider: str = ""
    basis: str = "tokenizer"  # tokenizer (exact offline), approximation, online (the provider counted it)
    input_low: int | None = None  # an approximate count's stated band; None when the count is exact
    input_high: int | None = None
    cache_ttl: str | None = None  # an explicit cache breakpoint: written at the 5-minute or 1-hour rate
    cache_key: str = ""
    tools_key: bytes = b""  # digest of the tools block: one verdict per distinct block (check's tool rules)
    image_input_tokens: int = 0  # image models: the input tokens that are image tokens
    image_output: tuple | None = None  # image models: (low, expected, high) image output tokens
    video: tuple | None = None  # video models: (size, seconds)

    def contract(self) -> dict:
        """The DESIGN.md jsonl object, plus ``approximate`` (and ``notes`` when approximate)."""
        record: dict[str, Any] = {
            "line": self.line,
            "custom_id": self.custom_id if providers.get(self.provider).id_field is not None else None,
            "model": self.model,
            "endpoint": self.endpoint,
            "input_tokens": self.input_tokens,
            "max_output_tokens": self.max_output_tokens,
            "approximate": self.approximate,
            "provider": self.provider,
            "count_basis": self.basis,
        }
        if self.input_low is not None:
            record["input_tokens_low"] = self.input_low
            record["input_tokens_high"] = self.input_high
        if self.image_output is not None:
            record["image_input_tokens"] = self.image_input_tokens
            record["image_output_tokens"] = dict(zip(("low", "expected", "high"), self.image_output))
        if self.video is not None:
            record["video"] = {"size": self.video[0], "seconds": self.video[1]}
        if self.notes:
            record["notes"] = self.notes
        return record


class PlanCounter:
    """Counts plan lines; keeps one memoising Counter per model name, made by the line's provider.

    ``corrections``, when given, is where what reconciles learned about approximate counts comes from (a function
    giving family -> (low, central, high) multipliers: the calibration store's, passed in by the caller): it is
    called once, when the first approximate model is met, so a plan of exact counts never opens the store."""

    def __init__(self, *, encoding: str | None = None, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False,
                 corrections: Callable[[], dict] | None = None):
        self.fingerprints = fingerprints
        self.source: Path | None = None  # the file being counted, for error messages
        self.encoding = encoding
        self.assume_image_size = assume_image_size
        self.base_dir = base_dir
        self._counters: dict[str, Counter] = {}
        self._served: dict[str, set] = {}  # model -> other providers found to serve it (Vertex serves Gemini's)
        self._corrections_from = corrections
        self.corrections: dict | None = None  # family -> calibrated (low, central, high) ratios, once read

    def model_info(self, name: str, provider: str | None = None) -> ModelInfo:
        """The model's registry entry (``--encoding``: a private model counted with that encoding), or the one the
        line's provider knows of its own."""
        counted = self._counters.get(name)
        if counted is not None:  # a model already met: what its counter was made for
            return counted.model
        if self.encoding:
            return custom_model(name, self.encoding)
        if provider is not None:
            own = providers.get(provider).model_info(name)
            if own is not None:
                return own
        return resolve_model(name)

    def counter(self, name: str, provider: str) -> Counter:
        """The model's counter, made by its provider; a model of another provider than the line's is an error (a
        cached counter is checked too)."""
        counter = self._counters.get(name)
        if counter is None:
            info = self.model_info(name, provider)
            self._check_provider(name, info.provider, provider)
            options: dict = {"assume_image_size": self.assume_image_size, "base_dir": self.base_dir,
                             "fingerprints": self.fingerprints}
            if info.approximation is not None and self._corrections_from is not None:
                if self.corrections is None:  # read once, and only for a plan of approximate counts
                    self.corrections = self._corrections_from()
                options["correction"] = self.corrections.get(info.name)
            counter = self._counters[name] = providers.get(provider).counter(info, **options)
        elif counter.model.provider != provider and provider not in self._served.get(name, ()):
            self._check_provider(name, counter.model.provider, provider)
            self._served.setdefault(name, set()).add(provider)
        return counter

    @staticmethod
    def _check_provider(name: str, owner: str, provider: str) -> None:
        if owner != provider and owner != (providers.get(provider).models_of or provider):
            from batchcost.core.errors import UnknownModel

            raise UnknownModel(f"model {name!r} is not one of {provider}'s (it is {owner}'s), but "
                               f"{providers.describe(provider)} names it")

    def count_line(self, item: PlanLine, path: Path) -> CountedRequest:
        self.source = path
        try:
            counter = self.counter(item.model, item.provider)
            result = counter.count(item.url, item.body)
        except BatchcostError as exc:  # errors from the body or the model name get this file and line
            if exc.path is None:
                raise type(exc)(exc.message, path=path, line=item.line) from None
            raise
        except RecursionError:
            raise PlanError("the request is nested too deeply to count", path=path, line=item.line) from None
        return CountedRequest(item.line, item.custom_id, item.model, item.url, result.input_tokens,
                              result.max_output_tokens, result.approximate, result.notes, counter.model.name,
                              item.nbytes, result.prefix_tokens, result.fingerprint, item.provider, result.basis,
                              result.low, result.high, result.cache_ttl, result.cache_key, result.tools_key,
                              result.image_input_tokens, result.image_output, result.video)


def count_plan(path: str | Path, *, encoding: str | None = None, assume_image_size: tuple[int, int] | None = None,
               options: ReadOptions = PLAIN, corrections: Callable[[], dict] | None = None
               ) -> Iterator[CountedRequest]:
    """Yield a ``CountedRequest`` per plan line, in plan order, never holding the whole plan (``corrections``: see
    ``PlanCounter``)."""
    path = Path(path)
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=path.parent,
                          corrections=corrections)
    for item in read_plan(path, options=options):
        yield counter.count_line(item, path)


def count_request(body: dict, endpoint: str | None = None, *, model: str | None = None, provider: str | None = None,
                  encoding: str | None = None, assume_image_size: tuple[int, int] | None = None) -> RequestCount:
    """Count one request body as its provider will bill it. ``model`` defaults to ``body["model"]``; the provider
    is the model's (``provider`` for a private model counted with ``encoding``), and ``endpoint`` its usual request
    kind unless given."""
    name = model or body.get("model") if isinstance(body, dict) else model
    if not isinstance(name, str):
        raise PlanError("body.model is missing")
    if encoding:
        info = custom_model(name, encoding)
    else:
        if provider is None and name in providers.claims():  # an OpenAI-compatible service's own model
            provider = providers.claims()[name].name
        own = providers.get(provider).model_info(name) if provider is not None else None
        info = own if own is not None else resolve_model(name)
    owner = providers.get(provider or info.provider)
    counter = owner.counter(info, assume_image_size=assume_image_size)
    return counter.count(endpoint or owner.endpoint, body)
