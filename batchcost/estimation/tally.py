"""Integer sums over a plan's requests, mergeable in plan order (what a worker returns for its part), and the hot
loop that adds the commonest request to them with no object made for it (``tally_plan_lines``; its provider's
``FastPath``), beside the general path it must equal (tests compare the two)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from batchcost import providers
from batchcost.core.errors import BatchcostError, PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.estimation.forecast import CalibratedForecast, CalibrationSource, OutputForecast, forecast_output
from batchcost.plans.counts import CountedRequest, PlanCounter
from batchcost.plans.reader import fast_loads, parse_line
from batchcost.pricing.tables import PriceTable


@dataclass
class Bucket:
    """Integer token sums for one model, split by long-context pricing."""

    requests: int = 0
    input_tokens: int = 0
    long_input_tokens: int = 0
    long_requests: int = 0
    out: list[int] = field(default_factory=lambda: [0, 0, 0])       # low, expected, high (normal)
    long_out: list[int] = field(default_factory=lambda: [0, 0, 0])  # low, expected, high (long context)
    unbounded: int = 0  # requests with no output bound at all: high is unknown
    band: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # approximate counts: below, above (normal, long)
    approximate: int = 0  # requests whose count is an approximation with a band
    image_in: int = 0  # image models: input tokens that are image tokens (priced at the image input rate)
    image_out: list[int] = field(default_factory=lambda: [0, 0, 0])  # image output tokens: low, expected, high
    video: dict = field(default_factory=dict)  # video models: size -> seconds (priced per second by size)


def _add(bucket: Bucket, record: CountedRequest, out: tuple, long_threshold: int | None) -> None:
    low, expected, high = out
    bucket.requests += 1
    is_long = long_threshold is not None and record.input_tokens > long_threshold
    if is_long:
        bucket.long_requests += 1
        bucket.long_input_tokens += record.input_tokens
    else:
        bucket.input_tokens += record.input_tokens
    if record.input_low is not None:
        bucket.approximate += 1
        bucket.band[2 if is_long else 0] += record.input_tokens - record.input_low
        high_in = record.input_high if record.input_high is not None else record.input_tokens
        bucket.band[3 if is_long else 1] += high_in - record.input_tokens
    if record.image_output is not None:
        bucket.image_in += record.image_input_tokens
        for i, value in enumerate(record.image_output):
            bucket.image_out[i] += value or 0
    if record.video is not None:
        size, seconds = record.video
        bucket.video[size] = bucket.video.get(size, 0) + seconds
    sums = bucket.long_out if is_long else bucket.out
    sums[0] += low
    sums[1] += expected or 0
    if high is None:
        bucket.unbounded += 1
    else:
        sums[2] += high


MIN_CACHEABLE, CACHE_STEP = 1024, 128  # the API caches prompts of 1,024 tokens or more, in 128-token steps


def cacheable_tokens(prefix_tokens: int) -> int:
    if prefix_tokens < MIN_CACHEABLE:
        return 0
    return MIN_CACHEABLE + (prefix_tokens - MIN_CACHEABLE) // CACHE_STEP * CACHE_STEP


@dataclass
class Tally:
    """Integer sums over a run of requests, mergeable in plan order: what a worker (a process, a Dask task)
    returns for its part of a plan. ``finish`` turns a whole plan's tally into an Estimate."""

    buckets: dict[str, Bucket] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    endpoints: list[str] = field(default_factory=list)
    cache_first: dict[tuple[str, str], int] = field(default_factory=dict)  # cacheable tokens of the first use
    cache_total: dict[tuple[str, str], int] = field(default_factory=dict)  # cacheable tokens of every use
    cache_observed: float = 0.0
    has_observed: bool = False
    forecast: dict = field(default_factory=dict)  # the forecast's own tally (calibrated basis)
    provider: str | None = None  # the plan's provider: one per plan
    provider_line: int = 0
    # explicit cache breakpoints, by (model, prefix key, ttl, long context): tokens of the first use, of every use
    marked_first: dict[tuple, int] = field(default_factory=dict)
    marked_total: dict[tuple, int] = field(default_factory=dict)
    failing: int = 0  # requests check expects the provider to refuse (counted, priced, not billed): None-free

    def _provider(self, provider: str, line: int) -> None:
        if self.provider is None:
            self.provider, self.provider_line = provider, line
        elif provider != self.provider:
            from batchcost import providers

            raise PlanError(providers.mixed(provider, self.provider, self.provider_line), line=line)

    def add(self, record: CountedRequest, out: tuple, long_threshold: int | None, calibration=None) -> None:
        if record.provider != self.provider:
            self._provider(record.provider, record.line)
        if record.model not in self.buckets:
            self.buckets[record.model] = Bucket()
        _add(self.buckets[record.model], record, out, long_threshold)
        if record.endpoint not in self.endpoints:
            self.endpoints.append(record.endpoint)
        for note in record.notes:
            self.notes[note] = self.notes.get(note, 0) + 1
        if record.cache_ttl is not None:  # an explicit breakpoint: written once, then read (while it lives)
            marked = (record.model, record.cache_key, record.cache_ttl,
                      long_threshold is not None and record.input_tokens > long_threshold)
            self.marked_first.setdefault(marked, record.prefix_tokens)
            self.marked_total[marked] = self.marked_total.get(marked, 0) + record.prefix_tokens
        elif record.prefix_tokens >= MIN_CACHEABLE:  # shorter prefixes are never cached: nothing to track
            key = (record.model, record.fingerprint)
            cacheable = min(cacheable_tokens(record.prefix_tokens), record.input_tokens)
            if key not in self.cache_first:
                self.cache_first[key] = cacheable
            self.cache_total[key] = self.cache_total.get(key, 0) + cacheable
        if calibration is not None:
            stats = calibration.stats(record.family, record.fingerprint)
            if stats is not None:
                self.has_observed = True
                self.cache_observed += stats.cache_rate * record.input_tokens

    def marks(self, model: str) -> dict[tuple[str, bool], tuple[int, int]]:
        """A model's explicit cache breakpoints: (ttl, long context) -> (tokens of first uses, of all uses)."""
        out: dict = {}
        for (name, key, ttl, long), total in self.marked_total.items():
            if name == model:
                first, all_uses = out.get((ttl, long), (0, 0))
                out[ttl, long] = (first + self.marked_first[name, key, ttl, long], all_uses + total)
        return out

    def merge(self, later: Tally) -> Tally:
        """Add the tally of the part of the plan that comes after this one."""
        if later.provider is not None:
            self._provider(later.provider, later.provider_line)
        for model, b in later.buckets.items():
            mine = self.buckets.setdefault(model, Bucket())
            mine.requests += b.requests
            mine.input_tokens += b.input_tokens
            mine.long_input_tokens += b.long_input_tokens
            mine.long_requests += b.long_requests
            mine.unbounded += b.unbounded
            mine.approximate += b.approximate
            mine.image_in += b.image_in
            for size, seconds in b.video.items():
                mine.video[size] = mine.video.get(size, 0) + seconds
            for i in range(4):
                mine.band[i] += b.band[i]
            for i in range(3):
                mine.out[i] += b.out[i]
                mine.long_out[i] += b.long_out[i]
                mine.image_out[i] += b.image_out[i]
        for note, n in later.notes.items():
            self.notes[note] = self.notes.get(note, 0) + n
        self.endpoints += [e for e in later.endpoints if e not in self.endpoints]
        for key, first in later.cache_first.items():
            self.cache_first.setdefault(key, first)
        for key, total in later.cache_total.items():
            self.cache_total[key] = self.cache_total.get(key, 0) + total
        for key, first in later.marked_first.items():
            self.marked_first.setdefault(key, first)
        for key, total in later.marked_total.items():
            self.marked_total[key] = self.marked_total.get(key, 0) + total
        self.cache_observed += later.cache_observed
        self.failing += later.failing
        self.has_observed = self.has_observed or later.has_observed
        for key, value in later.forecast.items():
            if isinstance(value, dict):
                self.forecast.setdefault(key, {}).update(value)
            else:
                self.forecast[key] = self.forecast.get(key, 0) + value
        return self


class Adder:
    """Forecasts, prices and sums counted requests one at a time. Prices are looked up once per model: no price is
    an error, never $0."""

    def __init__(self, prices: PriceTable, counter: PlanCounter, forecast: OutputForecast,
                 on_request: Callable | None = None):
        self.tally = Tally()
        self.prices, self.counter, self.forecast, self.on_request = prices, counter, forecast, on_request
        self.model_price: dict = {}
        self.model_bound: dict = {}
        self.plain_max = type(forecast) is OutputForecast and forecast.basis == "max"  # the default, inlined
        # the calibrated forecast's store, once it is opened (for the observed cache rate)
        self.calibration: CalibrationSource | None = None

    def add(self, record: CountedRequest) -> None:
        price = self.model_price.get(record.model)
        if price is None:
            try:
                price = self.model_price[record.model] = self.prices.lookup(record.model)
            except BatchcostError as exc:  # name the first line that needs the missing price
                raise type(exc)(exc.message, path=self.counter.source, line=record.line) from None
            self.model_bound[record.model] = self.counter.model_info(record.model, record.provider).max_output_tokens
        bound = record.max_output_tokens
        if bound is None:
            bound = self.model_bound[record.model]
        lc = price.long_context
        if self.plain_max and record.image_output is None and record.video is None:
            out = (0, bound, bound)
        else:
            out = forecast_output(record, self.forecast, bound)
        if self.calibration is None and isinstance(self.forecast, CalibratedForecast):
            self.calibration = self.forecast.calibration
        try:
            self.tally.add(record, out, lc.above_input_tokens if lc else None, self.calibration)
        except PlanError:  # a line of another provider: said with the file (and, in a job, the file it came from)
            from batchcost import providers

            source = self.counter.source
            raise PlanError(providers.mixed(record.provider, self.tally.provider or "?", self.tally.provider_line,
                                            None if source is None else str(source)),
                            path=source, line=record.line) from None
        if self.on_request is not None:
            self.on_request(record, price, out, lc is not None and record.input_tokens > lc.above_input_tokens)

    def done(self) -> Tally:
        self.tally.forecast = self.forecast.tally()
        return self.tally


def tally_records(records: Iterable[CountedRequest], prices: PriceTable, counter: PlanCounter,
                  forecast: OutputForecast, on_request: Callable | None = None) -> Tally:
    """Count, forecast and sum requests."""
    adder = Adder(prices, counter, forecast, on_request)
    add = adder.add
    for record in records:
        add(record)
    return adder.done()


PROGRESS_EVERY = 1 << 20  # bytes between progress reports


def tally_plan_lines(lines: Iterable[bytes], path: Path, prices: PriceTable, counter: PlanCounter,
                     forecast: OutputForecast, progress: Callable[[int], None] | None = None,
                     options: ReadOptions = PLAIN) -> Tally:
    """``tally_records`` over a plan's raw lines (numbered from 1), with the commonest request summed in one loop.

    The plan's provider may offer a shortcut for its commonest line (``Provider.fast_path``: OpenAI's plain chat
    request). Such a line of a model already seen, under the default or a fixed output forecast, with a known output
    bound, no cacheable prefix and not over a long-context threshold, is added to its model's sums with no object
    made for it: on plans of unique texts that leaves nearly all the time to the tokenizer. Every other line (the
    first of each model, and anything unusual or wrong) takes the general path: ``parse_line``, ``count_line``,
    ``Adder.add``, which gives the same sums (tests compare the two)."""
    adder = Adder(prices, counter, forecast)
    plain = type(forecast) is OutputForecast  # "max" or "fixed"; calibrated forecasts look at every request
    per_request = forecast.per_request
    fast = None  # the plan's provider's shortcut, once its first line is read
    take = None
    known: dict[str, tuple] = {}  # model -> (plain count, its bucket, default bound, long threshold, fail keys, test)
    number = unreported = 0
    current = None  # the model of the last fast line; its sums wait in locals until the model changes
    requests = tokens = expected = high = 0
    for raw in lines:
        number += 1
        if progress is not None:
            unreported += len(raw)
            if unreported >= PROGRESS_EVERY:
                progress(unreported)
                unreported = 0
        try:
            obj = fast_loads(raw)
        except ValueError:  # blank, BOM, not JSON: parse_line says what
            obj = None
        taken = take(obj) if take is not None and type(obj) is dict else None
        if taken is not None:
            model, body = taken
            if (entry := known.get(model)) is not None and (counts := entry[0](body)) is not None:
                if not entry[4].isdisjoint(body) and entry[5](body):  # check would refuse it: say so
                    adder.tally.failing += 1
                total, prefix, bound = counts
                if bound is None:
                    bound = entry[2]
                if bound is not None and prefix < MIN_CACHEABLE and (entry[3] is None or total <= entry[3]):
                    if model != current:
                        if current is not None:
                            _add_sums(known[current][1], requests, tokens, expected, high)
                        current, requests, tokens, expected, high = model, 0, 0, 0, 0
                    requests += 1
                    tokens += total
                    expected += bound if per_request is None else min(per_request, bound)  # forecast(bound)
                    high += bound
                    continue
        item = parse_line(raw, path, number, obj, options)
        if item is None:
            continue
        record = counter.count_line(item, path)
        adder.add(record)
        if request_fails(item, counter, record.tools_key):
            adder.tally.failing += 1
        if plain and fast is None and take is None:  # the first request: its provider's shortcut, if any
            fast = providers.get(item.provider).fast_path()
            take = fast.take if fast is not None else None
            taken = take(obj) if take is not None and type(obj) is dict else None
        if taken is not None and item.model not in known:
            assert fast is not None  # what took the line
            lc = adder.model_price[item.model].long_context
            known[item.model] = (fast.plain_of(counter.counter(item.model, item.provider)),
                                 adder.tally.buckets[item.model], adder.model_bound[item.model],
                                 lc.above_input_tokens if lc else None, *fast.fails(record.family))
    if current is not None:
        _add_sums(known[current][1], requests, tokens, expected, high)
    if progress is not None and unreported:
        progress(unreported)
    return adder.done()


def request_fails(item: PlanLine, counter: PlanCounter, tools_key: bytes = b"") -> bool:
    """Whether check's per-request rules expect the provider to refuse this request (it is counted and priced,
    but a refused request is not billed: the estimate says how many, without changing the totals)."""
    if type(item.body) is not dict:
        return False
    family = counter.model_info(item.model, item.provider).name
    return providers.get(item.provider).request_fails(item, family, tools_key)


def _add_sums(bucket: Bucket, requests: int, tokens: int, expected: int, high: int) -> None:
    """What ``_add`` does for ``requests`` requests under their model's long-context threshold, in one go."""
    bucket.requests += requests
    bucket.input_tokens += tokens
    bucket.out[1] += expected
    bucket.out[2] += high
