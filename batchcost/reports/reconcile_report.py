"""The reconcile report: estimated vs actual, as HTML (self-contained) and Markdown, with charts."""
from __future__ import annotations

import html
import json
from decimal import Decimal
from pathlib import Path

from batchcost.core.atomic import check_output, check_output_dir, write_text_atomic
from batchcost.lifecycle.reconcile import percent_note
from batchcost.pricing.cost import display_money
from batchcost.reports.charts import BATCH, REALTIME, plt, save_chart, usd
from batchcost.reports.html import CSS, inline_svg


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def chart_costs(r):
    fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    est = {k: _money(v) for k, v in r.estimated["cost"].items()}
    actual = _money(r.actual["cost"])
    ax.bar(0, float(est["expected"]), color=REALTIME, width=0.5, label="estimated (expected)")
    if est["high"] is not None:
        ax.vlines(0, float(est["low"]), float(est["high"]), color="black")
    ax.bar(1, float(actual), color=BATCH, width=0.5, label="actual")
    for x, v in ((0, est["expected"]), (1, actual)):
        ax.annotate(display_money(v), (x, float(v)), xytext=(0, 4), textcoords="offset points", ha="center")
    ax.set_xticks([0, 1], ["Estimated (line: low to high)", "Actual"])
    ax.yaxis.set_major_formatter(usd)
    ax.set_ylabel("Batch cost of the succeeded requests (USD)")
    ax.set_title("Estimated vs actual cost", fontsize=10)
    return fig


def chart_outputs(r):
    fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    actual = [row["actual_output"] for row in r.rows]
    if actual:
        ax.hist(actual, bins=min(40, max(5, len(set(actual)))), color=BATCH, edgecolor="white", label="actual")
        expected = sorted(row["forecast_expected"] for row in r.rows if row["forecast_expected"] is not None)
        highs = sorted(row["forecast_high"] for row in r.rows if row["forecast_high"] is not None)
        if expected:
            ax.axvline(expected[len(expected) // 2], color=REALTIME, linestyle="--", label="forecast expected (median)")
        if highs:
            ax.axvline(highs[len(highs) // 2], color="black", linestyle=":", label="forecast high (median bound)")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("Output tokens per request")
    ax.set_ylabel("Requests")
    ax.set_title("Actual output tokens against the forecast range", fontsize=10)
    return fig


def chart_input_error(r):
    fig, ax = plt.subplots(figsize=(6.4, 3.0), layout="constrained")
    errors = [row["actual_input"] - row["estimated_input"] for row in r.rows]
    if errors:
        low, high = min(errors + [0]), max(errors + [0])
        ax.hist(errors, bins=range(low - 1, high + 2), color="#6b8e5a", edgecolor="white", align="left")
    ax.set_xlabel("Billed minus estimated input tokens, per request (0 = exact)")
    ax.set_ylabel("Requests")
    ax.set_title("Input count error (should be a single spike at 0)", fontsize=10)
    return fig


CHARTS = {"cost": chart_costs, "output_tokens": chart_outputs, "input_error": chart_input_error}


REPORT_FILES = ("reconcile.html", "reconcile.md", "reconcile.json")


def write_reconcile_report(r, out_dir: str | Path) -> list[Path]:
    out_dir = check_output_dir(out_dir, what="report folder")
    for name in REPORT_FILES:
        check_output(out_dir / name, what="report")
    check_output_dir(out_dir / "charts", what="charts folder")
    svgs, written = {}, []
    for name, make in CHARTS.items():
        svgs[name] = save_chart(make(r), out_dir / "charts", f"reconcile_{name}")
        written += [out_dir / "charts" / f"reconcile_{name}.png", out_dir / "charts" / f"reconcile_{name}.svg"]
    c, a, e, d = r.counts, r.actual, r.estimated, r.delta
    rows = [("Requests", f"{c['planned']:,} planned · {c['succeeded']:,} succeeded · {c['failed']:,} failed · "
                         f"{c['expired']:,} expired · {c['missing']:,} missing"),
            ("Prices", f"in force on {r.prices_at}" if r.prices_at else "in force today"),
            ("Input tokens", f"{a['input_tokens']:,} billed ({a['cached_input_tokens']:,} cached) vs "
                             f"{e['input_tokens']:,} estimated"),
            ("Output tokens", f"{a['output_tokens']:,} billed ({a['reasoning_tokens']:,} reasoning) vs "
                              f"{e['output_tokens']['expected']:,} expected"),
            ("Cost (batch)", f"{display_money(_money(a['cost']))} actual vs "
                             f"{display_money(_money(e['cost']['expected']))} expected; difference "
                             f"{display_money(_money(d['cost']))}{percent_note(d)}")]
    if r.retry:
        rows.append(("Retry plan", f"{r.retry['requests']:,} requests in {r.retry['path']}"
                     + (f", batch {display_money(_money(r.retry['estimate']['batch']['expected']))} expected"
                        if r.retry.get("estimate") else "")))
    page = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Reconciliation</title>"
            f"<style>{CSS}</style></head><body><h1>Reconciliation</h1><p class=\"muted\">"
            f"{html.escape(r.plan['path'])} · sha256 {r.plan['sha256']}</p><table>"]
    page += [f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows]
    page.append('</table><h2>Why it differed</h2><ul>')
    page += [f"<li>{html.escape(x)}</li>" for x in r.explanations]
    page.append('</ul><h2>Charts</h2><div class="charts">')
    page += [f"<figure>{inline_svg(svg)}</figure>" for svg in svgs.values()]
    page.append("</div>")
    if r.issues:
        page.append("<h2>Lines that could not be reconciled</h2><ul>")
        page += [f"<li>{html.escape(i.one_line())}</li>" for i in r.issues]
        page.append("</ul>")
    page.append("</body></html>\n")
    md = ["# Reconciliation", "", f"{r.plan['path']} · sha256 `{r.plan['sha256']}`", "", "| | |", "|---|---|"]
    md += [f"| {k} | {v} |" for k, v in rows]
    md += ["", "## Why it differed", ""] + [f"- {x}" for x in r.explanations]
    md += ["", "## Charts", ""] + [f"![{n}](charts/reconcile_{n}.png)" for n in CHARTS]
    if r.issues:
        md += ["", "## Lines that could not be reconciled", ""] + [f"- {i.one_line()}" for i in r.issues]
    texts = ("".join(page), "\n".join(md) + "\n", json.dumps(r.as_dict(), indent=2) + "\n")
    for name, text in zip(REPORT_FILES, texts):
        write_text_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written
