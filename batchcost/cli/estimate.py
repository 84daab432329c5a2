"""`batchcost estimate PLAN`: what the batch will cost, real time vs batch, and whether it fits the budget."""
from __future__ import annotations

import enum
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.options import parse_image_size
from batchcost.core.errors import UsageError
from batchcost.pricing.tables import load_prices


class EstimateFormat(str, enum.Enum):
    table = "table"
    json = "json"


class Engine(str, enum.Enum):
    local = "local"
    dask = "dask"


class BudgetOn(str, enum.Enum):
    high = "high"
    expected = "expected"


def parse_budget(value: str | None, error: type = UsageError) -> Decimal | None:
    """--budget as an exact amount. Text that is no number is a usage error (exit 2); ``error`` is raised for a
    number no budget can be (NaN, Infinity, negative, absurd): ``approve`` passes ``BudgetExceeded`` (exit 3),
    exactly as ``submit`` refuses such an approval."""
    if value is None:
        return None
    from batchcost.pricing.cost import parse_amount

    try:
        Decimal(value.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise UsageError(f"--budget must be an amount in USD such as 250 or 12.50, not {value!r}") from None
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise error(f"--budget {value!r} is refused: {exc}") from None


def parse_tiers(value: str | None) -> list[str]:
    """The tiers asked for beyond standard and batch (which are always priced), in the order given."""
    from batchcost.pricing.tables import TIER_NAMES

    names = [t.strip().lower() for t in (value or "").split(",") if t.strip()]
    unknown = [t for t in names if t not in TIER_NAMES]
    if unknown:
        raise UsageError(f"--tiers takes standard, batch, flex and priority, not {', '.join(unknown)}")
    return [TIER_NAMES[t] for t in dict.fromkeys(names) if TIER_NAMES[t] not in ("realtime", "batch")]


PRICES_HELP = ("A price file (YAML) overriding the bundled tables model by model; repeatable, later files win. "
               "BATCHCOST_PRICES names one more, applied first.")


@app.command()
def estimate(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The Batch API input file (JSONL), or a dataset "
                                                                    "with --template. Several plan files, or a folder "
                                                                    "of waves, are one job."),
    template: Optional[Path] = typer.Option(None, "--template", "-t", metavar="TEMPLATE.yaml",
                                            help="Treat PLAN as a dataset and estimate the plan this template would "
                                            "make, without writing it."),
    model: Optional[str] = typer.Option(None, "--model", help="With --template: override the template's model."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    output_tokens: str = typer.Option("max", "--output-tokens", metavar="max|N|calibrated",
                                      help="Output forecast: 'max' (each request's bound, else the model's max "
                                      "output: a safe ceiling), N tokens expected per request (capped by the "
                                      "bound), or 'calibrated' (P50 of what earlier reconciles of the same template "
                                      "observed; P90 reported; the bound where there is no history)."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD",
                                         help="Exit 3 when the batch cost is over this amount."),
    budget_on: BudgetOn = typer.Option(BudgetOn.high, "--budget-on",
                                       help="Which batch figure --budget is checked against."),
    fmt: EstimateFormat = typer.Option(EstimateFormat.table, "--format", "-f", help="table or json."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Force an encoding for a private model."),
    image_size: Optional[str] = typer.Option(None, "--image-size", metavar="WxH",
                                             help="Assume this size for remote images (default: the maximum)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", metavar="N", min=1, max=1024,
                                       help="Processes counting at once, this one included (default: all cores "
                                            "for plans over 32 MB, else 1)."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (processes on this machine) or dask."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS",
                                            help="With --engine dask: the scheduler (default: a local cluster)."),
    sample: Optional[str] = typer.Option(None, "--sample", metavar="N|P%",
                                         help="Estimate from a random sample of N requests (or P% of them), "
                                         "extrapolated with a 95% confidence interval: seconds on any plan size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="With --sample: the random seed (repeatable runs)."),
    prices_at: Optional[str] = typer.Option(None, "--prices-at", metavar="YYYY-MM-DD",
                                            help="Price the plan as of this date (the price database keeps "
                                            "history; YAML tables are as checked, which a warning says)."),
    tiers: Optional[str] = typer.Option(None, "--tiers", metavar="standard,batch,flex,priority",
                                        help="Price these tiers side by side (default: standard and batch, always "
                                        "shown). A tier a model does not offer is shown as not offered."),
    online: bool = typer.Option(False, "--online", help="Count input exactly with the provider's free "
                                "token-counting endpoint (Anthropic: messages.count_tokens; needs its API key); "
                                "with --sample, only the sampled requests. Nothing is sent without this flag."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="With --online: the provider's API base URL."),
    compare_models: Optional[str] = typer.Option(None, "--compare-models", metavar="M1,M2",
                                                 help="Price the same workload on these models too, of any provider "
                                                 "(the plan is translated for another provider's models, saying "
                                                 "what does not carry over): one table of every model and tier."),
    deadline: Optional[float] = typer.Option(None, "--deadline", metavar="HOURS",
                                             help="With --compare-models: mark the cheapest model and tier whose "
                                             "promised turnaround is within HOURS (batch: 24; flex: no promise)."),
) -> None:
    """Estimate what PLAN will cost in real time and through the Batch API.

    Input tokens are counted exactly; output tokens are a range (low 0, expected, high = the bound). Money is
    exact in --format json and rounded for display in the table. With --budget, exit 3 when over.
    """
    from batchcost.cli.options import calibration_opener, count_corrections, one_plan, reading
    from batchcost.cli.prices import parse_date
    from batchcost.estimation.compare import alternatives
    from batchcost.estimation.engine import EstimateOptions

    several = alternatives(plans, reading(ctx)) if template is None else None
    plan = several[0] if several else one_plan(plans, dataset=template is not None)
    options = EstimateOptions(
        reading=reading(ctx), template=template, model=model, output_tokens=output_tokens, encoding=encoding,
        assume_image_size=parse_image_size(image_size), jobs=jobs, engine=engine.value, scheduler=scheduler,
        sample=sample, seed=seed, online=online, base_url=base_url, tiers=tuple(parse_tiers(tiers)),
        calibration=calibration_opener() if output_tokens == "calibrated" else None, corrections=count_corrections)
    from batchcost.estimation.forecast import OutputForecast

    OutputForecast.parse(output_tokens)  # a bad --output-tokens is a usage error before anything is read
    options.check()
    limit = parse_budget(budget)
    table = load_prices(prices or [], at=parse_date(prices_at, "--prices-at"))
    others = [m.strip() for m in (compare_models or "").split(",") if m.strip()]
    if deadline is not None and ((not others and not several) or deadline < 0):
        raise UsageError("--deadline needs --compare-models (or plans of several providers) and a number of hours "
                         "(0 or more)")
    if (others or several) and (template is not None or sample is not None):
        raise UsageError("comparing models prices counted plan files: drop --template and --sample")
    if several:
        _alternatives(several, table, options, deadline, fmt, limit, budget_on.value)
        return
    result = _with_progress(plan, table, options)
    picks = _compare(plan, result, others, table, options, deadline) if others else None
    if fmt is EstimateFormat.json:
        doc = result.as_dict()
        if picks is not None:
            doc["comparison"] = picks
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from batchcost.cli.render import print_comparison, print_estimate

        print_estimate(result, budget=limit, budget_on=budget_on.value)
        if picks is not None:
            print_comparison(picks, deadline)
    if limit is not None:
        result.check_budget(limit, budget_on.value)


def _compare(plan: Path, result, others: list[str], table, options, deadline: float | None) -> dict:
    """Every model (the plan's and ``others``, of any provider) at every tier it offers, cheapest first, and the
    cheapest that meets ``deadline``: the ``comparison`` object of ``--format json``."""
    from batchcost.estimation.compare import model_estimate
    from batchcost.estimation.forecast import OutputForecast

    forecast = OutputForecast.parse(options.output_tokens, options.calibration)
    from batchcost.pricing.tables import MissingPrice

    estimates = {", ".join(result.plan["models"]): result}
    unpriced = []
    for other in others:
        try:
            estimates[other] = model_estimate(plan, other, table, forecast=forecast,
                                              assume_image_size=options.assume_image_size, reading=options.reading)
        except MissingPrice as exc:  # one model without a price leaves the others compared, and says why
            unpriced.append(f"{other}: not compared: {exc.message}")
    return picks_of(estimates, table, deadline, unpriced)


def picks_of(estimates: dict, table, deadline: float | None, unpriced: tuple | list = ()) -> dict:
    """The ``comparison`` object: every estimate's model and tier, cheapest first, and the cheapest in time."""
    from batchcost.estimation.compare import choices
    from batchcost.pricing.cost import money

    rows = choices(estimates, table, deadline)
    best = next((c for c in rows if c.meets), None)
    return {"deadline_hours": deadline,
            "cheapest": None if best is None else {"model": best.model, "provider": best.provider, "tier": best.tier},
            "choices": [{"model": c.model, "provider": c.provider, "tier": c.tier, "expected": money(c.expected),
                         "high": money(c.high), "count_basis": c.basis, "check_refuses": c.refused,
                         "translated_from": c.translated_from, "meets_deadline": c.meets} for c in rows],
            "warnings": [w for e in estimates.values() for w in e.warnings if w.startswith("translated from")]
            + list(unpriced)}


def _alternatives(files: list[Path], table, options, deadline: float | None, fmt, limit, budget_on: str) -> None:
    """Plans of several providers (the same workload written for each): each estimated on its own, then one table
    of every plan's models and tiers, cheapest first; ``--budget`` holds the cheapest that meets the deadline."""
    from decimal import Decimal

    from batchcost.core.errors import BudgetExceeded
    from batchcost.estimation.compare import label
    from batchcost.pricing.cost import display_money

    estimates = {}
    for path in files:
        result = _with_progress(path, table, options)
        estimates[label(result, path)] = result
    picks = picks_of(estimates, table, deadline)
    if fmt is EstimateFormat.json:
        doc = {"estimates": [e.as_dict() for e in estimates.values()], "comparison": picks}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        from batchcost.cli.render import print_comparison

        for name, result in estimates.items():
            batch = result.cost["batch"]
            print(f"{name}: {result.plan['requests']:,} requests on {result.plan['provider']}, batch "
                  f"{display_money(batch['expected'])} expected, "
                  f"{'no upper bound' if batch['high'] is None else display_money(batch['high']) + ' at most'}")
        print_comparison(picks, deadline)
    if limit is not None:
        best = picks["cheapest"]
        chosen = next((c for c in picks["choices"]
                       if best and (c["model"], c["tier"]) == (best["model"], best["tier"])), None)
        if chosen is None:
            raise BudgetExceeded("no plan and tier meets the deadline with every request accepted, so none can be "
                                 f"shown to fit the budget {display_money(limit)}")
        cost = Decimal(chosen[budget_on])
        if cost > limit:
            raise BudgetExceeded(f"the cheapest choice, {chosen['model']} at the {chosen['tier']} tier, costs "
                                 f"{display_money(cost)} ({budget_on}), over the budget {display_money(limit)}")


def _with_progress(plan: Path, table, options):
    """The estimate, with a progress display on a terminal: requests asked online, or bytes of a plan file counted
    here (a sample, a dataset or a Dask cluster shows none)."""
    from batchcost.cli.progress import byte_progress, count_progress
    from batchcost.estimation.engine import plan_workers, run_estimate

    if options.online and options.sample is None:
        with count_progress(plan, "Counting online") as progress:
            return run_estimate(plan, table, options, progress=progress)
    if options.sample is not None or options.template is not None or options.engine == "dask":
        return run_estimate(plan, table, options)
    workers = plan_workers(plan, options)
    with byte_progress(plan, f"Counting ({workers} processes)" if workers > 1 else "Counting") as progress:
        return run_estimate(plan, table, options, progress=progress)
