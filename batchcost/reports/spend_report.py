"""The team's spend report (`batchcost spend --report DIR`): a self-contained HTML page and Markdown, with charts:
spend per month stacked by project or model, committed vs actual, and how close the estimates came over time."""
from __future__ import annotations

import html
import json
from decimal import Decimal
from pathlib import Path

from batchcost.core.atomic import check_output, check_output_dir, write_text_atomic
from batchcost.pricing.cost import display_money
from batchcost.reports.charts import BATCH, REALTIME, plt, save_chart, usd
from batchcost.reports.html import CSS, inline_svg

REPORT_FILES = ("spend.html", "spend.md", "spend.json")
PALETTE = ("#2f6f9f", "#c4553b", "#6b8e5a", "#8e6bb0", "#d19a2a", "#4a9a9a", "#9a4a6b", "#707070")


def _months(rows) -> list[str]:
    return sorted({b.approved_at.strftime("%Y-%m") for b in rows})


def chart_by_month(rows, stack: str):
    """Approved spend per month, stacked by project or model."""
    fig, ax = plt.subplots(figsize=(6.8, 3.6), layout="constrained")
    months = _months(rows)
    keys = sorted({b.key(stack) for b in rows})
    bottom = [0.0] * len(months)
    for i, key in enumerate(keys):
        values = [float(sum((b.approved for b in rows if b.key(stack) == key
                             and b.approved_at.strftime("%Y-%m") == m), Decimal(0))) for m in months]
        ax.bar(months, values, bottom=bottom, color=PALETTE[i % len(PALETTE)], label=key[:30])
        bottom = [a + v for a, v in zip(bottom, values)]
    ax.yaxis.set_major_formatter(usd)
    ax.set_ylabel("Approved batch spend (USD, each plan's high)")
    ax.set_title(f"Spend per month by {stack}", fontsize=10)
    if keys:
        ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def chart_committed_actual(rows):
    fig, ax = plt.subplots(figsize=(6.8, 3.4), layout="constrained")
    months = _months(rows)
    width = 0.38
    x = range(len(months))
    committed = [float(sum((b.committed for b in rows if b.approved_at.strftime("%Y-%m") == m), Decimal(0)))
                 for m in months]
    actual = [float(sum((b.actual for b in rows if b.actual is not None and b.approved_at.strftime("%Y-%m") == m),
                        Decimal(0))) for m in months]
    ax.bar([i - width / 2 for i in x], committed, width, color=REALTIME, label="committed (in flight, at high)")
    ax.bar([i + width / 2 for i in x], actual, width, color=BATCH, label="actual (reconciled)")
    ax.set_xticks(list(x), months)
    ax.yaxis.set_major_formatter(usd)
    ax.set_ylabel("USD")
    ax.set_title("Committed vs actual, per month", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def chart_accuracy(rows):
    fig, ax = plt.subplots(figsize=(6.8, 3.2), layout="constrained")
    done = sorted((b for b in rows if b.actual is not None and b.estimated_for_actual), key=lambda b: b.approved_at)
    if done:
        ax.plot([b.approved_at for b in done], [float(b.actual / b.estimated_for_actual) for b in done], "o-",
                color=BATCH)
    ax.axhline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_ylabel("Actual / estimated (expected)")
    ax.set_xlabel("Approved")
    ax.set_title("Estimate accuracy over time (1 = exact)", fontsize=10)
    fig.autofmt_xdate()
    return fig


def write_spend_report(doc: dict, rows, out_dir: str | Path) -> list[Path]:
    """``doc``: the spend JSON; ``rows``: its bookings (``spend.bookings``), for the charts."""
    out_dir = check_output_dir(out_dir, what="report folder")
    for name in REPORT_FILES:
        check_output(out_dir / name, what="report")
    check_output_dir(out_dir / "charts", what="charts folder")
    stack = "model" if doc["by"] == "model" else "project"
    charts = {"by_month": lambda: chart_by_month(rows, stack), "committed_actual": lambda: chart_committed_actual(rows),
              "accuracy": lambda: chart_accuracy(rows)}
    svgs, written = {}, []
    for name, make in charts.items():
        svgs[name] = save_chart(make(), out_dir / "charts", f"spend_{name}")
        written += [out_dir / "charts" / f"spend_{name}.png", out_dir / "charts" / f"spend_{name}.svg"]
    head = ["plans", "approved", "committed", "actual", "savings", "actual / estimated"]

    def cells(g) -> list[str]:
        accuracy = (g.get("accuracy") or {}).get("actual_over_estimated", "")
        return [str(g["plans"]), *(display_money(Decimal(g[k])) for k in ("approved", "committed", "actual",
                                                                           "savings")), accuracy]

    body = [(g["key"], cells(g)) for g in doc["groups"]] + [("total", cells({**doc["total"], "accuracy": None}))]
    span = f"{doc['since'] or 'the start'} to {doc['until'] or 'today'}"
    page = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Batch spend</title>"
            f"<style>{CSS}</style></head><body><h1>Batch spend by {html.escape(doc['by'])}</h1>"
            f"<p class=\"muted\">{html.escape(span)} · USD · {html.escape(doc['note'])}</p><table><tr>"
            f"<th>{html.escape(doc['by'])}</th>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    page += ["<tr><th>" + html.escape(k) + "</th>" + "".join(f"<td>{html.escape(c)}</td>" for c in cs) + "</tr>"
             for k, cs in body]
    page.append("</table>")
    md = [f"# Batch spend by {doc['by']}", "", f"{span} · USD · {doc['note']}", "",
          f"| {doc['by']} | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    md += [f"| {k} | " + " | ".join(cs) + " |" for k, cs in body]
    if doc.get("budgets"):
        page.append("<h2>Budgets</h2><table><tr><th>project</th><th>period</th><th>limit</th><th>actual</th>"
                    "<th>committed</th><th>left</th></tr>")
        md += ["", "## Budgets", "", "| project | period | limit | actual | committed | left |",
               "|---|---|---|---|---|---|"]
        for b in doc["budgets"]:
            row = [b["project"], f"{b['period']} from {b['start']}",
                   *(display_money(Decimal(b[k])) for k in ("limit", "actual", "committed", "left"))]
            page.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            md.append("| " + " | ".join(row) + " |")
        page.append("</table>")
    page.append('<h2>Charts</h2><div class="charts">')
    page += [f"<figure>{inline_svg(svg)}</figure>" for svg in svgs.values()]
    page.append("</div></body></html>\n")
    md += ["", "## Charts", ""] + [f"![{n}](charts/spend_{n}.png)" for n in charts]
    for name, text in zip(REPORT_FILES, ("".join(page), "\n".join(md) + "\n", json.dumps(doc, indent=2) + "\n")):
        write_text_atomic(out_dir / name, text)
        written.append(out_dir / name)
    return written
