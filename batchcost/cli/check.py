"""`batchcost check PLAN`: pre-flight against the Batch API's rules and the models' limits."""
from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP, BudgetOn, parse_budget
from batchcost.core.errors import BadInput
from batchcost.plans.check import check_plan


class CheckFormat(str, enum.Enum):
    text = "text"
    json = "json"


@app.command()
def check(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The Batch API input file (JSONL). Several plan "
                                                                    "files, or a folder of waves, are one job."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD",
                                         help="Also estimate and exit 3 when the batch cost is over this amount."),
    budget_on: BudgetOn = typer.Option(BudgetOn.high, "--budget-on", help="Batch figure checked against --budget."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    fmt: CheckFormat = typer.Option(CheckFormat.text, "--format", "-f", help="text or json."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Force an encoding for a private model."),
) -> None:
    """Find everything the Batch API would reject before you upload: file limits (50,000 requests, 200 MB),
    duplicate custom_ids, methods, endpoints, mixed models, unknown models, context windows and output limits.

    Exit 0 when clean, 1 when anything is found (each finding with its line), 3 when over --budget.
    """
    from batchcost.cli.options import one_plan, reading

    plan = one_plan(plans, dataset=False)
    options = reading(ctx)
    findings = list(check_plan(plan, encoding=encoding, options=options))
    errors = [f for f in findings if f.severity == "error"]
    failing = {f.line for f in errors if f.scope == "request"}
    from batchcost.plans.jobs import describe, files_of

    name = describe(plan)  # a job: its files, never the job plan joining them
    if fmt is CheckFormat.json:
        sys.stdout.write(json.dumps({"plan": name, **({"files": [f["path"] for f in files_of(plan) or []]}
                                                      if files_of(plan) else {}), "ok": not errors,
                                     "rejects_file": any(f.scope == "file" for f in errors),
                                     "failing_requests": len(failing),
                                     "findings": [f.as_dict(plan) for f in findings]}, indent=2) + "\n")
    else:
        for finding in findings:
            print(finding.one_line(plan))
        if not errors:
            print(f"{name}: ok" + (f" ({len(findings)} warning(s))" if findings else ""), file=sys.stderr)
    if errors:
        whole = any(f.scope == "file" for f in errors)
        raise BadInput(f"{len(errors)} problem(s) found; " + (
            "the Batch API would reject this plan" if whole else
            f"{len(failing):,} request(s) would fail (the rest would run)"), path=plan)
    limit = parse_budget(budget)
    if limit is not None:
        from batchcost.estimation.estimate import estimate_plan
        from batchcost.pricing.tables import load_prices

        estimate_plan(plan, load_prices(prices or []), encoding=encoding, options=options).check_budget(
            limit, budget_on.value)
