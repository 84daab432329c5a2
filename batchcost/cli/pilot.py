"""`batchcost pilot PLAN --sample N`: measure output lengths on a few real-time requests before the batch."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.batch import BaseUrl, MaxRetries, batch_client
from batchcost.cli.estimate import PRICES_HELP, parse_budget
from batchcost.core.errors import BudgetExceeded, UsageError


@app.command()
def pilot(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The plan to pilot (several files, or a folder "
                                       "of waves, are one job)."),
    sample: int = typer.Option(..., "--sample", metavar="N", min=1, max=10_000, help="How many randomly chosen "
                                                                                     "requests to send."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for the choice."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask; needs --budget (the pilot's most must fit)."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD", help="The most the pilot may cost."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: str = typer.Option("table", "--format", "-f", metavar="table|json"),
) -> None:
    """Send N randomly chosen requests of PLAN through the real-time API (after a confirmation), record their
    output lengths as calibration for `estimate --output-tokens calibrated`, and report what the pilot cost.
    Real-time prices apply: the pilot is small on purpose."""
    from batchcost.cli.options import one_plan, reading
    from batchcost.lifecycle.pilot import pilot_high_cost, run_pilot, sample_lines
    from batchcost.pricing.cost import display_money
    from batchcost.pricing.tables import load_prices

    plan = one_plan(plans)
    options = reading(ctx)
    if sample < 1:
        raise UsageError("--sample must be at least 1")
    table = load_prices(prices or [])
    lines = sample_lines(plan, sample, seed, options)
    high = pilot_high_cost(lines, plan, table)
    limit = parse_budget(budget, BudgetExceeded)  # a spending gate, like approve: exit 3
    if limit is not None and high > limit:
        raise BudgetExceeded(f"the pilot could cost up to {display_money(high)} in real time, over the budget "
                             f"{display_money(limit)}")
    if yes:
        if limit is None:
            raise BudgetExceeded("--yes needs --budget: the most the pilot may cost")
    else:
        if not sys.stdin.isatty():
            raise BudgetExceeded("the pilot spends money: confirm at a terminal, or pass --yes --budget USD")
        answer = input(f"Send {len(lines)} request(s) of {plan} in real time (up to {display_money(high)})? "
                       "Type yes to send: ")
        if answer.strip().lower() != "yes":
            raise BudgetExceeded("not confirmed; nothing was sent")
    client = batch_client(base_url, max_retries, plan=plan, options=options)
    result = run_pilot(plan, lines, client, table, on_step=lambda s: print(s, file=sys.stderr))
    data = result.as_dict()
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    out = data["output_tokens"]
    print(f"pilot of {data['requests']} request(s): output tokens P50 {out['p50']:,}, P90 {out['p90']:,}, max "
          f"{out['max']:,}; input billed {data['input_tokens']['billed']:,} (estimated "
          f"{data['input_tokens']['estimated']:,}); cost {display_money(result.cost)} in real time; "
          f"{data['calibration_recorded']} observation(s) recorded for `estimate --output-tokens calibrated`")
