"""The estimate: counts, output-token forecast and prices, real time vs batch, streamed over a plan."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BadInput, BudgetExceeded, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.estimation.forecast import OutputForecast
from batchcost.estimation.tally import Bucket, Tally, request_fails, tally_plan_lines, tally_records
from batchcost.plans.counts import CountedRequest, PlanCounter
from batchcost.plans.reader import read_plan, read_raw_lines
from batchcost.pricing.cost import display_money, exact_money, money, price_tokens
from batchcost.pricing.tables import TIER_NAMES, PriceTable, doubtful_date

TIERS = ("realtime", "batch")


TierCost = dict[str, Decimal | None]  # low, expected, high (high None: unbounded)
Costs = dict[str, TierCost | None]  # by tier; None: the tier is not offered


def priced(costs: Costs, tier: str) -> TierCost:
    """The cost at ``tier``, which must be priced (realtime and batch always are)."""
    cost = costs.get(tier)
    if cost is None:
        raise LookupError(f"the {tier} tier is not priced for this plan")
    return cost


def expected(costs: Costs, tier: str) -> Decimal:
    """The expected cost at a priced ``tier`` (always a figure: only high may be unknown)."""
    value = priced(costs, tier)["expected"]
    if value is None:
        raise LookupError(f"the {tier} tier has no expected cost")
    return value


@dataclass
class ModelEstimate:
    model: str
    requests: int
    input_tokens: int
    output_tokens: dict
    cost: Costs  # a tier not offered is None
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
    cost: Costs  # a tier not offered is None
    by_model: list[ModelEstimate]
    prices: list[dict]
    warnings: list[str]
    forecast: OutputForecast
    cache: dict = field(default_factory=dict)
    sample: dict | None = None  # set when estimated from a sample: the confidence intervals
    tally: Tally | None = field(default=None, repr=False, compare=False)  # the integer sums it was priced from
    prices_at: str | None = None  # the date whose prices were asked for (None: today's)
    input_tokens_range: dict | None = None  # {"low", "high"} when any count is approximate
    online: dict | None = None  # --online: what the provider's counting endpoint was asked

    @property
    @exact_money
    def savings(self) -> Decimal:
        return expected(self.cost, "realtime") - expected(self.cost, "batch")

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
        cost = priced(self.cost, "batch")[on]
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
            k: _sum(p[k] for p in parts if p is not None) for k in ("low", "expected", "high")}
    return estimate


def cheapest_tier(estimate: Estimate) -> str | None:
    """The tier with the lowest expected cost among those priced, for the sentence a person acts on."""
    offered = {t: c["expected"] for t, c in estimate.cost.items() if c is not None and c["expected"] is not None}
    return min(offered, key=lambda t: offered[t]) if offered else None


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
    return (f"Cheapest tier for this plan: {name}, {display_money(expected(estimate.cost, best))} expected; what "
            f"it gives up: {TURNAROUND[best]}.{missing}")


def request_cost(price, tier: str, record: CountedRequest, output: int, *, input_tokens: int | None = None,
                 long_context: bool = False) -> Decimal:
    """One request's cost at ``tier`` with ``output`` output tokens (image tokens for an image request; a video's
    seconds by size); ``input_tokens`` overrides the record's (an approximate count's band ends)."""
    media: dict[str, Any] = {}
    if record.image_output is not None:
        media = {"image_input_tokens": record.image_input_tokens, "image_output_tokens": output}
    elif record.video is not None:
        media = {"video_size": record.video[0], "video_seconds": record.video[1]}
    return price_tokens(price, tier, input_tokens=record.input_tokens if input_tokens is None else input_tokens,
                        output_tokens=output, long_context=long_context, **media)


@exact_money
def _price_bucket(bucket: Bucket, price, tier: str, marks: dict | None = None) -> dict[str, Decimal | None]:
    """A model's sums priced at ``tier``: low / expected / high; ``marks`` are its cache breakpoints
    (``Tally.marks``)."""
    result: dict[str, Decimal] = {}
    for i, key in enumerate(("low", "expected", "high")):
        if key == "high" and bucket.unbounded:
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
        if "high" in result:
            result["high"] += worst
    return {"low": result["low"], "expected": result["expected"], "high": result.get("high")}


@exact_money
def breakpoint_premium(price, tier: str, ttl: str, long: bool, first: int, total: int) -> tuple[Decimal, Decimal]:
    """What explicit cache breakpoints add to a plain-input price for ``total`` prefix tokens of which ``first``
    are each distinct prefix's first use: (best, worst). Best: each prefix written once at its write rate (5-minute
    or 1-hour) and read at the cache-read rate after; worst: written on every use (cache hits inside a batch are
    best effort). No write price is an error, never $0."""
    plain = price_tokens(price, tier, input_tokens=total, long_context=long)
    hour = ttl == "1h"
    best = price_tokens(price, tier, input_tokens=total, cached_input_tokens=total - first, long_context=long,
                        cache_write_tokens=0 if hour else first, cache_write_1h_tokens=first if hour else 0)
    worst = price_tokens(price, tier, input_tokens=total, long_context=long,
                         cache_write_tokens=0 if hour else total, cache_write_1h_tokens=total if hour else 0)
    return best - plain, worst - plain


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
    cost: Costs = {tier: {k: _sum(priced(m.cost, tier)[k] for m in by_model) for k in ("low", "expected", "high")}
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
                 "models": list(tally.buckets), "provider": tally.provider or providers.default().name})
    approximate = sum(b.approximate for b in tally.buckets.values())
    total_in = sum(m.input_tokens for m in by_model)
    band = None
    if approximate:
        band = {"low": total_in - sum(b.band[0] + b.band[2] for b in tally.buckets.values()),
                "high": total_in + sum(b.band[1] + b.band[3] for b in tally.buckets.values())}
        warnings.append(f"{approximate:,} input count(s) are approximations (their notes say why): "
                        f"{band['low']:,} to {band['high']:,} input tokens, used for the cost's low and high "
                        "(`--online` counts them exactly)")
    used_paths = {p.path for p in model_price.values()}
    sources = [s.as_dict() for s in prices.sources if s.path in used_paths]
    return Estimate(plan=plan, input_tokens=sum(m.input_tokens for m in by_model), output_tokens=output, cost=cost,
                    by_model=by_model, prices=sources, warnings=warnings, forecast=forecast,
                    cache=cache_summary(tally, prices), tally=tally, input_tokens_range=band)


def _media(bucket: Bucket) -> dict | None:
    """What an image or video model's requests make, for the JSON (None for token-only models)."""
    out: dict[str, Any] = {}
    if any(bucket.image_out) or bucket.image_in:
        out["image_input_tokens"] = bucket.image_in
        out["image_output_tokens"] = dict(zip(("low", "expected", "high"), bucket.image_out))
    if bucket.video:
        out["video_seconds"] = dict(sorted(bucket.video.items()))
    return out or None


def _kind(model: str) -> str | None:
    from batchcost.core.errors import BatchcostError
    from batchcost.tokens.models import resolve_model

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
                   on_request: Callable | None = None, online=None,
                   corrections: Callable[[], dict] | None = None) -> Estimate:
    """Count, forecast and price plan lines from any source (a plan file, or a dataset rendered by a template).

    ``online`` (an ``OnlineCounts``) replaces every count by the provider's own; ``corrections`` then gives the
    offline figures the ratio and the explanation compare with (``PlanCounter``). ``model`` prices the same
    requests on another model (what-if), counted with that model's own encoding."""
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=source.parent,
                          fingerprints=forecast.basis == "calibrated",
                          corrections=corrections if online is not None else None)

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
                  online=None, options: ReadOptions = PLAIN, corrections: Callable[[], dict] | None = None
                  ) -> Estimate:
    """Stream ``path`` once: count, forecast output and price every request; hash the bytes on the way."""
    path = Path(path)
    digest = hashlib.sha256()
    plan = {"path": str(path)}
    if model is None and on_request is None and online is None:
        counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=path.parent,
                              fingerprints=forecast.basis == "calibrated")
        tally = tally_plan_lines(read_raw_lines(path, digest=digest), path, prices, counter, forecast, progress,
                                 options)
        estimate = finish(tally, prices, forecast, plan)
    else:
        estimate = estimate_lines(read_plan(path, digest=digest, options=options), prices, source=path, plan=plan,
                                  forecast=forecast, encoding=encoding, assume_image_size=assume_image_size,
                                  progress=progress, model=model, on_request=on_request, online=online,
                                  corrections=corrections)
    estimate.plan = {"path": str(path), "sha256": digest.hexdigest(),
                     **{k: v for k, v in estimate.plan.items() if k != "path"}}
    from batchcost.plans.jobs import files_of

    if files_of(path):  # a job of several files: each one's sha256, for the approval and the reader
        estimate.plan["files"] = files_of(path)
    return estimate


@exact_money
def combine(parts: list[tuple[Path, Estimate]], job: Path) -> Estimate:
    """One estimate of a job whose files are of several providers (each file estimated alone, by its own
    provider's rules and prices): the sums, every file's models, and ``plan.files`` naming each file's provider.
    A tier one file does not offer is not offered by the job; an unbounded high stays unbounded."""
    from batchcost.plans.jobs import files_of
    from batchcost.plans.reader import plan_sha256

    estimates = [e for _, e in parts]

    def total(costs: list[Costs]) -> Costs:
        tiers = dict.fromkeys(t for c in costs for t in c)
        return {t: None if any(c.get(t) is None for c in costs) else
                {k: _sum(c[t][k] for c in costs) for k in ("low", "expected", "high")}  # type: ignore[index]
                for t in tiers}

    listing = files_of(job) or []
    for entry, part in zip(listing, estimates):
        entry["provider"] = part.plan.get("provider")
    names = list(dict.fromkeys(str(e.plan.get("provider")) for e in estimates))
    plan = {"path": str(job), "sha256": plan_sha256(job), "requests": sum(e.plan.get("requests", 0) for e in estimates),
            "endpoint": ", ".join(dict.fromkeys(str(e.plan.get("endpoint")) for e in estimates)),
            "models": list(dict.fromkeys(m for e in estimates for m in e.plan.get("models") or ())),
            "provider": ", ".join(names), "providers": names, "files": listing}
    outputs = [e.output_tokens for e in estimates]
    ranged = any(e.input_tokens_range for e in estimates)
    result = Estimate(
        plan=plan, input_tokens=sum(e.input_tokens for e in estimates),
        output_tokens={"low": sum(o["low"] for o in outputs), "expected": sum(o["expected"] for o in outputs),
                       "high": None if any(o["high"] is None for o in outputs) else sum(o["high"] for o in outputs),
                       "basis": outputs[0].get("basis")},
        cost=total([e.cost for e in estimates]), by_model=[m for e in estimates for m in e.by_model],
        prices=list({json.dumps(p, sort_keys=True, default=str): p for e in estimates for p in e.prices}.values()),
        warnings=[f"{path.name}: {w}" for path, e in parts for w in e.warnings], forecast=estimates[0].forecast)
    if ranged:
        result.input_tokens_range = {
            side: sum((e.input_tokens_range or {}).get(side, e.input_tokens) for e in estimates)
            for side in ("low", "high")}
    return result


def estimate_dataset(dataset: str | Path, template_path: str | Path, prices: PriceTable, *, model: str | None = None,
                     forecast: OutputForecast = OutputForecast(), assume_image_size: tuple[int, int] | None = None,
                     progress=None, on_request: Callable | None = None, online=None,
                     corrections: Callable[[], dict] | None = None) -> Estimate:
    """Estimate the plan ``batchcost plan`` would write, without writing it. sha256 is that plan's."""
    from batchcost.plans.templates import hash_lines, load_template, plan_lines

    dataset = Path(dataset)
    template = load_template(template_path, model=model)
    digest = hashlib.sha256()
    lines = hash_lines(plan_lines(dataset, template), digest)
    estimate = estimate_lines(lines, prices, source=dataset, plan={}, forecast=forecast,
                              assume_image_size=assume_image_size, progress=progress, on_request=on_request,
                              online=online, corrections=corrections)
    estimate.plan = {"path": str(dataset), "template": str(template_path), "sha256": digest.hexdigest(),
                     **estimate.plan}
    return estimate


@exact_money
def cache_summary(tally: Tally, prices: PriceTable) -> dict:
    """What prompt caching could save on the shared prefixes, and the explicit breakpoints priced in the costs."""
    cached_by_model: dict[str, int] = {}
    for key, total in tally.cache_total.items():
        cached_by_model[key[0]] = cached_by_model.get(key[0], 0) + total - tally.cache_first[key]
    saving = {tier: sum((price_tokens(prices.lookup(m), tier, input_tokens=c)
                         - price_tokens(prices.lookup(m), tier, input_tokens=c, cached_input_tokens=c))
                        for m, c in cached_by_model.items()) or Decimal(0) for tier in TIERS}
    summary = {"cached_input_tokens": {"low": 0, "high": sum(cached_by_model.values()),
                                       "observed": round(tally.cache_observed) if tally.has_observed else None},
               "savings_if_cached": {tier: money(v) for tier, v in saving.items()},
               "note": "costs assume no cache hits; high = every shared prefix of 1,024+ tokens cached after its "
                       "first use"}
    if tally.marked_total:
        first, total = sum(tally.marked_first.values()), sum(tally.marked_total.values())
        summary["breakpoints"] = {
            "prefixes": len(tally.marked_total), "cache_write_tokens": {"expected": first, "high": total},
            "cache_read_tokens": {"expected": total - first, "high": 0},
            "note": "cache_control breakpoints are priced in the costs: low and expected write each distinct "
                    "prefix once (at the 5-minute or 1-hour write rate) and read it after; high writes it on "
                    "every request"}
    return summary
