"""The estimate: counts, output-token forecast and prices, real time vs batch, streamed over a plan."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterable, Iterator

from batchcost.providers.openai_rules import failing_validator  # the fast path is OpenAI chat's
from batchcost.errors import BadInput, BatchcostError, BudgetExceeded, PlanError, UsageError
from batchcost.estimator.plan_counts import CountedRequest, PlanCounter
from batchcost.estimator.counting import CHAT
from batchcost.plans.reader import PlanLine, fast_loads, parse_line, read_plan, read_raw_lines
from batchcost.pricing.cost import display_money, exact_money, money, price_tokens
from batchcost.pricing.tables import TIER_NAMES, PriceTable, doubtful_date

TIERS = ("realtime", "batch")


@dataclass(frozen=True)
class OutputForecast:
    """How output tokens are forecast. ``max``: each request's bound (else the model's max output).
    ``fixed``: ``per_request`` tokens expected, capped by the bound. Later bases (calibrated) plug in here."""

    basis: str = "max"
    per_request: int | None = None

    @classmethod
    def parse(cls, value: str | int | None) -> "OutputForecast":
        if value is None or value == "max":
            return cls()
        if value == "calibrated":
            return CalibratedForecast()
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise UsageError(f"--output-tokens must be 'max' or a whole number, not {value!r}") from None
        if number < 0:
            raise UsageError("--output-tokens must not be negative")
        return cls("fixed", number)

    def forecast(self, bound: int | None) -> tuple[int, int | None, int | None]:
        """(low, expected, high) output tokens for one request with this output ``bound``."""
        if self.basis == "fixed":
            expected = self.per_request if bound is None else min(self.per_request, bound)
            return 0, expected, bound
        return 0, bound, bound

    def forecast_request(self, record: CountedRequest, bound: int | None) -> tuple[int, int | None, int | None]:
        return self.forecast(bound)

    def tally(self) -> dict:
        """What this forecast counted while forecasting (mergeable across workers)."""
        return {}

    def describe(self, tally: dict) -> dict:
        return {"per_request": self.per_request} if self.per_request is not None else {}

    @property
    def spec(self) -> str:
        """How to rebuild this forecast in another process (``OutputForecast.parse(spec)``)."""
        return str(self.per_request) if self.basis == "fixed" else self.basis


class CalibratedForecast(OutputForecast):
    """Expected output = P50 of what reconciles observed for the same model and template fingerprint (capped by
    the bound); P90 is reported as a high-confidence figure; high stays the bound. No history: the bound."""

    def __init__(self, calibration=None):
        object.__setattr__(self, "basis", "calibrated")
        object.__setattr__(self, "per_request", None)
        object.__setattr__(self, "_calibration", calibration)
        object.__setattr__(self, "_tally", {"calibrated": 0, "fallback": 0, "p90": 0, "keys": {}})

    @property
    def calibration(self):
        if self._calibration is None:
            from batchcost.calibration import Calibration

            object.__setattr__(self, "_calibration", Calibration())
        return self._calibration

    def forecast_request(self, record: CountedRequest, bound: int | None) -> tuple[int, int | None, int | None]:
        stats = self.calibration.stats(record.family, record.fingerprint)
        tally = self._tally
        if stats is None:
            tally["fallback"] += 1
            tally["p90"] += bound or 0
            return 0, bound, bound
        tally["calibrated"] += 1
        tally["keys"][(record.family, record.fingerprint)] = stats.n
        cap = (lambda v: v) if bound is None else (lambda v: min(v, bound))
        tally["p90"] += cap(stats.p90)
        return 0, cap(stats.p50), bound

    def tally(self) -> dict:
        t = self._tally
        return {"calibrated": t["calibrated"], "fallback": t["fallback"], "p90": t["p90"], "keys": dict(t["keys"])}

    def describe(self, tally: dict) -> dict:
        return {"observations": sum(tally.get("keys", {}).values()), "requests_calibrated": tally.get("calibrated", 0),
                "requests_without_history": tally.get("fallback", 0), "p90": tally.get("p90", 0)}


def output_sentence(output_tokens: dict) -> str:
    """How the output tokens were forecast, as one sentence (the CLI table and the report say the same)."""
    basis = output_tokens.get("basis")
    if basis == "fixed":
        return (f"Output: {output_tokens['per_request']:,} tokens per request expected, capped by each bound; high "
                "is the bound; low is 0.")
    if basis == "calibrated":
        calibrated = output_tokens.get("requests_calibrated", 0)
        without = output_tokens.get("requests_without_history", 0)
        return (f"Output: calibrated: expected is the median output earlier reconciles of the same template and "
                f"model observed ({output_tokens.get('observations', 0):,} observations; {calibrated:,} request(s) "
                f"calibrated, {without:,} without history at their bound), capped by each bound; P90 "
                f"{output_tokens.get('p90', 0):,} tokens; high is the bound; low is 0.")
    return "Output: each request's max tokens, else the model's max output (a safe ceiling); low is 0."


@dataclass
class _Bucket:
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


@dataclass
class ModelEstimate:
    model: str
    requests: int
    input_tokens: int
    output_tokens: dict
    cost: dict[str, dict[str, Decimal | None]]
    long_context_requests: int = 0
    price_source: dict | None = None  # which table priced this model: file (or database and version), checked_on
    media: dict | None = None  # image models: image input / output tokens; video models: seconds by size

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            **({"price_source": self.price_source} if self.price_source else {}),
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": dict(self.output_tokens),
            **(self.media or {}),
            "cost": _cost_json(self.cost),
            "long_context_requests": self.long_context_requests,
        }


@dataclass
class Estimate:
    plan: dict
    input_tokens: int
    output_tokens: dict
    cost: dict[str, dict[str, Decimal | None]]
    by_model: list[ModelEstimate]
    prices: list[dict]
    warnings: list[str]
    forecast: OutputForecast
    cache: dict = field(default_factory=dict)
    sample: dict | None = None  # set when estimated from a sample: the confidence intervals
    tally: "Tally | None" = field(default=None, repr=False, compare=False)  # the integer sums it was priced from
    prices_at: str | None = None  # the date whose prices were asked for (None: today's)
    input_tokens_range: dict | None = None  # {"low", "high"} when any count is approximate
    online: dict | None = None  # --online: what the provider's counting endpoint was asked

    @property
    @exact_money
    def savings(self) -> Decimal:
        return self.cost["realtime"]["expected"] - self.cost["batch"]["expected"]

    def as_dict(self) -> dict:
        """The DESIGN.md ``estimate --format json`` contract."""
        return {
            "plan": self.plan,
            "input_tokens": self.input_tokens,
            **({"input_tokens_range": self.input_tokens_range} if self.input_tokens_range else {}),
            "output_tokens": dict(self.output_tokens),
            "cost": _cost_json(self.cost),
            "savings": {"expected": money(self.savings)},
            "currency": "USD",
            "by_model": [m.as_dict() for m in self.by_model],
            "prices": self.prices,
            "warnings": self.warnings,
            "cache": self.cache,
            **({"check": {"failing_requests": self.tally.failing}} if self.tally is not None else {}),
            **({"sample": self.sample} if self.sample else {}),
            **({"online": self.online} if self.online else {}),
            **({"prices_at": self.prices_at} if self.prices_at else {}),
        }

    def check_budget(self, budget: Decimal, on: str = "high") -> None:
        """Raise ``BudgetExceeded`` when the batch cost (``high`` or ``expected``) is over ``budget``."""
        cost = self.cost["batch"][on]
        if cost is None:
            raise BudgetExceeded(f"the batch cost has no upper bound (some requests set no max output tokens), so "
                                 f"it cannot be shown to fit the budget {display_money(budget)}; set max_tokens or "
                                 f"use --budget-on expected")
        if cost > budget:
            raise BudgetExceeded(f"estimated batch cost ({on}) {display_money(cost)} exceeds the budget "
                                 f"{display_money(budget)} by {display_money(cost - budget)}")


def _provenance(price) -> dict:
    record = {"file": price.path, "checked_on": price.checked_on.isoformat()}
    if price.extra.get("tier_sources"):
        record["tiers"] = dict(price.extra["tier_sources"])
    return record


def _cost_json(cost: dict) -> dict:
    """Costs by tier as exact decimal strings; a tier not offered stays null."""
    return {tier: None if r is None else {k: money(v) for k, v in r.items()} for tier, r in cost.items()}


@exact_money
def add_tiers(estimate: Estimate, prices: PriceTable, tiers: Iterable[str]) -> Estimate:
    """Price ``estimate`` at more tiers (flex, priority) from the tally it was made from, side by side with real
    time and batch: the same integer sums, whatever engine counted them. A model that does not offer a tier has a
    null cost there, and so has the plan's total; a warning says so. Never another tier's price."""
    if estimate.tally is None:
        raise UsageError("--tiers beyond standard and batch needs a counted plan, not a sample")
    for tier in tiers:
        tier = TIER_NAMES[tier]
        if tier in estimate.cost:
            continue
        for m in estimate.by_model:
            price = prices.lookup(m.model, tiers=(tier,))
            if price.offers(tier):
                m.cost[tier] = _price_bucket(estimate.tally.buckets[m.model], price, tier,
                                             estimate.tally.marks(m.model))
                m.price_source = _provenance(price)
                source = price.extra.get("tier_sources", {}).get(tier)
                if source and all(s["path"] != source for s in estimate.prices):
                    estimate.prices += [s.as_dict() for s in prices.sources if s.path == source]
            else:
                m.cost[tier] = None
                where = price.path + (" or the price database" if prices.database else "")
                estimate.warnings.append(f"{m.model}: not offered at the {tier} tier (no {tier} price in {where}); "
                                         "shown as not offered, never at another tier's price")
        parts = [m.cost[tier] for m in estimate.by_model]
        estimate.cost[tier] = None if any(p is None for p in parts) else {
            k: _sum(p[k] for p in parts) for k in ("low", "expected", "high")}
    return estimate


def cheapest_tier(estimate: Estimate) -> str | None:
    """The tier with the lowest expected cost among those priced, for the sentence a person acts on."""
    offered = {t: c["expected"] for t, c in estimate.cost.items() if c is not None and c["expected"] is not None}
    return min(offered, key=offered.get) if offered else None


def tier_advice(estimate: Estimate) -> str:
    """The sentence a person acts on (the table and the report say the same): the cheapest tier priced for this
    plan, what it gives up, and the tiers not offered."""
    from batchcost.pricing.tables import TURNAROUND

    best = cheapest_tier(estimate)
    if best is None:
        return ""
    absent = [t for t, c in estimate.cost.items() if c is None]
    missing = f" Not offered for this plan: {', '.join(absent)}." if absent else ""
    name = "standard" if best == "realtime" else best
    return (f"Cheapest tier for this plan: {name}, {display_money(estimate.cost[best]['expected'])} expected; what "
            f"it gives up: {TURNAROUND[best]}.{missing}")


def forecast_output(record: CountedRequest, forecast: OutputForecast, bound: int | None) -> tuple:
    """(low, expected, high) output tokens of one request: an image request's image tokens and a video's none are
    known from the request itself; any other request's come from the forecast."""
    if record.image_output is not None:
        return record.image_output
    if record.video is not None:
        return (0, 0, 0)
    return forecast.forecast_request(record, bound)


def request_cost(price, tier: str, record: CountedRequest, output: int, *, input_tokens: int | None = None,
                 long_context: bool = False) -> Decimal:
    """One request's cost at ``tier`` with ``output`` output tokens (image tokens for an image request; a video's
    seconds by size); ``input_tokens`` overrides the record's (an approximate count's band ends)."""
    media: dict = {}
    if record.image_output is not None:
        media = {"image_input_tokens": record.image_input_tokens, "image_output_tokens": output}
    elif record.video is not None:
        media = {"video_size": record.video[0], "video_seconds": record.video[1]}
    return price_tokens(price, tier, input_tokens=record.input_tokens if input_tokens is None else input_tokens,
                        output_tokens=output, long_context=long_context, **media)


def _add(bucket: _Bucket, record: CountedRequest, out: tuple, long_threshold: int | None) -> None:
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
        bucket.band[3 if is_long else 1] += record.input_high - record.input_tokens
    if record.image_output is not None:
        bucket.image_in += record.image_input_tokens
        for i, value in enumerate(record.image_output):
            bucket.image_out[i] += value or 0
    if record.video is not None:
        size, seconds = record.video
        bucket.video[size] = bucket.video.get(size, 0) + seconds
    out = bucket.long_out if is_long else bucket.out
    out[0] += low
    out[1] += expected or 0
    if high is None:
        bucket.unbounded += 1
    else:
        out[2] += high


@exact_money
def _price_bucket(bucket: _Bucket, price, tier: str, marks: dict | None = None) -> dict[str, Decimal | None]:
    """A model's sums priced at ``tier``: low / expected / high; ``marks`` are its cache breakpoints
    (``Tally.marks``)."""
    result = {}
    for i, key in enumerate(("low", "expected", "high")):
        if key == "high" and bucket.unbounded:
            result[key] = None
            continue
        # low and high take the low and high of an approximate count's band
        shift, long_shift = {"low": (-bucket.band[0], -bucket.band[2]), "expected": (0, 0),
                             "high": (bucket.band[1], bucket.band[3])}[key]
        result[key] = (price_tokens(price, tier, input_tokens=bucket.input_tokens + shift,
                                    output_tokens=bucket.out[i], image_input_tokens=bucket.image_in,
                                    image_output_tokens=bucket.image_out[i])
                       + sum((price_tokens(price, tier, input_tokens=0, video_seconds=seconds, video_size=size)
                              for size, seconds in bucket.video.items()), Decimal(0))
                       + price_tokens(price, tier, input_tokens=bucket.long_input_tokens + long_shift,
                                      output_tokens=bucket.long_out[i], long_context=True))
    for (ttl, long), (first, total) in (marks or {}).items():
        best, worst = breakpoint_premium(price, tier, ttl, long, first, total)
        result["low"] += best
        result["expected"] += best
        if result["high"] is not None:
            result["high"] += worst
    return result


@exact_money
def breakpoint_premium(price, tier: str, ttl: str, long: bool, first: int, total: int) -> tuple[Decimal, Decimal]:
    """What explicit cache breakpoints add to a plain-input price for ``total`` prefix tokens of which ``first``
    are each distinct prefix's first use: (best, worst). Best: each prefix written once at its write rate (5-minute
    or 1-hour) and read at the cache-read rate after; worst: written on every use (cache hits inside a batch are
    best effort). No write price is an error, never $0."""
    plain = price_tokens(price, tier, input_tokens=total, long_context=long)
    write = "cache_write_1h_tokens" if ttl == "1h" else "cache_write_tokens"
    best = price_tokens(price, tier, input_tokens=total, cached_input_tokens=total - first, long_context=long,
                        **{write: first})
    worst = price_tokens(price, tier, input_tokens=total, long_context=long, **{write: total})
    return best - plain, worst - plain


MIN_CACHEABLE, CACHE_STEP = 1024, 128  # the API caches prompts of 1,024 tokens or more, in 128-token steps


def cacheable_tokens(prefix_tokens: int) -> int:
    if prefix_tokens < MIN_CACHEABLE:
        return 0
    return MIN_CACHEABLE + (prefix_tokens - MIN_CACHEABLE) // CACHE_STEP * CACHE_STEP


@dataclass
class Tally:
    """Integer sums over a run of requests, mergeable in plan order: what a worker (a process, a Dask task)
    returns for its part of a plan. ``finish`` turns a whole plan's tally into an Estimate."""

    buckets: dict[str, _Bucket] = field(default_factory=dict)
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
            self.buckets[record.model] = _Bucket()
        _add(self.buckets[record.model], record, out, long_threshold)
        if record.endpoint not in self.endpoints:
            self.endpoints.append(record.endpoint)
        for note in record.notes:
            self.notes[note] = self.notes.get(note, 0) + 1
        if record.cache_ttl is not None:  # an explicit breakpoint: written once, then read (while it lives)
            key = (record.model, record.cache_key, record.cache_ttl,
                   long_threshold is not None and record.input_tokens > long_threshold)
            self.marked_first.setdefault(key, record.prefix_tokens)
            self.marked_total[key] = self.marked_total.get(key, 0) + record.prefix_tokens
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

    def merge(self, later: "Tally") -> "Tally":
        """Add the tally of the part of the plan that comes after this one."""
        if later.provider is not None:
            self._provider(later.provider, later.provider_line)
        for model, b in later.buckets.items():
            mine = self.buckets.setdefault(model, _Bucket())
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

    @exact_money
    def cache_summary(self, prices: PriceTable) -> dict:
        cached_by_model: dict[str, int] = {}
        for key, total in self.cache_total.items():
            cached_by_model[key[0]] = cached_by_model.get(key[0], 0) + total - self.cache_first[key]
        saving = {tier: sum((price_tokens(prices.lookup(m), tier, input_tokens=c)
                             - price_tokens(prices.lookup(m), tier, input_tokens=c, cached_input_tokens=c))
                            for m, c in cached_by_model.items()) or Decimal(0) for tier in TIERS}
        summary = {"cached_input_tokens": {"low": 0, "high": sum(cached_by_model.values()),
                                           "observed": round(self.cache_observed) if self.has_observed else None},
                   "savings_if_cached": {tier: money(v) for tier, v in saving.items()},
                   "note": "costs assume no cache hits; high = every shared prefix of 1,024+ tokens cached after its "
                           "first use"}
        if self.marked_total:
            first, total = sum(self.marked_first.values()), sum(self.marked_total.values())
            summary["breakpoints"] = {
                "prefixes": len(self.marked_total), "cache_write_tokens": {"expected": first, "high": total},
                "cache_read_tokens": {"expected": total - first, "high": 0},
                "note": "cache_control breakpoints are priced in the costs: low and expected write each distinct "
                        "prefix once (at the 5-minute or 1-hour write rate) and read it after; high writes it on "
                        "every request"}
        return summary


class _Adder:
    """Forecasts, prices and sums counted requests one at a time. Prices are looked up once per model: no price is
    an error, never $0."""

    def __init__(self, prices: PriceTable, counter: PlanCounter, forecast: OutputForecast,
                 on_request: Callable | None = None):
        self.tally = Tally()
        self.prices, self.counter, self.forecast, self.on_request = prices, counter, forecast, on_request
        self.model_price: dict = {}
        self.model_bound: dict = {}
        self.plain_max = type(forecast) is OutputForecast and forecast.basis == "max"  # the default, inlined
        self.calibration = getattr(forecast, "_calibration", None) if forecast.basis == "calibrated" else None

    def add(self, record: CountedRequest) -> None:
        price = self.model_price.get(record.model)
        if price is None:
            try:
                price = self.model_price[record.model] = self.prices.lookup(record.model)
            except BatchcostError as exc:  # name the first line that needs the missing price
                raise type(exc)(exc.message, path=self.counter.source, line=record.line) from None
            self.model_bound[record.model] = self.counter.model_info(record.model).max_output_tokens
        bound = record.max_output_tokens
        if bound is None:
            bound = self.model_bound[record.model]
        lc = price.long_context
        if self.plain_max and record.image_output is None and record.video is None:
            out = (0, bound, bound)
        else:
            out = forecast_output(record, self.forecast, bound)
        if self.calibration is None and self.forecast.basis == "calibrated":
            self.calibration = self.forecast.calibration
        try:
            self.tally.add(record, out, lc.above_input_tokens if lc else None, self.calibration)
        except PlanError:  # a line of another provider: said with the file (and, in a job, the file it came from)
            from batchcost import providers

            source = self.counter.source
            raise PlanError(providers.mixed(record.provider, self.tally.provider, self.tally.provider_line,
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
    adder = _Adder(prices, counter, forecast, on_request)
    add = adder.add
    for record in records:
        add(record)
    return adder.done()


PROGRESS_EVERY = 1 << 20  # bytes between progress reports


def tally_plan_lines(lines: Iterable[bytes], path: Path, prices: PriceTable, counter: PlanCounter,
                     forecast: OutputForecast, progress: Callable[[int], None] | None = None) -> Tally:
    """``tally_records`` over a plan's raw lines (numbered from 1), with the commonest request summed in one loop.

    A plain chat request (``Counter.plain_chat``) of a model already seen, under the default or a fixed output
    forecast, with a known output bound, no cacheable prefix and not over a long-context threshold, is added to
    its model's sums with no object made for it: on plans of unique texts that leaves nearly all the time to the
    tokenizer. Every other line (the first of each model, and anything unusual or wrong) takes the general path:
    ``parse_line``, ``count_line``, ``_Adder.add``, which gives the same sums (tests compare the two)."""
    adder = _Adder(prices, counter, forecast)
    fast = type(forecast) is OutputForecast  # "max" or "fixed"; calibrated forecasts look at every request
    per_request = forecast.per_request
    known: dict[str, tuple] = {}  # model -> (its plain_chat, its bucket, its default bound, its long threshold)
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
        if fast and type(obj) is dict:
            body = obj.get("body")
            custom_id = obj.get("custom_id")
            if (type(body) is dict and obj.get("url") == CHAT and type(custom_id) is str and custom_id
                    and type(obj.get("method")) is str and type(model := body.get("model")) is str
                    and (entry := known.get(model)) is not None and (counts := entry[0](body)) is not None):
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
        item = parse_line(raw, path, number, obj)
        if item is None:
            continue
        record = counter.count_line(item, path)
        adder.add(record)
        if request_fails(item, counter, record.tools_key):
            adder.tally.failing += 1
        if fast and item.url == CHAT and item.model not in known:
            lc = adder.model_price[item.model].long_context
            known[item.model] = (counter.counter(item.model).plain_chat, adder.tally.buckets[item.model],
                                 adder.model_bound[item.model], lc.above_input_tokens if lc else None,
                                 *failing_validator(counter.model_info(item.model).name))
    if current is not None:
        _add_sums(known[current][1], requests, tokens, expected, high)
    if progress is not None and unreported:
        progress(unreported)
    return adder.done()


def request_fails(item, counter: PlanCounter, tools_key: bytes = b"") -> bool:
    """Whether check's per-request rules expect the provider to refuse this request (it is counted and priced,
    but a refused request is not billed: the estimate says how many, without changing the totals). The provider
    module's ``request_fails``, where it has one."""
    from batchcost import providers

    check = getattr(providers.get(item.provider), "request_fails", None)
    if check is None or type(item.body) is not dict:
        return False
    return check(item, counter.model_info(item.model).name, tools_key)


def _add_sums(bucket: _Bucket, requests: int, tokens: int, expected: int, high: int) -> None:
    """What ``_add`` does for ``requests`` requests under their model's long-context threshold, in one go."""
    bucket.requests += requests
    bucket.input_tokens += tokens
    bucket.out[1] += expected
    bucket.out[2] += high


@exact_money
def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return total


def estimate_records(records: Iterable[CountedRequest], prices: PriceTable, counter: PlanCounter,
                     forecast: OutputForecast = OutputForecast(), plan: dict | None = None,
                     on_request: Callable | None = None, failing: Callable[[], int] | None = None) -> Estimate:
    """Aggregate counted requests into an estimate.

    ``on_request(record, price, (low, expected, high), long_context)`` sees every request as it is added (reports
    use it for per-request rows); ``failing()``, once they are all in, how many of them check expects to fail."""
    tally = tally_records(records, prices, counter, forecast, on_request)
    if failing is not None:
        tally.failing += failing()
    return finish(tally, prices, forecast, plan)


@exact_money
def finish(tally: Tally, prices: PriceTable, forecast: OutputForecast, plan: dict | None = None) -> Estimate:
    """Price a whole plan's tally: by model, real time and batch, low / expected / high."""
    if not tally.buckets:
        raise BadInput("the plan has no requests: nothing to estimate (an empty plan is never priced at $0)",
                       path=(plan or {}).get("path"))
    by_model = []
    model_price = {}
    for model, b in tally.buckets.items():
        price = model_price[model] = prices.lookup(model)
        by_model.append(ModelEstimate(
            model=model, requests=b.requests, input_tokens=b.input_tokens + b.long_input_tokens,
            output_tokens={"low": b.out[0] + b.long_out[0], "expected": b.out[1] + b.long_out[1],
                           "high": None if b.unbounded else b.out[2] + b.long_out[2], "basis": forecast.basis},
            cost={tier: _price_bucket(b, price, tier, tally.marks(model)) for tier in TIERS},
            long_context_requests=b.long_requests, price_source=_provenance(price), media=_media(b),
        ))
    output = {"low": sum(m.output_tokens["low"] for m in by_model),
              "expected": sum(m.output_tokens["expected"] for m in by_model),
              "high": _sum(m.output_tokens["high"] for m in by_model), "basis": forecast.basis}
    output.update(forecast.describe(tally.forecast))
    if output["high"] is not None:
        output["high"] = int(output["high"])
    cost = {tier: {k: _sum(m.cost[tier][k] for m in by_model) for k in ("low", "expected", "high")}
            for tier in TIERS}
    warnings = _warnings(prices, model_price.values(), tally.notes, by_model)
    if tally.failing:
        warnings.append(f"`batchcost check` expects {tally.failing:,} request(s) to be refused by the provider "
                        "(not billed; the totals still include them): run it to see each one")
    if forecast.basis == "calibrated":
        missing = output.get("requests_without_history", 0)
        if missing:
            warnings.append(f"no calibration history for {missing:,} request(s): their expected output is the bound "
                            "(reconcile a batch made from the same template to calibrate)")
    plan = dict(plan or {})
    plan.update({"requests": sum(m.requests for m in by_model), "endpoint": ",".join(tally.endpoints),
                 "models": list(tally.buckets), "provider": tally.provider or "openai"})
    approximate = sum(b.approximate for b in tally.buckets.values())
    total_in = sum(m.input_tokens for m in by_model)
    band = None
    if approximate:
        band = {"low": total_in - sum(b.band[0] + b.band[2] for b in tally.buckets.values()),
                "high": total_in + sum(b.band[1] + b.band[3] for b in tally.buckets.values())}
        warnings.append(f"{approximate:,} input count(s) are approximations (no offline tokenizer exists for "
                        f"this provider's models): {band['low']:,} to {band['high']:,} input tokens, used for the "
                        "cost's low and high (`--online` counts them exactly)")
    used_paths = {p.path for p in model_price.values()}
    sources = [s.as_dict() for s in prices.sources if s.path in used_paths]
    return Estimate(plan=plan, input_tokens=sum(m.input_tokens for m in by_model), output_tokens=output, cost=cost,
                    by_model=by_model, prices=sources, warnings=warnings, forecast=forecast,
                    cache=tally.cache_summary(prices), tally=tally, input_tokens_range=band)


def _media(bucket: _Bucket) -> dict | None:
    """What an image or video model's requests make, for the JSON (None for token-only models)."""
    out = {}
    if any(bucket.image_out) or bucket.image_in:
        out["image_input_tokens"] = bucket.image_in
        out["image_output_tokens"] = dict(zip(("low", "expected", "high"), bucket.image_out))
    if bucket.video:
        out["video_seconds"] = dict(sorted(bucket.video.items()))
    return out or None


def _kind(model: str) -> str | None:
    from batchcost.errors import BatchcostError
    from batchcost.estimator.models import resolve_model

    try:
        return resolve_model(model).kind
    except BatchcostError:  # a model outside the registry, counted with --encoding
        return None


def _warnings(prices: PriceTable, used, notes: dict[str, int], by_model: list[ModelEstimate]) -> list[str]:
    warnings = []
    used_paths = {p.path for p in used}
    for source in prices.sources:
        if source.path in used_paths and (doubt := doubtful_date(source)):
            warnings.append(doubt)
    for note, n in notes.items():
        warnings.append(f"approximate count for {n} request{'s' if n != 1 else ''}: {note}")
    models = {p.model for p in used} | {m.model for m in by_model}
    warnings += [n for n in prices.notes if n.split(":", 1)[0] in models]
    for m in by_model:
        if _kind(m.model) == "moderation":
            warnings.append(f"{m.model}: a moderation model is free: its requests bill no tokens")
        if m.output_tokens["high"] is None:
            warnings.append(f"{m.model}: some requests set no max output tokens and the model has no known "
                            "limit, so the high figure is unknown")
        if m.long_context_requests:
            warnings.append(f"{m.model}: {m.long_context_requests} requests are over the long-context threshold "
                            "and are priced at the long-context rates")
    return warnings


def estimate_lines(lines: Iterable[PlanLine], prices: PriceTable, *, source: Path, plan: dict,
                   forecast: OutputForecast = OutputForecast(), encoding: str | None = None,
                   assume_image_size: tuple[int, int] | None = None, progress=None, model: str | None = None,
                   on_request: Callable | None = None, online=None) -> Estimate:
    """Count, forecast and price plan lines from any source (a plan file, or a dataset rendered by a template).

    ``online`` (an ``OnlineCounts``) replaces every count by the provider's own. ``model`` prices the same requests on another model (what-if), counted with that model's own encoding."""
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=source.parent,
                          fingerprints=forecast.basis == "calibrated")
    if online is not None:
        counter.use_calibration()  # the offline figures the ratio and the explanation compare with

    refused = [0]  # requests check expects to fail: counted and priced all the same

    def counted() -> Iterator[tuple[CountedRequest, dict]]:
        for item in lines:
            if progress is not None:
                progress(item.nbytes)
            if model is not None:
                item = replace(item, body={**item.body, "model": model})
            record = counter.count_line(item, source)
            if request_fails(item, counter, record.tools_key):
                refused[0] += 1
            yield record, item.body

    if online is None:
        records = (record for record, _ in counted())
    else:
        records = online.stream(counted())
    result = estimate_records(records, prices, counter, forecast, plan=plan, on_request=on_request,
                              failing=lambda: refused[0])
    if online is not None:
        result.online = online.as_dict()
        result.warnings.append(online.summary() + ": every input count is the provider's own")
    return result


def estimate_plan(path: str | Path, prices: PriceTable, *, forecast: OutputForecast = OutputForecast(),
                  encoding: str | None = None, assume_image_size: tuple[int, int] | None = None,
                  progress=None, model: str | None = None, on_request: Callable | None = None,
                  online=None) -> Estimate:
    """Stream ``path`` once: count, forecast output and price every request; hash the bytes on the way."""
    path = Path(path)
    digest = hashlib.sha256()
    plan = {"path": str(path)}
    if model is None and on_request is None and online is None:
        counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=path.parent,
                              fingerprints=forecast.basis == "calibrated")
        tally = tally_plan_lines(read_raw_lines(path, digest=digest), path, prices, counter, forecast, progress)
        estimate = finish(tally, prices, forecast, plan)
    else:
        estimate = estimate_lines(read_plan(path, digest=digest), prices, source=path, plan=plan, forecast=forecast,
                                  encoding=encoding, assume_image_size=assume_image_size, progress=progress,
                                  model=model, on_request=on_request, online=online)
    estimate.plan = {"path": str(path), "sha256": digest.hexdigest(),
                     **{k: v for k, v in estimate.plan.items() if k != "path"}}
    from batchcost.plans.jobs import files_of

    if files_of(path):  # a job of several files: each one's sha256, for the approval and the reader
        estimate.plan["files"] = files_of(path)
    return estimate


def estimate_dataset(dataset: str | Path, template_path: str | Path, prices: PriceTable, *, model: str | None = None,
                     forecast: OutputForecast = OutputForecast(), assume_image_size: tuple[int, int] | None = None,
                     progress=None, on_request: Callable | None = None, online=None) -> Estimate:
    """Estimate the plan ``batchcost plan`` would write, without writing it. sha256 is that plan's."""
    from batchcost.plans.templates import hash_lines, load_template, plan_lines

    dataset = Path(dataset)
    template = load_template(template_path, model=model)
    digest = hashlib.sha256()
    lines = hash_lines(plan_lines(dataset, template), digest)
    estimate = estimate_lines(lines, prices, source=dataset, plan={}, forecast=forecast,
                              assume_image_size=assume_image_size, progress=progress, on_request=on_request,
                              online=online)
    estimate.plan = {"path": str(dataset), "template": str(template_path), "sha256": digest.hexdigest(),
                     **estimate.plan}
    return estimate
