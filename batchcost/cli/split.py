"""`batchcost split PLAN --out-dir DIR`: waves that each fit the Batch API's limits."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP


@app.command()
def split(
    ctx: typer.Context,
    plan: Path = typer.Argument(..., metavar="PLAN", help="The Batch API input file (JSONL)."),
    out_dir: Path = typer.Option(..., "--out-dir", metavar="DIR", help="Where the wave files are written."),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", metavar="N",
                                               help="Requests per file. Default: the provider's limit (OpenAI "
                                               "50,000; Anthropic 100,000; Vertex 200,000; Gemini: bytes only)."),
    max_bytes: Optional[int] = typer.Option(None, "--max-bytes", metavar="N",
                                            help="Bytes per file. Default: the provider's limit (OpenAI 200 MB; "
                                            "Anthropic 256 MiB; Gemini 2 GB; Vertex 1 GB)."),
    max_enqueued_tokens: Optional[int] = typer.Option(
        None, "--max-enqueued-tokens", metavar="N",
        help="Input tokens per file: your account tier's per-model cap on enqueued tokens."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Force an encoding for a private model."),
) -> None:
    """Split PLAN into files that each respect the limits, one model per file, keeping custom_ids and order.

    Prints each wave's requests, input tokens and estimated batch cost (at each request's output bound). The files
    are written whole or not at all.
    """
    from rich.console import Console
    from rich.table import Table

    from batchcost.cli.options import guard
    from batchcost.estimation.estimate import estimate_plan, priced
    from batchcost.plans.split import split_plan
    from batchcost.pricing.cost import display_money, price_tokens
    from batchcost.pricing.tables import load_prices

    guard(inputs=[plan, prices or []], folders=[out_dir])
    table = load_prices(prices or [])
    from batchcost.cli.options import reading

    options = reading(ctx)
    waves = split_plan(plan, out_dir, options=options, max_requests=max_requests, max_bytes=max_bytes,
                       max_enqueued_tokens=max_enqueued_tokens, encoding=encoding)
    view = Table(title=f"{len(waves)} wave(s) in {out_dir}", title_justify="left")
    view.add_column("file", overflow="fold")
    for name in ("requests", "MB", "input tokens", "batch cost at bound"):
        view.add_column(name, justify="right")
    for wave in waves:
        if wave.kind in ("image", "video"):  # priced by image tokens or seconds: the wave's own estimate
            cost = priced(estimate_plan(wave.path, table, options=options).cost, "batch")["high"]
        else:
            cost = price_tokens(table.lookup(wave.model), "batch", input_tokens=wave.input_tokens,
                                output_tokens=wave.output_bound)
        view.add_row(wave.path.name, f"{wave.requests:,}", f"{wave.nbytes / 1e6:,.1f}", f"{wave.input_tokens:,}",
                     display_money(cost))
    Console(highlight=False).print(view)
