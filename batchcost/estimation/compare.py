"""One workload on several models and providers, side by side: each model's estimate (the plan translated where the
model is another provider's, ``plans.convert``), priced at every tier it offers, with its count basis, what check
expects the provider to refuse, and the cheapest choice that meets a deadline."""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from batchcost import providers
from batchcost.core.errors import BatchcostError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.estimation.estimate import Estimate, add_tiers, estimate_plan
from batchcost.estimation.forecast import OutputForecast
from batchcost.plans.convert import convert_plan
from batchcost.plans.reader import plan_provider, read_plan
from batchcost.pricing.tables import PriceTable
from batchcost.tokens.models import resolve_model

TIERS = ("realtime", "batch", "flex", "priority")
# hours within which a tier answers, as the providers promise it (flex: best effort, no promise)
PROMISED_HOURS: dict[str, float | None] = {"realtime": 0, "priority": 0, "batch": 24, "flex": None}


def other_provider(plan: str | Path, model: str, reading: ReadOptions = PLAIN) -> str | None:
    """The provider ``model`` is served by, where it is not the plan's (None: the plan's own, or unknown here)."""
    try:
        claimed = providers.claims().get(model)  # an OpenAI-compatible service's own model
        owner = claimed.name if claimed is not None else resolve_model(model).provider
        first = next(iter(read_plan(Path(plan), options=reading)), None)
    except BatchcostError:
        return None  # the estimate itself says what is wrong
    if first is None or owner in (first.provider, providers.get(first.provider).models_of):
        return None
    return owner


def alternatives(paths, reading: ReadOptions = PLAIN) -> list[Path] | None:
    """Several plan files whose requests are of different providers: the same workload written for each, to be
    compared side by side (each its own estimate), not waves of one job (which hold one provider's requests). None
    for one file, a folder of waves, ``--provider``, or files of one provider: a job."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2 or reading.provider is not None or any(p.is_dir() for p in paths):
        return None
    from batchcost.plans.jobs import expand

    files = expand(paths)  # the same file twice is refused here too
    return files if len({plan_provider(f, reading) for f in files}) > 1 else None


def label(estimate: Estimate, path: Path) -> str:
    """What one alternative is called in a comparison: its models and its file."""
    return f"{', '.join(estimate.plan.get('models') or ())} ({path.name})"


def translated_estimate(plan: str | Path, model: str, provider: str, prices: PriceTable, *,
                        forecast: OutputForecast = OutputForecast(), assume_image_size=None,
                        reading: ReadOptions = PLAIN) -> Estimate:
    """The estimate of ``plan``'s workload written for ``provider`` on ``model``, its warnings saying what did not
    translate (``plan.translated_from`` names the plan's own provider)."""
    with tempfile.TemporaryDirectory(prefix="batchcost-convert-") as folder:
        target = Path(folder) / "translated.jsonl"
        summary = convert_plan(plan, target, provider, model, options=replace(reading, model=reading.model or model))
        result = estimate_plan(target, prices, forecast=forecast, assume_image_size=assume_image_size,
                               options=ReadOptions(provider=provider, model=model))
    result.plan["translated_from"] = summary.source
    result.plan["path"] = str(plan)
    said = summary.warnings() or ["everything translated"]
    result.warnings[:0] = [f"translated from {summary.source} for {provider}: {w}" for w in said]
    return result


def model_estimate(plan: str | Path, model: str, prices: PriceTable, *, forecast: OutputForecast = OutputForecast(),
                   assume_image_size=None, reading: ReadOptions = PLAIN) -> Estimate:
    """``plan`` priced on ``model``: its own provider's what-if, or the plan translated to the model's provider."""
    foreign = other_provider(plan, model, reading)
    if foreign is not None:
        return translated_estimate(plan, model, foreign, prices, forecast=forecast,
                                   assume_image_size=assume_image_size, reading=reading)
    return estimate_plan(plan, prices, forecast=forecast, assume_image_size=assume_image_size, model=model,
                         options=reading)


@dataclass
class Choice:
    """One model at one tier: its expected and high cost, and whether it meets the deadline."""

    model: str
    provider: str
    tier: str
    expected: Decimal
    high: Decimal
    basis: str
    refused: int
    translated_from: str | None
    meets: bool


def choices(estimates: dict[str, Estimate], prices: PriceTable, deadline_hours: float | None = None) -> list[Choice]:
    """Every model at every tier it offers, cheapest expected first; ``meets`` where the tier's promised
    turnaround is within ``deadline_hours`` (None: any tier meets it) and check expects no refusal."""
    out = []
    for model, estimate in estimates.items():
        if estimate.tally is not None:  # on a copy: the estimates themselves keep the tiers they were asked for
            estimate = add_tiers(copy.deepcopy(estimate), prices,
                                 [t for t in ("flex", "priority") if t not in estimate.cost])
        band = estimate.input_tokens_range
        basis = "exact" if band is None else f"band {band['low']:,}-{band['high']:,}"
        refused = estimate.tally.failing if estimate.tally is not None else 0
        for tier in TIERS:
            cost = estimate.cost.get(tier)
            expected, high = (cost.get("expected"), cost.get("high")) if cost is not None else (None, None)
            if expected is None or high is None:
                continue
            promised = PROMISED_HOURS[tier]
            meets = refused == 0 and (deadline_hours is None or (promised is not None and promised <= deadline_hours))
            out.append(Choice(model, str(estimate.plan.get("provider", "")), tier, expected, high,
                              basis, refused, estimate.plan.get("translated_from"), meets))
    out.sort(key=lambda c: (c.expected, c.high))
    return out
