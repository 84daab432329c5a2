"""Estimate from a random sample of lines: seconds on any plan size, with a 95% confidence interval.

A sampled line is the one containing a uniformly random byte offset, so line i is drawn with probability
b_i / B (its share of the file's bytes). The Hansen-Hurwitz estimator of any per-line total X is then
X^ = B * mean(x_i / b_i) - unbiased whatever the line lengths - and its standard error follows from the spread of
B * x_i / b_i over the n draws. Only the sampled lines are read: the file is never scanned.
"""
from __future__ import annotations

import math
import random
import re
from decimal import Decimal
from pathlib import Path

from batchcost.core.errors import BadInput, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.estimation.estimate import TIERS, Costs, Estimate, ModelEstimate, breakpoint_premium, request_cost
from batchcost.estimation.forecast import OutputForecast, forecast_output
from batchcost.estimation.tally import request_fails
from batchcost.plans.counts import PlanCounter
from batchcost.plans.reader import parse_line
from batchcost.pricing.cost import exact_money, money
from batchcost.pricing.tables import PriceTable

Z95 = 1.959963984540054
MIN_DRAWS = 30


def parse_sample(spec: str) -> tuple[str, float]:
    match = re.fullmatch(r"\s*(\d{1,30}(?:\.\d{1,30})?)\s*(%?)\s*", spec or "")
    if not match or float(match[1]) <= 0 or (match[2] and float(match[1]) > 100) or (
            not match[2] and int(float(match[1])) < 1):
        raise UsageError(f"--sample must be a number of requests (500) or a percentage (1%), not {spec!r}")
    return ("pct", float(match[1])) if match[2] else ("n", float(int(float(match[1]))))


def _line_at(fh, offset: int) -> tuple[int, bytes]:
    """(start, raw) of the line containing byte ``offset``."""
    window = 4096
    start = 0
    while True:
        lo = max(0, offset - window)
        fh.seek(lo)
        chunk = fh.read(offset - lo)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            start = lo + cut + 1
            break
        if lo == 0:
            start = 0
            break
        window *= 4
    fh.seek(start)
    return start, fh.readline()


def _mean_line_bytes(path: Path, probe: int = 1 << 20) -> float:
    with path.open("rb") as fh:
        head = fh.read(probe)
    lines = head.count(b"\n")
    return len(head) / lines if lines else float(len(head) or 1)


@exact_money
def estimate_sample(path: str | Path, prices: PriceTable, spec: str, *, forecast: OutputForecast = OutputForecast(),
                    seed: int | None = None, encoding: str | None = None,
                    assume_image_size: tuple[int, int] | None = None, online=None,
                    options: ReadOptions = PLAIN) -> Estimate:
    """``online`` (an ``OnlineCounts``): each sampled request is counted by the provider, exactly."""
    path = Path(path)
    kind, value = parse_sample(spec)
    try:
        size = path.stat().st_size
    except OSError:
        raise BadInput("no such file", path=path) from None
    if size == 0:
        raise BadInput("the plan is empty", path=path)
    lines = size / _mean_line_bytes(path)
    draws = int(value) if kind == "n" else math.ceil(value / 100 * lines)
    if draws >= lines:  # a sample as large as the plan: count it whole, exactly, instead of drawing forever
        from batchcost.estimation.estimate import estimate_plan

        whole = estimate_plan(path, prices, forecast=forecast, encoding=encoding, assume_image_size=assume_image_size,
                              online=online, options=options)
        whole.warnings.append(f"--sample {spec} covers the whole plan: every line was counted")
        return whole
    draws = max(MIN_DRAWS, draws)
    rng = random.Random(seed)
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=path.parent,
                          fingerprints=forecast.basis == "calibrated")
    seen: dict[int, tuple] = {}
    samples = []  # per draw: (bytes, model or None, input, out(l, e, h), costs{tier: (l, e, h)})
    with path.open("rb") as fh:
        for _ in range(draws):
            start, raw = _line_at(fh, rng.randrange(size))
            if start not in seen:
                seen[start] = _measure(raw, path, counter, prices, forecast, online, options)
            samples.append(seen[start])
    estimate = _extrapolate(path, samples, size, draws, len(seen), prices, forecast, seed)
    if online is not None:
        estimate.online = online.as_dict()
        estimate.warnings.append(online.summary() + ": the sampled counts are the provider's own")
    return estimate


def _measure(raw: bytes, path: Path, counter: PlanCounter, prices: PriceTable, forecast: OutputForecast,
             online=None, options: ReadOptions = PLAIN) -> tuple:
    item = parse_line(raw, path, 0, options=options)  # line numbers are unknown without a scan; errors name the file
    if item is None:
        return (len(raw), None, 0, (0, 0, 0), None, 0)
    record = counter.count_line(item, path)
    refused = 1 if request_fails(item, counter, record.tools_key) else 0  # check's verdict, as the full estimate's
    if online is not None:
        record = online.one(record, item.body)
    bound = record.max_output_tokens
    if bound is None:
        bound = counter.model_info(record.model, record.provider).max_output_tokens
    low, expected, high = forecast_output(record, forecast, bound)
    price = prices.lookup(record.model)
    lc = price.long_context
    long = lc is not None and record.input_tokens > lc.above_input_tokens
    inputs = (record.input_tokens,) * 3 if record.input_low is None else (
        record.input_low, record.input_tokens, record.input_high)  # an approximate count: its band's ends
    costs = {tier: [None if o is None else request_cost(price, tier, record, o, input_tokens=n, long_context=long)
                    for n, o in zip(inputs, (low, expected, high))] for tier in TIERS}
    if record.cache_ttl is not None and high is not None:
        # a cache breakpoint: the high writes its prefix, as the full estimate's high does; low and expected stay
        # at the plain input rate, since a sample cannot tell which use of a prefix comes first
        for tier in TIERS:
            costs[tier][2] += breakpoint_premium(price, tier, record.cache_ttl, long, record.prefix_tokens,
                                                 record.prefix_tokens)[1]
    return (len(raw), record.model, record.input_tokens, (low, expected or 0, high), costs, refused)


def _hh(samples, size: int, value) -> tuple[float, float]:
    """Hansen-Hurwitz point estimate and standard error of the total of ``value(sample)``."""
    ys = [size * float(value(s)) / s[0] for s in samples]
    n = len(ys)
    mean = sum(ys) / n
    var = sum((y - mean) ** 2 for y in ys) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def _interval(samples, size, value, integer=True) -> dict:
    est, se = _hh(samples, size, value)
    lo, hi = max(0.0, est - Z95 * se), est + Z95 * se
    if integer:
        return {"estimate": round(est), "low": math.floor(lo), "high": math.ceil(hi)}
    # money: the point estimate in Decimal (sum of c_i / b_i, times B / n); the interval's width is statistical
    q = Decimal("0.0000000001")
    exact = (sum((Decimal(value(s)) / s[0] for s in samples), Decimal(0)) * size / len(samples)).quantize(q)
    half = Decimal(repr(Z95 * se)).quantize(q)
    return {"estimate": exact, "low": max(Decimal(0), exact - half), "high": exact + half}


def _extrapolate(path: Path, samples, size: int, draws: int, distinct: int, prices: PriceTable,
                 forecast: OutputForecast, seed) -> Estimate:
    models = list(dict.fromkeys(s[1] for s in samples if s[1] is not None))
    if not models:
        raise BadInput("the sampled lines hold no requests", path=path)
    unbounded = any(s[4] is not None and s[3][2] is None for s in samples)

    def cost_of(tier, i, model=None):
        def value(s):
            if s[4] is None or (model is not None and s[1] != model):
                return 0
            c = s[4][tier][i]
            return 0 if c is None else c
        return value

    by_model = []
    for model in models:
        mine = (lambda s, m=model: s[1] == m)
        requests = _interval(samples, size, lambda s, m=mine: 1 if m(s) else 0)
        tokens = _interval(samples, size, lambda s, m=mine: s[2] if m(s) else 0)
        out = [_interval(samples, size, lambda s, m=mine, i=i: (s[3][i] or 0) if m(s) else 0) for i in range(3)]
        cost: Costs = {}
        for tier in TIERS:
            low = _interval(samples, size, cost_of(tier, 0, model), integer=False)
            exp = _interval(samples, size, cost_of(tier, 1, model), integer=False)
            high = _interval(samples, size, cost_of(tier, 2, model), integer=False)
            cost[tier] = {"low": low["low"], "expected": exp["estimate"], "high": None if unbounded else high["high"]}
        by_model.append(ModelEstimate(model, requests["estimate"], tokens["estimate"],
                                      {"low": 0, "expected": out[1]["estimate"],
                                       "high": None if unbounded else out[2]["estimate"], "basis": forecast.basis},
                                      cost))
    intervals = {
        "requests": _interval(samples, size, lambda s: 1 if s[1] is not None else 0),
        "input_tokens": _interval(samples, size, lambda s: s[2]),
        "output_tokens_expected": _interval(samples, size, lambda s: s[3][1] or 0),
        "failing_requests": _interval(samples, size, lambda s: s[5]),
    }
    cost = {}
    sample_cost = {}
    for tier in TIERS:
        low = _interval(samples, size, cost_of(tier, 0), integer=False)
        exp = _interval(samples, size, cost_of(tier, 1), integer=False)
        high = _interval(samples, size, cost_of(tier, 2), integer=False)
        # the range widens by the sampling error: low is the CI's lower end, high its upper end (safe with money)
        cost[tier] = {"low": low["low"], "expected": exp["estimate"], "high": None if unbounded else high["high"]}
        sample_cost[tier] = {"expected": {k: money(v) for k, v in exp.items()},
                             "high": None if unbounded else {k: money(v) for k, v in high.items()}}
    output = {"low": 0, "expected": intervals["output_tokens_expected"]["estimate"],
              "high": None if unbounded else _interval(samples, size, lambda s: s[3][2] or 0)["estimate"],
              "basis": forecast.basis}
    used = {prices.lookup(m).path for m in models}
    estimate = Estimate(
        plan={"path": str(path), "sha256": None, "requests": intervals["requests"]["estimate"],
              "endpoint": "", "models": models, "bytes": size},
        input_tokens=intervals["input_tokens"]["estimate"], output_tokens=output, cost=cost, by_model=by_model,
        prices=[s.as_dict() for s in prices.sources if s.path in used],
        warnings=[f"estimated from a random sample of {draws:,} draws ({distinct:,} distinct lines) of a "
                  f"{size:,}-byte plan: totals are estimates with 95% confidence intervals; low and high include the "
                  "sampling error. Run without --sample for exact figures (and the plan's sha256)."],
        forecast=forecast, cache={})
    estimate.sample = {"draws": draws, "distinct_lines": distinct, "seed": seed, "confidence": 0.95,
                       "method": "lines drawn with probability proportional to their bytes; Hansen-Hurwitz totals",
                       "requests": intervals["requests"], "input_tokens": intervals["input_tokens"],
                       "output_tokens_expected": intervals["output_tokens_expected"], "cost": sample_cost,
                       "failing_requests": intervals["failing_requests"]}
    failing = intervals["failing_requests"]
    if failing["high"] > 0 and any(s[5] for s in samples):
        estimate.warnings.append(f"`batchcost check` is expected to refuse about {failing['estimate']:,} request(s) "
                                 f"(95% interval {failing['low']:,} to {failing['high']:,}, from the sample; not "
                                 "billed, the totals still include them): run it to see each one")
    return estimate
