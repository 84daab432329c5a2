"""`batchcost prices list | show MODEL | check`: the price tables in force."""
from __future__ import annotations

import json
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


TIERS = ("realtime", "batch", "flex", "priority")
CLASSES = ("input", "cached_input", "cache_write", "cache_write_1h", "output")


def price_record(p) -> dict:
    """A model's price in force as plain data: every tier (null where not offered) and class, and its source."""
    tiers = {}
    for tier in TIERS:
        rates = getattr(p, tier)
        tiers["standard" if tier == "realtime" else tier] = None if rates is None else {
            c: money(getattr(rates, c)) for c in CLASSES}
    record = {"model": p.model, "aliases": list(p.aliases), "tiers": tiers,
              "source": {"file": p.path, "source": p.source, "checked_on": p.checked_on.isoformat()}}
    if p.long_context:
        lc = p.long_context
        record["long_context"] = {"above_input_tokens": lc.above_input_tokens,
                                  "input_multiplier": money(lc.input_multiplier),
                                  "output_multiplier": money(lc.output_multiplier)}
    return record


def _tier_cell(rates) -> str:
    if rates is None:
        return "not offered"
    return " / ".join(_rate(getattr(rates, c)) for c in ("input", "cached_input", "output"))


FormatOpt = typer.Option("table", "--format", "-f", metavar="table|json", help="table or json.")


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        from batchcost.errors import UsageError

        raise UsageError(f"--format must be table or json, not {fmt!r}")


@prices_app.command("list")
def list_prices(prices: Optional[List[Path]] = PricesOpt, fmt: str = FormatOpt) -> None:
    """Every priced model at every tier (input / cached input / output, USD per 1M tokens; a tier the model does
    not offer says so), and where each price comes from."""
    _check_format(fmt)
    table = load_prices(prices or [])
    if fmt == "json":
        sys.stdout.write(json.dumps([price_record(table.prices[n]) for n in table.names()], indent=2) + "\n")
        return
    view = Table(title="USD per 1M tokens: input / cached input / output", title_justify="left")
    for name, justify in (("model", "left"), ("standard", "right"), ("batch", "right"), ("flex", "right"),
                          ("priority", "right"), ("source", "left")):
        view.add_column(name, justify=justify, no_wrap=name == "model")
    for name in table.names():
        p = table.prices[name]
        view.add_row(name, *(_tier_cell(getattr(p, t)) for t in TIERS), f"{p.path} ({p.checked_on})")
    view.caption = "; ".join(f"{s.path}: {s.source}, checked {s.checked_on}" for s in table.sources)
    view.caption_justify = "left"
    Console(highlight=False).print(view)


@prices_app.command("show")
def show_price(model: str = typer.Argument(..., metavar="MODEL"), prices: Optional[List[Path]] = PricesOpt,
               fmt: str = FormatOpt) -> None:
    """The price in force for MODEL (a family, alias or dated snapshot): every tier and class, and its source."""
    _check_format(fmt)
    p = load_prices(prices or []).lookup(model)
    if fmt == "json":
        sys.stdout.write(json.dumps({**price_record(p), "asked_for": model}, indent=2) + "\n")
        return
    lines = [f"model: {p.model}" + (f" (for {model})" if model != p.model else ""),
             f"source: {p.source} (checked {p.checked_on}, file {p.path})"]
    for tier in TIERS:
        r = getattr(p, tier)
        name = "standard" if tier == "realtime" else tier
        if r is None:
            lines.append(f"{name}: not offered")
            continue
        parts = [f"{c.replace('_', ' ')} {_rate(getattr(r, c))}" for c in CLASSES
                 if c in ("input", "output") or getattr(r, c) is not None]
        lines.append(f"{name}: {', '.join(parts)} USD per 1M tokens")
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
