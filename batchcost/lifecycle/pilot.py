"""The pilot: a few of the plan's requests sent through the real-time API, to measure output lengths before the
batch is sent. What they return is recorded as calibration (same store as reconcile), so
`estimate --output-tokens calibrated` can use it at once; the pilot's own cost is measured and reported."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from batchcost import providers
from batchcost.core.errors import BadInput, RemoteError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.lifecycle.calibration import Calibration, Observation, percentile
from batchcost.plans.counts import PlanCounter
from batchcost.plans.reader import plan_sha256, read_plan
from batchcost.pricing.cost import money, price_tokens
from batchcost.pricing.tables import PriceTable


def sample_lines(plan: Path, n: int, seed: int | None = None, options: ReadOptions = PLAIN) -> list[PlanLine]:
    """``n`` requests drawn uniformly from the plan in one streaming pass (reservoir sampling), in plan order."""
    rng = random.Random(seed)
    chosen: list[PlanLine] = []
    for i, item in enumerate(read_plan(plan, options=options)):
        if i < n:
            chosen.append(item)
        else:
            j = rng.randrange(i + 1)
            if j < n:
                chosen[j] = item
    return sorted(chosen, key=lambda item: item.line)


@dataclass
class PilotResult:
    plan: dict
    requests: int
    estimated_input_tokens: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: list[int] = field(default_factory=list)
    cost: Decimal = Decimal(0)
    recorded: int = 0

    def as_dict(self) -> dict:
        outs = sorted(self.output_tokens)
        return {"plan": self.plan, "requests": self.requests,
                "input_tokens": {"estimated": self.estimated_input_tokens, "billed": self.input_tokens,
                                 "cached": self.cached_input_tokens},
                "output_tokens": {"total": sum(outs), "p50": percentile(outs, 50) if outs else None,
                                  "p90": percentile(outs, 90) if outs else None, "max": max(outs, default=None)},
                "cost": {"realtime": money(self.cost)}, "calibration_recorded": self.recorded}


def pilot_high_cost(lines: list[PlanLine], plan: Path, prices: PriceTable) -> Decimal:
    """The most the pilot can cost in real time: every sampled request at its output bound (else the model's)."""
    counter = PlanCounter(base_dir=plan.parent)
    _measurable(lines, counter, plan)
    total = Decimal(0)
    for item in lines:
        record = counter.count_line(item, plan)
        bound = record.max_output_tokens
        if bound is None:
            bound = counter.model_info(record.model, record.provider).max_output_tokens or 0
        total += price_tokens(prices.lookup(record.model), "realtime", input_tokens=record.input_tokens,
                              output_tokens=bound)
    return total


def _measurable(lines: list[PlanLine], counter: PlanCounter, plan: Path) -> None:
    """A pilot measures output lengths: refuse plans whose cost is known without one."""
    kinds = {counter.model_info(item.model, item.provider).kind for item in lines}
    if kinds & {"embedding", "moderation"}:
        raise BadInput("a pilot measures output lengths; embeddings and moderations have none (their input is "
                       "what they cost)", path=plan)
    if kinds & {"image", "video"}:
        raise BadInput("a pilot measures output lengths; an image or video request's cost is known from the request "
                       "itself (quality, size, n; seconds and size): `batchcost estimate` gives it", path=plan)


def run_pilot(plan: Path, lines: list[PlanLine], client, prices: PriceTable, *, on_step=lambda s: None) -> PilotResult:
    counter = PlanCounter(base_dir=plan.parent, fingerprints=True)
    _measurable(lines, counter, plan)
    sha = plan_sha256(plan)
    result = PilotResult({"path": str(plan), "sha256": sha}, 0, 0, 0, 0)
    observations = []
    for n, item in enumerate(lines, start=1):
        record = counter.count_line(item, plan)
        on_step(f"pilot request {n}/{len(lines)}: {item.custom_id}")
        response = client.send(item.url, item.body)
        usage = providers.get(item.provider).response_usage(item.url, response)
        if usage is None:
            raise RemoteError(f"the answer to {item.custom_id} has no usable usage block")
        result.requests += 1
        result.estimated_input_tokens += record.input_tokens
        result.input_tokens += usage.input_tokens
        result.cached_input_tokens += usage.cached_tokens
        result.output_tokens.append(usage.output_tokens)
        result.cost += price_tokens(prices.lookup(record.model), "realtime", input_tokens=usage.input_tokens,
                                    cached_input_tokens=usage.cached_tokens, output_tokens=usage.output_tokens,
                                    cache_write_tokens=usage.cache_write_tokens,
                                    cache_write_1h_tokens=usage.cache_write_1h_tokens)
        observations.append(Observation(record.family, record.fingerprint, item.custom_id, usage.input_tokens,
                                        usage.cached_tokens, usage.output_tokens, usage.reasoning_tokens))
    result.recorded = Calibration().record(sha, observations,
                                           dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat())
    return result
