"""`batchcost estimate PLAN`: what the batch will cost, real time vs batch, and whether it fits the budget."""
from __future__ import annotations

import enum
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import List, Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.options import parse_image_size
from batchcost.cli.progress import byte_progress
from batchcost.errors import UsageError
from batchcost.estimator.estimate import OutputForecast, estimate_dataset, estimate_plan
from batchcost.pricing.tables import load_prices


class EstimateFormat(str, enum.Enum):
    table = "table"
    json = "json"


class Engine(str, enum.Enum):
    local = "local"
    dask = "dask"


def _estimate_plan_file(plan: Path, table, forecast, jobs, engine, scheduler, encoding, size):
    from batchcost.estimator import parallel

    if engine is Engine.dask:
        runner = parallel.dask_map(scheduler, n_workers=jobs or 2)
        return parallel.estimate_in_parts(plan, table, forecast=forecast, jobs=jobs or 2, map_parts=runner,
                                          encoding=encoding, assume_image_size=size)
    try:
        big = plan.stat().st_size >= parallel.MIN_PARALLEL_BYTES
    except OSError:
        big = False
    workers = jobs if jobs is not None else (parallel.default_jobs() if big else 1)
    with byte_progress(plan, f"Counting ({workers} processes)" if workers > 1 else "Counting") as progress:
        if workers > 1:
            return parallel.estimate_in_parts(plan, table, forecast=forecast, jobs=workers, encoding=encoding,
                                              assume_image_size=size, progress=progress)
        return estimate_plan(plan, table, forecast=forecast, encoding=encoding, assume_image_size=size,
                             progress=progress)


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
    plans: List[Path] = typer.Argument(..., metavar="PLAN...", help="The Batch API input file (JSONL), or a dataset with --template. Several plan files, or a folder of waves, are one job."),
    template: Optional[Path] = typer.Option(None, "--template", "-t", metavar="TEMPLATE.yaml",
                                            help="Treat PLAN as a dataset and estimate the plan this template would "
                                            "make, without writing it."),
    model: Optional[str] = typer.Option(None, "--model", help="With --template: override the template's model."),
    prices: Optional[List[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
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
) -> None:
    """Estimate what PLAN will cost in real time and through the Batch API.

    Input tokens are counted exactly; output tokens are a range (low 0, expected, high = the bound). Money is
    exact in --format json and rounded for display in the table. With --budget, exit 3 when over.
    """
    from batchcost.cli.options import one_plan

    plan = one_plan(plans, dataset=template is not None)
    forecast = OutputForecast.parse(output_tokens)
    extra = parse_tiers(tiers)
    if extra and sample is not None:
        raise UsageError("--tiers flex or priority is priced from a counted plan; drop --sample to see them")
    limit = parse_budget(budget)
    from batchcost.cli.prices import parse_date

    on = parse_date(prices_at, "--prices-at")
    table = load_prices(prices or [], at=on)
    size = parse_image_size(image_size)
    verifier = None
    if online:
        from batchcost.estimator.online import OnlineCounts

        if engine is Engine.dask:
            raise UsageError("--online counts through the provider's endpoint from this machine; drop --engine dask")
        verifier = OnlineCounts(base_url=base_url)
    if sample is not None:
        from batchcost.estimator.sampling import estimate_sample

        result = estimate_sample(plan, table, sample, forecast=forecast, seed=seed, encoding=encoding,
                                 assume_image_size=size, online=verifier)
    elif verifier is not None:
        from batchcost.cli.progress import count_progress

        with count_progress(plan, "Counting online") as progress:
            verifier.progress = progress  # requests verified, on a terminal
            if template is not None:
                result = estimate_dataset(plan, template, table, model=model, forecast=forecast,
                                          assume_image_size=size, online=verifier)
            else:
                result = estimate_plan(plan, table, forecast=forecast, encoding=encoding, assume_image_size=size,
                                       online=verifier)
    elif template is not None and (engine is Engine.dask or (jobs or 1) > 1):
        from batchcost.estimator import parallel
        from batchcost.plans.distributed import estimate_dataset_in_parts

        runner = parallel.dask_map(scheduler, n_workers=jobs or 2) if engine is Engine.dask else None
        result = estimate_dataset_in_parts(plan, template, table, forecast=forecast, model=model, jobs=jobs or 2,
                                           map_parts=runner)
    elif template is not None:
        result = estimate_dataset(plan, template, table, model=model, forecast=forecast, assume_image_size=size)
    else:
        result = _estimate_plan_file(plan, table, forecast, jobs, engine, scheduler, encoding, size)
    if extra:
        from batchcost.estimator.estimate import add_tiers

        add_tiers(result, table, extra)
    if on is not None:
        result.prices_at = on.isoformat()
    if fmt is EstimateFormat.json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        from batchcost.cli.render import print_estimate

        print_estimate(result, budget=limit, budget_on=budget_on.value)
    if limit is not None:
        result.check_budget(limit, budget_on.value)
