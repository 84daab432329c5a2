"""Charts for the person who approves the spend (matplotlib, Agg): labelled axes, money as currency."""
from __future__ import annotations

from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from batchcost.pricing.cost import display_money  # noqa: E402

REALTIME, BATCH = "#c4553b", "#2f6f9f"
plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                     "svg.fonttype": "path", "svg.hashsalt": "batchcost"})

usd = FuncFormatter(lambda v, _pos: display_money(Decimal(str(round(v, 10)))))



def _label(text: str, limit: int = 40) -> str:
    """Text a font can draw: lone surrogates (valid JSON escapes in a custom_id) shown as their escape, shortened."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _f(value: Decimal | None) -> float:
    return float(value) if value is not None else float("nan")


def cost_ranges(estimate) -> Figure:
    """Real time vs batch: expected as bars, low-high as a range line."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    shown = [(t, n, c) for t, n, c in (("realtime", "Real time", REALTIME), ("batch", "Batch API", BATCH),
                                      ("flex", "Flex", "#8c6d31"), ("priority", "Priority", "#843c39"))
             if t in estimate.cost]
    labels = [n if estimate.cost[t] is not None else f"{n}\n(not offered)" for t, n, _ in shown]
    for i, (tier, _, color) in enumerate(shown):
        c = estimate.cost[tier]
        if c is None:
            continue
        ax.bar(i, _f(c["expected"]), color=color, width=0.55, label=f"{labels[i]} (expected)")
        if c["high"] is not None:
            ax.vlines(i, _f(c["low"]), _f(c["high"]), color="black", linewidth=1.5)
            ax.hlines([_f(c["low"]), _f(c["high"])], i - 0.12, i + 0.12, color="black", linewidth=1.5)
        ax.annotate(display_money(c["expected"]), (i, _f(c["expected"])), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontweight="bold")
    ax.set_xticks(range(len(shown)), labels)
    ax.set_ylabel("Cost (USD)")
    ax.yaxis.set_major_formatter(usd)
    ax.set_ylim(bottom=0)
    ax.set_title(f"Estimated cost: {estimate.plan['requests']:,} requests\n(bars: expected; lines: low to high)",
                 fontsize=10)
    return fig


def cost_breakdown(estimate) -> Figure:
    """Input / cached input / output at the expected figure, per tier (stacked)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    parts: dict[str, list[float]] = {"input": [], "cached input": [], "output": []}
    for tier in ("realtime", "batch"):
        c = estimate.cost[tier]
        parts["input"].append(_f(c["low"]))  # low has no output: it is the input cost
        parts["cached input"].append(0.0)  # no cache hits are forecast yet: the safe figure
        parts["output"].append(_f(c["expected"] - c["low"]))
    bottom = [0.0, 0.0]
    colors = {"input": "#7a9cc6", "cached input": "#8fbf6a", "output": "#e3a35f"}
    labels = {"cached input": "cached input (no cache hits forecast)"}
    for name, values in parts.items():
        ax.barh(["Real time", "Batch API"], values, left=bottom, color=colors[name], label=labels.get(name, name))
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.xaxis.set_major_formatter(usd)
    ax.set_xlabel("Cost at the expected output (USD)")
    ax.set_title("Where the money goes", fontsize=10)
    fig.legend(loc="outside lower center", ncols=3, frameon=False, fontsize=9)
    return fig


def input_histogram(rows) -> Figure:
    """Input tokens per request, with the longest requests named."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    tokens = [r.input_tokens for r in rows]
    if tokens:
        ax.hist(tokens, bins=min(40, max(5, len(set(tokens)))), color=BATCH, edgecolor="white")
        longest = sorted(rows, key=lambda r: r.input_tokens, reverse=True)[:3]
        text = "Longest: " + "; ".join(f"{_label(r.custom_id)} ({r.input_tokens:,})" for r in longest)
        ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "#cccccc"})
    ax.set_xlabel("Input tokens per request")
    ax.set_ylabel("Requests")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Distribution of input tokens ({len(tokens):,} requests)", fontsize=10)
    return fig


def model_comparison(estimates: dict) -> Figure:
    """The same plan priced on each model (each counted with its own encoding), batch vs real time."""
    names = list(estimates)
    fig, ax = plt.subplots(figsize=(6.4, 0.6 * len(names) + 1.6), layout="constrained")
    for i, name in enumerate(names):
        e = estimates[name]
        for offset, tier, color in ((-0.18, "realtime", REALTIME), (0.18, "batch", BATCH)):
            c = e.cost[tier]
            ax.barh(i + offset, _f(c["expected"]), height=0.34, color=color,
                    label={"realtime": "Real time", "batch": "Batch API"}[tier] if i == 0 else None)
            if c["high"] is not None:
                ax.hlines(i + offset, _f(c["low"]), _f(c["high"]), color="#333333", linewidth=0.8)
            right = max(_f(c["expected"]), _f(c["high"]) if c["high"] is not None else 0.0)
            ax.annotate(display_money(c["expected"]), (right, i + offset), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(usd)
    ax.set_xlabel("Cost (USD): bars expected, lines low to high")
    ax.set_title("The same plan on each model", fontsize=10)
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    return fig


def save_chart(fig: Figure, folder, name: str) -> str:
    """Write ``fig`` as NAME.png and NAME.svg in ``folder``, each whole then renamed; close it; return the SVG text
    (for inlining in an HTML page)."""
    import io

    from batchcost.core.atomic import atomic_writer, write_text_atomic

    try:
        png, svg = io.BytesIO(), io.StringIO()
        fig.savefig(png, format="png", dpi=150)
        fig.savefig(svg, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    with atomic_writer(f"{folder}/{name}.png") as fh:
        fh.write(png.getvalue())
    write_text_atomic(f"{folder}/{name}.svg", svg.getvalue())
    return svg.getvalue()
