"""`batchcost report PLAN --out DIR`: a report the person who approves the money would forward."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP, parse_budget, parse_tiers
from batchcost.cli.options import parse_image_size
from batchcost.cli.progress import byte_progress


@app.command()
def report(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The Batch API input file, or a dataset with "
                                                                    "--template. Several plan files, or a folder of "
                                                                    "waves, are one job."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder for report.html, report.md, estimate.json, "
                             "requests.csv and charts/."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    compare_models: Optional[str] = typer.Option(None, "--compare-models", metavar="M1,M2",
                                                 help="Also price the same plan on these models (each counted with "
                                                 "its own encoding)."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD", help="Add a budget section."),
    output_tokens: str = typer.Option("max", "--output-tokens", metavar="max|N", help="Output forecast basis."),
    template: Optional[Path] = typer.Option(None, "--template", "-t", help="Treat PLAN as a dataset."),
    model: Optional[str] = typer.Option(None, "--model", help="With --template: override the template's model."),
    image_size: Optional[str] = typer.Option(None, "--image-size", metavar="WxH",
                                             help="Assume this size for remote images (default: the maximum)."),
    tiers: Optional[str] = typer.Option(None, "--tiers", metavar="standard,batch,flex,priority",
                                        help="Also price flex and/or priority, side by side in the tables and the "
                                        "cost chart, with the cheapest tier named."),
) -> None:
    """Write a self-contained HTML report (charts inline, nothing fetched), the same as Markdown, the estimate as
    JSON, every request's tokens and cost as CSV, and the charts as PNG and SVG."""
    from batchcost.cli.options import one_plan, reading
    from batchcost.estimation.compare import alternatives

    several = alternatives(plans, reading(ctx)) if template is None else None  # one workload, several providers
    plan = several[0] if several else one_plan(plans, dataset=template is not None)
    from batchcost.cli.options import guard
    from batchcost.reports.api import estimate
    from batchcost.reports.writers import write_report

    guard(inputs=[*(several or [plan]), template, prices or []], folders=[out])
    limit = parse_budget(budget)
    others = [m.strip() for m in (compare_models or "").split(",") if m.strip()]
    with byte_progress(plan, "Counting") as progress:
        result = estimate(plan, prices=prices or [], output_tokens=output_tokens, template=template, model=model,
                          compare_models=others, assume_image_size=parse_image_size(image_size), progress=progress,
                          tiers=parse_tiers(tiers), reading=reading(ctx), alternatives=(several or [])[1:])
    written = write_report(result, out, budget=limit)
    for path in written:
        print(path)
    from batchcost.pricing.cost import display_money

    e = result.estimate
    high = e.cost["batch"]["high"]
    html = next((p for p in written if p.name == "report.html"), None)
    print(f"Report for {e.plan.get('path')}: {e.plan['requests']:,} requests, batch "
          f"{display_money(e.cost['batch']['expected'])} expected"
          f" (high {'unbounded' if high is None else display_money(high)}), real time "
          f"{display_money(e.cost['realtime']['expected'])}. {len(written)} files written"
          + (f"; open {html} in a browser" if html else "") + ".", file=sys.stderr)
