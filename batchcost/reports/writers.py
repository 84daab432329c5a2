"""Write the report folder: HTML, Markdown, estimate.json, requests.csv and charts (PNG + SVG).

Everything is written into a staging folder first and moved into place file by file only when all of it is
complete, so a crash never leaves a half-written report.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from batchcost.core.atomic import check_output, check_output_dir, place, signals_held
from batchcost.estimation.estimate import priced
from batchcost.reports.api import REQUEST_COLUMNS, EstimateResult
from batchcost.reports.charts import save_chart
from batchcost.reports.html import render_html, render_markdown

CHARTS = {
    "cost": ("Real time vs batch: expected, with the low-high range", "plot_costs"),
    "breakdown": ("Where the money goes: input, cached input, output", "plot_breakdown"),
    "input_tokens": ("Input tokens per request", "plot_input_tokens"),
    "models": ("The same plan on each model", "plot_models"),
}


def _chart_files(result: EstimateResult, staging: Path) -> tuple[dict[str, str], dict[str, str]]:
    (staging / "charts").mkdir()
    svgs, pngs = {}, {}
    for name, (caption, method) in CHARTS.items():
        if name == "models" and not result.compared:
            continue
        if name == "input_tokens" and not result.rows:
            continue
        svgs[caption] = save_chart(getattr(result, method)(), staging / "charts", name)
        pngs[caption] = f"charts/{name}.png"
    return svgs, pngs


def _requests_csv(result: EstimateResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REQUEST_COLUMNS)
    for row in result.rows:
        writer.writerow(row.csv_row())
    return buffer.getvalue()


def write_report(result: EstimateResult, out_dir: str | Path, *, budget: Decimal | None = None) -> list[Path]:
    """Write the report into ``out_dir``; return the files written."""
    out_dir = check_output_dir(out_dir, what="report folder")
    for name in ("report.html", "report.md", "estimate.json", "requests.csv"):
        check_output(out_dir / name, what="report")  # before the work: an input in the folder is refused now
    staging = None
    try:
        with signals_held():  # the staging folder exists only inside this try, which removes it
            staging = Path(tempfile.mkdtemp(prefix=".batchcost-report-", dir=out_dir))
        svgs, pngs = _chart_files(result, staging)
        estimate_json = result.as_dict()
        if budget is not None:
            estimate_json["budget"] = {"amount": str(budget), "fits_expected": _fits(result, "expected", budget),
                                       "fits_high": _fits(result, "high", budget)}
        files = {
            "report.html": render_html(result, svgs, budget),
            "report.md": render_markdown(result, pngs, budget),
            "estimate.json": json.dumps(estimate_json, indent=2) + "\n",
            "requests.csv": _requests_csv(result),
        }
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8", errors="backslashreplace")
        written = []
        check_output_dir(out_dir / "charts", what="charts folder")
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = out_dir / path.relative_to(staging)
                place(path, target, what="report")
                written.append(target)
        return written
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _fits(result: EstimateResult, key: str, budget: Decimal) -> bool | None:
    cost = priced(result.estimate.cost, "batch")[key]
    return None if cost is None else cost <= budget
