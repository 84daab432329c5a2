"""Terminal tables (rich). Presentation only: every number comes from the library."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from batchcost.plans.counts import CountedRequest


def _fmt(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def print_count_table(plan: Path, records: Iterable[CountedRequest], *, limit: int, after=None) -> None:
    """``after()``, called once every record is read, returns lines to print last (what --online verified)."""
    console = Console(highlight=False)
    rows = Table(title=f"Input tokens per request — {plan}", title_justify="left")
    for name, justify in (("line", "right"), ("custom_id", "left"), ("model", "left"),
                          ("input tokens", "right"), ("max output", "right")):
        rows.add_column(name, justify="right" if justify == "right" else "left")
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # requests, input, bound, unbounded
    notes: dict[str, int] = {}
    band = [0, 0, 0]  # approximate requests, tokens below and above their central counts
    shown = 0
    for r in records:
        if r.input_low is not None:
            band[0] += 1
            band[1] += r.input_tokens - r.input_low
            band[2] += (r.input_high if r.input_high is not None else r.input_tokens) - r.input_tokens
        if shown < limit:
            rows.add_row(str(r.line), r.custom_id, r.model, _fmt(r.input_tokens) + ("*" if r.approximate else ""),
                         _fmt(r.max_output_tokens))
            shown += 1
        totals = per_model[r.model]
        totals[0] += 1
        totals[1] += r.input_tokens
        if r.max_output_tokens is None:
            totals[3] += 1
        else:
            totals[2] += r.max_output_tokens
        for note in r.notes:
            notes[note] = notes.get(note, 0) + 1
    requests = sum(t[0] for t in per_model.values())
    if requests > shown:
        rows.caption = f"… {requests - shown:,} more requests not shown (--limit)"
    console.print(rows)
    summary = Table(title="Totals", title_justify="left")
    for name, justify in (("model", "left"), ("requests", "right"), ("input tokens", "right"),
                          ("max output tokens", "right")):
        summary.add_column(name, justify="right" if justify == "right" else "left")
    for model, (n, tokens, bound, unbounded) in per_model.items():
        unbounded_note = f" (+{unbounded:,} unbounded)" if unbounded else ""
        summary.add_row(model, _fmt(n), _fmt(tokens), _fmt(bound) + unbounded_note)
    if len(per_model) > 1:
        summary.add_row("all", _fmt(requests), _fmt(sum(t[1] for t in per_model.values())),
                        _fmt(sum(t[2] for t in per_model.values())))
    console.print(summary)
    for note, n in notes.items():
        console.print(f"* approximate: {note} ({n:,} request{'s' if n != 1 else ''})")
    if band[0]:
        total = sum(t[1] for t in per_model.values())
        console.print(f"* {band[0]:,} count(s) are approximations (the notes above say why): "
                      f"{total - band[1]:,} to {total + band[2]:,} input tokens in all (`--online` counts them "
                      "exactly)")
    for line in (after() if after else []):
        console.print(line)


def print_estimate(estimate, *, budget=None, budget_on: str = "high") -> None:
    """Real time vs batch as low / expected / high, then by model, as a person reads it at a glance."""
    from batchcost.pricing.cost import display_money as usd

    console = Console(highlight=False)
    plan = estimate.plan
    from batchcost.plans.jobs import describe

    where = describe(plan["path"], plan.get("files") or [])  # a job: its files, not the job plan joining them
    console.print(f"[bold]Estimate[/bold] {where} · {plan['requests']:,} requests · {', '.join(plan['models'])}"
                  f" · {plan['endpoint']}")
    table = Table(title_justify="left")
    table.add_column("")
    for name in ("low", "expected", "high"):
        table.add_column(name, justify="right")
    out, cost = estimate.output_tokens, estimate.cost
    band = estimate.input_tokens_range  # approximate counts: low and high are the stated band's ends
    table.add_row("input tokens", *(f"{n:,}" for n in ((band["low"], estimate.input_tokens, band["high"]) if band
                                                       else [estimate.input_tokens] * 3)))
    table.add_row("output tokens", _fmt(out["low"]), _fmt(out["expected"]), _fmt(out["high"]))
    table.add_row("real-time cost", *(usd(cost["realtime"][k]) for k in ("low", "expected", "high")))
    table.add_row("batch cost", *(usd(cost["batch"][k]) for k in ("low", "expected", "high")), style="bold")
    table.add_row("batch saves", *(usd(None if cost["realtime"][k] is None or cost["batch"][k] is None
                                       else cost["realtime"][k] - cost["batch"][k])
                                   for k in ("low", "expected", "high")))
    for tier in (t for t in cost if t not in ("realtime", "batch")):
        row = cost[tier]
        table.add_row(f"{tier} cost", *(["not offered"] * 3 if row is None else
                                        [usd(row[k]) for k in ("low", "expected", "high")]))
    console.print(table)
    if len(cost) > 2:
        from batchcost.estimation.estimate import tier_advice

        console.print(tier_advice(estimate))
    media = [m for m in estimate.by_model if m.media]
    for m in media:
        if "video_seconds" in m.media:
            seconds = ", ".join(f"{n:,} s at {size}" for size, n in m.media["video_seconds"].items())
            console.print(f"{m.model}: {seconds} of video, priced per second by size.")
        if "image_output_tokens" in m.media:
            console.print(f"{m.model}: output is the image tokens of the images each request asks for (quality, "
                          "size and n); where the model picks (auto), low and high are its cheapest and dearest "
                          "choice.")
    if len(media) == len(estimate.by_model):
        pass
    else:
        from batchcost.estimation.forecast import output_sentence

        console.print(output_sentence(out))
    if len(estimate.by_model) > 1:
        models = Table(title="By model", title_justify="left")
        for name, justify in (("model", "left"), ("requests", "right"), ("input tokens", "right"),
                              ("real-time (expected)", "right"), ("batch (expected)", "right")):
            models.add_column(name, justify="right" if justify == "right" else "left")
        for m in estimate.by_model:
            models.add_row(m.model, f"{m.requests:,}", f"{m.input_tokens:,}", usd(m.cost["realtime"]["expected"]),
                           usd(m.cost["batch"]["expected"]))
        console.print(models)
    for source in estimate.prices:
        console.print(f"Prices: {source['path']} — {source['source']}, checked {source['checked_on']}")
    if budget is not None:
        figure = cost["batch"][budget_on]
        if figure is not None and figure <= budget:
            console.print(f"Budget {usd(budget)}: [green]fits[/green] at {budget_on} ({usd(figure)}), "
                          f"{usd(budget - figure)} to spare.")
    for warning in estimate.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def print_comparison(picks: dict, deadline: float | None) -> None:
    """The one table of every model and tier, cheapest first, the cheapest that meets the deadline marked."""
    from decimal import Decimal

    from rich.console import Console
    from rich.table import Table

    from batchcost.pricing.cost import display_money

    turnaround = {"realtime": "at once", "priority": "at once", "batch": "24 h", "flex": "best effort"}
    console = Console(highlight=False)
    title = "Every model and tier, cheapest first" + (f" (deadline {deadline:g} h)" if deadline is not None else "")
    view = Table(title=title, title_justify="left")
    for name in ("model", "provider", "tier", "expected", "high", "count", "turnaround", ""):
        view.add_column(name, justify="right" if name in ("expected", "high") else "left",
                        overflow="fold", no_wrap=name in ("expected", "high"))
    best = picks["cheapest"]
    for c in picks["choices"]:
        mark = "cheapest" if best and (c["model"], c["tier"]) == (best["model"], best["tier"]) else (
            f"check refuses {c['check_refuses']:,}" if c["check_refuses"] else
            ("" if c["meets_deadline"] else "no promise" if c["tier"] == "flex" else "too slow"))
        view.add_row(c["model"], c["provider"] + (" (translated)" if c["translated_from"] else ""),
                     "standard" if c["tier"] == "realtime" else c["tier"], display_money(Decimal(c["expected"])),
                     display_money(Decimal(c["high"])), c["count_basis"], turnaround[c["tier"]], mark)
    console.print(view)
    for line in picks["warnings"]:
        console.print(f"warning: {line}")
    if best is None:
        console.print("No model and tier meets the deadline with every request accepted.")
