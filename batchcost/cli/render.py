"""Terminal tables (rich). Presentation only: every number comes from the library."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from rich.console import Console
from rich.table import Table

from batchcost.estimator.plan_counts import CountedRequest


def _fmt(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def print_count_table(plan: Path, records: Iterable[CountedRequest], *, limit: int) -> None:
    console = Console(highlight=False)
    rows = Table(title=f"Input tokens per request — {plan}", title_justify="left")
    for name, justify in (("line", "right"), ("custom_id", "left"), ("model", "left"),
                          ("input tokens", "right"), ("max output", "right")):
        rows.add_column(name, justify=justify)
    per_model: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # requests, input, bound, unbounded
    notes: dict[str, int] = {}
    shown = 0
    for r in records:
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
        summary.add_column(name, justify=justify)
    for model, (n, tokens, bound, unbounded) in per_model.items():
        summary.add_row(model, _fmt(n), _fmt(tokens), _fmt(bound) + (f" (+{unbounded:,} unbounded)" if unbounded else ""))
    if len(per_model) > 1:
        summary.add_row("all", _fmt(requests), _fmt(sum(t[1] for t in per_model.values())),
                        _fmt(sum(t[2] for t in per_model.values())))
    console.print(summary)
    for note, n in notes.items():
        console.print(f"* approximate: {note} ({n:,} request{'s' if n != 1 else ''})")
