"""`batchcost prices list | show MODEL | check`: the price tables in force."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP
from batchcost.errors import BadInput
from batchcost.pricing.cost import money
from batchcost.pricing.tables import STALE_AFTER_DAYS, load_prices

prices_app = typer.Typer(help="Show and check the price tables (USD per 1M tokens).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")

PricesOpt = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP)


def _rate(value) -> str:
    return "—" if value is None else money(value)


@prices_app.command("list")
def list_prices(prices: Optional[List[Path]] = PricesOpt) -> None:
    """Every priced model: real-time and batch input, cached input and output, and where the price comes from."""
    table = load_prices(prices or [])
    view = Table(title="USD per 1M tokens", title_justify="left")
    for name, justify in (("model", "left"), ("input", "right"), ("cached", "right"), ("output", "right"),
                          ("batch in", "right"), ("batch cached", "right"), ("batch out", "right")):
        view.add_column(name, justify=justify, no_wrap=name == "model")
    for name in table.names():
        p = table.prices[name]
        view.add_row(name, _rate(p.realtime.input), _rate(p.realtime.cached_input), _rate(p.realtime.output),
                     _rate(p.batch.input), _rate(p.batch.cached_input), _rate(p.batch.output))
    view.caption = "; ".join(f"{s.path}: {s.source}, checked {s.checked_on}" for s in table.sources)
    view.caption_justify = "left"
    Console(highlight=False).print(view)


@prices_app.command("show")
def show_price(model: str = typer.Argument(..., metavar="MODEL"), prices: Optional[List[Path]] = PricesOpt) -> None:
    """The price in force for MODEL (a family, alias or dated snapshot)."""
    p = load_prices(prices or []).lookup(model)
    lines = [f"model: {p.model}" + (f" (for {model})" if model != p.model else ""),
             f"source: {p.source} (checked {p.checked_on}, file {p.path})"]
    for tier in ("realtime", "batch"):
        r = p.rates(tier)
        lines.append(f"{tier}: input {_rate(r.input)}, cached input {_rate(r.cached_input)}, "
                     f"output {_rate(r.output)} USD per 1M tokens")
    if p.long_context:
        lc = p.long_context
        lines.append(f"long context: requests over {lc.above_input_tokens:,} input tokens pay x{lc.input_multiplier} "
                     f"input and x{lc.output_multiplier} output")
    for key, value in p.extra.items():
        lines.append(f"{key}: {value}")
    print("\n".join(lines))


@prices_app.command("check")
def check_prices(prices: Optional[List[Path]] = PricesOpt) -> None:
    """List price files whose checked_on is older than 90 days (or in the future); exit 1 if any is stale."""
    table = load_prices(prices or [])
    stale = table.stale_sources()
    future = table.future_sources()
    for source in table.sources:
        state = "STALE" if source in stale else "FUTURE" if source in future else "ok"
        print(f"{state:5} {source.path}: checked {source.checked_on} ({source.age_days()} days ago) — {source.source}")
    if stale:
        raise BadInput(f"{len(stale)} price file(s) older than {STALE_AFTER_DAYS} days; check them against their "
                       "source")
    for source in future:
        print(f"warning: {source.path} says it was checked on {source.checked_on}, which is in the future",
              file=sys.stderr)
    print(f"all price files checked within {STALE_AFTER_DAYS} days", file=sys.stderr)
