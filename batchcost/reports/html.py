"""The budget report as one self-contained HTML page and as Markdown. Same content, same numbers."""
from __future__ import annotations

import html
import re
from decimal import Decimal

from batchcost.core.version import VERSION as __version__
from batchcost.pricing.cost import display_money, money

CSS = """
body{font:15px/1.5 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d2329;max-width:960px;margin:2em auto;
padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
.headline{font-size:1.2em;background:#f2f6fa;border-left:4px solid #2f6f9f;padding:.6em 1em}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.25em .8em;border-bottom:1px solid #e5e5e5;text-align:right}
th:first-child,td:first-child{text-align:left}.fits{color:#1e7b34;font-weight:bold}.over{color:#b3261e;font-weight:bold}
.charts{display:grid;grid-template-columns:1fr;gap:1em;max-width:760px}.charts svg{width:100%;height:auto}
.muted{color:#5f6b76;font-size:.9em}code{background:#f4f4f4;padding:0 .3em}
"""

TIERS = (("realtime", "Real-time cost"), ("batch", "Batch cost"), ("flex", "Flex cost"), ("priority", "Priority cost"))


def _usd_cell(value: Decimal | None) -> str:
    exact = money(value)
    return (f'<td data-exact="{exact}" title="exact: {exact} USD">{display_money(value)}</td>'
            if value is not None else '<td data-exact="">—</td>')


def _int(value) -> str:
    return "—" if value is None else f"{value:,}"


def headline(e) -> str:
    b, r = e.cost["batch"], e.cost["realtime"]
    line = (f"Batch API: {display_money(b['expected'])} expected (range {display_money(b['low'])} – "
            f"{display_money(b['high'])}) vs real time {display_money(r['expected'])}: batch saves "
            f"{display_money(e.savings)}.")
    if len(e.cost) <= 2:
        return line
    from batchcost.estimation.estimate import tier_advice

    return f"{line} {tier_advice(e)}"


def budget_lines(e, budget: Decimal | None) -> list[tuple[str, str]]:
    """(css class, sentence) per figure, for the budget section."""
    if budget is None:
        return []
    lines = []
    for key in ("expected", "high"):
        cost = e.cost["batch"][key]
        if cost is None:
            lines.append(("over", f"At {key}: unknown (some requests have no output bound)."))
        elif cost <= budget:
            lines.append(("fits", f"At {key}: fits — {display_money(cost)} of {display_money(budget)}, "
                                  f"{display_money(budget - cost)} to spare."))
        else:
            lines.append(("over", f"At {key}: over — {display_money(cost)} exceeds {display_money(budget)} by "
                                  f"{display_money(cost - budget)}."))
    return lines


def assumptions(result) -> list[str]:
    e = result.estimate
    out = e.output_tokens
    items = [f"Plan: {e.plan.get('path')} — sha256 {e.plan['sha256']}, {e.plan['requests']:,} requests, "
             f"endpoint {e.plan['endpoint']}."]
    if e.plan.get("template"):
        items.append(f"Made from the dataset with template {e.plan['template']} (the plan was not written).")
    for source in e.prices:
        items.append(f"Prices: {source['path']} — {source['source']}, checked on {source['checked_on']}.")
    from batchcost.estimation.forecast import output_sentence

    items.append(output_sentence(out))
    items.append("Input tokens are counted exactly as the API bills them; no prompt-cache discount is assumed.")
    items += [f"Warning: {w}" for w in e.warnings]
    items.append(f"Made {result.made_at.isoformat()} by batchcost {__version__}. Money is exact in estimate.json "
                 "and requests.csv; this page rounds for display.")
    return items


def _summary_rows(e) -> list[tuple[str, list]]:
    keys = ("low", "expected", "high")
    return [("Input tokens", [e.input_tokens] * 3), ("Output tokens", [e.output_tokens[k] for k in keys])] + [
        (label, [None] * 3 if e.cost[tier] is None else [e.cost[tier][k] for k in keys])
        for tier, label in TIERS if tier in e.cost]


def summary_table_html(result) -> str:
    e = result.estimate
    rows = []
    for label, values in _summary_rows(e):
        cells = "".join(_usd_cell(v) if "cost" in label else f"<td>{_int(v)}</td>" for v in values)
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return ('<table class="summary"><tr><th></th><th>low</th><th>expected</th><th>high</th></tr>'
            + "".join(rows) + "</table>")


def _by_model_html(e) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.model)}</td><td>{m.requests:,}</td><td>{m.input_tokens:,}</td>"
        f"<td>{_int(m.output_tokens['expected'])}</td>{_usd_cell(m.cost['realtime']['expected'])}"
        f"{_usd_cell(m.cost['batch']['expected'])}{_usd_cell(m.cost['batch']['high'])}</tr>"
        for m in e.by_model)
    return ('<table class="by-model"><tr><th>model</th><th>requests</th><th>input tokens</th><th>output expected</th>'
            "<th>real time (expected)</th><th>batch (expected)</th><th>batch (high)</th></tr>" + rows + "</table>")


def comparison_facts(e) -> tuple[str, str, str]:
    """A compared estimate's provider, its count basis (exact, or the band) and what translation left out."""
    band = e.input_tokens_range
    basis = "exact" if band is None else f"band {band['low']:,}–{band['high']:,}"
    source = e.plan.get("translated_from")
    if not source:
        return str(e.plan.get("provider", "")), basis, ""
    lost = [w for w in e.warnings if w.startswith("translated from") and "not translated:" in w]
    return str(e.plan.get("provider", "")), basis, (f"translated from {source}; {len(lost)} kind"
                                                    f"{'s' if len(lost) != 1 else ''} of content not carried"
                                                    if lost else f"translated from {source}; all carried")


def _comparison_html(result) -> str:
    rows = []
    for name, e in result.all_models().items():
        provider, basis, note = comparison_facts(e)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(provider)}</td><td>{e.input_tokens:,}</td>"
                    f"<td>{html.escape(basis)}</td>{_usd_cell(e.cost['realtime']['expected'])}"
                    f"{_usd_cell(e.cost['batch']['expected'])}{_usd_cell(e.cost['batch']['high'])}"
                    f"<td>{html.escape(note)}</td></tr>")
    return ('<table class="compare"><tr><th>model</th><th>provider</th><th>input tokens (own encoding)</th>'
            "<th>count</th><th>real time (expected)</th><th>batch (expected)</th><th>batch (high)</th>"
            "<th>translation</th></tr>" + "".join(rows) + "</table>")


def inline_svg(svg_text: str) -> str:
    """An SVG file's text made fit to sit inside HTML: no XML declaration or DOCTYPE (which name a URL)."""
    svg_text = re.sub(r"<\?xml[^>]*\?>", "", svg_text)
    svg_text = re.sub(r"<!DOCTYPE[^>]*>", "", svg_text, flags=re.S)
    return svg_text.strip()


def render_html(result, charts: dict[str, str], budget: Decimal | None = None) -> str:
    """``charts`` maps a caption to the chart's SVG text; everything is inline, nothing is fetched."""
    e = result.estimate
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Batch cost estimate — "
             f"{html.escape(str(e.plan.get('path')))}</title><style>{CSS}</style></head><body>",
             f"<h1>Batch cost estimate</h1><p class=\"muted\">{html.escape(str(e.plan.get('path')))} · "
             f"{e.plan['requests']:,} requests · {html.escape(', '.join(e.plan['models']))}</p>",
             f'<p class="headline">{html.escape(headline(e))}</p>']
    if budget is not None:
        parts.append(f"<h2>Budget: {display_money(budget)}</h2><ul>")
        parts += [f'<li class="{cls}">{html.escape(text)}</li>' for cls, text in budget_lines(e, budget)]
        parts.append("</ul>")
    parts += ["<h2>Summary</h2>", summary_table_html(result), "<h2>By model</h2>", _by_model_html(e)]
    if result.compared:
        parts += ["<h2>What if: the same plan on other models</h2>", _comparison_html(result)]
    parts.append('<h2>Charts</h2><div class="charts">')
    parts += [f"<figure>{inline_svg(svg)}<figcaption class=\"muted\">{html.escape(caption)}</figcaption></figure>"
              for caption, svg in charts.items()]
    parts.append("</div><h2>Assumptions</h2><ul>")
    parts += [f"<li>{html.escape(item)}</li>" for item in assumptions(result)]
    parts.append("</ul></body></html>\n")
    return "".join(parts)


def _md_money(value: Decimal | None) -> str:
    return "—" if value is None else f"{display_money(value)} (`{money(value)}`)"


def render_markdown(result, chart_files: dict[str, str], budget: Decimal | None = None) -> str:
    """The same content for a pull request or a wiki; charts linked as PNG files beside it."""
    e = result.estimate
    lines = ["# Batch cost estimate", "", f"{e.plan.get('path')} · {e.plan['requests']:,} requests · "
             f"{', '.join(e.plan['models'])}", "", f"**{headline(e)}**", ""]
    if budget is not None:
        lines += [f"## Budget: {display_money(budget)}", ""]
        lines += [f"- {text}" for _, text in budget_lines(e, budget)] + [""]
    lines += ["## Summary", "", "| | low | expected | high |", "|---|---:|---:|---:|"]
    for label, values in _summary_rows(e):
        cells = [_md_money(v) if "cost" in label else _int(v) for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "## By model", "", "| model | requests | input tokens | output expected | real time (expected) | "
              "batch (expected) | batch (high) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for m in e.by_model:
        lines.append(f"| {m.model} | {m.requests:,} | {m.input_tokens:,} | {_int(m.output_tokens['expected'])} | "
                     f"{_md_money(m.cost['realtime']['expected'])} | {_md_money(m.cost['batch']['expected'])} | "
                     f"{_md_money(m.cost['batch']['high'])} |")
    if result.compared:
        lines += ["", "## What if: the same plan on other models", "",
                  "| model | provider | input tokens (own encoding) | count | real time (expected) | batch (expected) "
                  "| batch (high) | translation |", "|---|---|---:|---|---:|---:|---:|---|"]
        for name, other in result.all_models().items():
            provider, basis, note = comparison_facts(other)
            lines.append(f"| {name} | {provider} | {other.input_tokens:,} | {basis} | "
                         f"{_md_money(other.cost['realtime']['expected'])} | "
                         f"{_md_money(other.cost['batch']['expected'])} | {_md_money(other.cost['batch']['high'])} | "
                         f"{note} |")
        for name, other in result.compared.items():
            lines += [f"- {name}: {w}" for w in other.warnings if w.startswith("translated from")]
    lines += ["", "## Charts", ""] + [f"![{caption}]({path})" for caption, path in chart_files.items()]
    lines += ["", "## Assumptions", ""] + [f"- {item}" for item in assumptions(result)] + [""]
    return "\n".join(lines)
