"""spend: the team's batch spend from the ledger, by month, project, model, provider or plan, with budgets."""
from __future__ import annotations

import csv
import enum
import io
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from batchcost.cli.app import app


class By(str, enum.Enum):
    month = "month"
    project = "project"
    model = "model"
    provider = "provider"
    batch = "batch"


class Format(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"


COLUMNS = ("approved", "committed", "actual", "savings")


@app.command()
def spend(
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE", help="First approval day (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", metavar="DATE", help="Last approval day (YYYY-MM-DD)."),
    by: By = typer.Option(By.month, "--by", help="Group by month, project, model, provider or batch (plan)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json or csv."),
    budgets: Optional[Path] = typer.Option(None, "--budgets", metavar="FILE",
                                           help="Budgets (YAML) to show the use of; default "
                                                "BATCHCOST_HOME/budgets.yaml when it exists."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="DIR",
                                          help="Also write spend.html (self-contained), spend.md, spend.json and "
                                               "charts/ (per month by project or model, committed vs actual, "
                                               "estimate accuracy over time) into DIR."),
) -> None:
    """What the team's batch jobs cost, from the ledger: for each group, approved (the approvals' batch high),
    committed (submitted and not yet reconciled, at their high: spend in flight is never $0), actual (reconciled
    cost), savings against real time, and how close the estimates came. Each plan is booked on its approval's
    date; money is exact."""
    from batchcost.cli.options import guard
    from batchcost.cli.prices import parse_date
    from batchcost.lifecycle.ledger import Ledger
    from batchcost.lifecycle.spend import spend as compute

    guard(inputs=[[budgets] if budgets else []], folders=[report] if report else [])
    from batchcost.lifecycle.spend import between, bookings

    first, last = parse_date(since, "--since"), parse_date(until, "--until")
    if first is not None and last is not None and last < first:
        from batchcost.core.errors import UsageError

        raise UsageError(f"--until {last} is before --since {first}: no day is in that range")
    ledger = Ledger()
    every = bookings(ledger)
    doc = compute(ledger, since=first, until=last, by=by.value, budgets_path=budgets, every=every)
    if report is not None:
        from batchcost.reports.spend_report import write_spend_report

        written = write_spend_report(doc, between(every, first, last), report)
        print(f"spend report: {len(written)} files written; open {report / 'spend.html'} in a browser",
              file=sys.stderr)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([by.value, "plans", *COLUMNS, "reconciled", "actual_over_estimated"])
        for g in doc["groups"]:
            accuracy = g["accuracy"] or {}
            writer.writerow([g["key"], g["plans"], *(g[c] for c in COLUMNS), accuracy.get("reconciled", 0),
                             accuracy.get("actual_over_estimated", "")])
        sys.stdout.write(out.getvalue())
        return
    _table(doc)


def _table(doc: dict) -> None:
    from decimal import Decimal

    from batchcost.pricing.cost import display_money

    console = Console(highlight=False)
    view = Table(title=f"Batch spend by {doc['by']}", title_justify="left")
    view.add_column(doc["by"])
    view.add_column("plans", justify="right")
    for name in COLUMNS:
        view.add_column(name, justify="right")
    view.add_column("actual / estimated", justify="right")
    for g in doc["groups"]:
        accuracy = (g["accuracy"] or {}).get("actual_over_estimated", "")
        view.add_row(g["key"], str(g["plans"]), *(display_money(Decimal(g[c])) for c in COLUMNS), accuracy)
    t = doc["total"]
    view.add_row("total", str(t["plans"]), *(display_money(Decimal(t[c])) for c in COLUMNS), "")
    console.print(view)
    for b in doc.get("budgets", []):
        console.print(f"budget {b['project']} {b['period']} from {b['start']}: {display_money(Decimal(b['limit']))}; "
                      f"actual {display_money(Decimal(b['actual']))}, committed "
                      f"{display_money(Decimal(b['committed']))}, left {display_money(Decimal(b['left']))}")
    console.print(doc["note"])
