"""`batchcost prices list | show MODEL | check`: the price tables in force."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP
from batchcost.core.errors import BadInput
from batchcost.pricing.cost import money
from batchcost.pricing.tables import STALE_AFTER_DAYS, load_prices

prices_app = typer.Typer(help="Show and check the price tables (USD per 1M tokens).", no_args_is_help=True)
app.add_typer(prices_app, name="prices")

PricesOpt = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP)


def _rate(value) -> str:
    return "—" if value is None else money(value) or "—"


TIERS = ("realtime", "batch", "flex", "priority")
ALL = ("flex", "priority")  # ask the database for the tiers a YAML table does not mention
CLASSES = ("input", "cached_input", "cache_write", "cache_write_1h", "output")


def price_record(p) -> dict:
    """A model's price in force as plain data: every tier (null where not offered) and class, and its source."""
    tiers = {}
    for tier in TIERS:
        rates = getattr(p, tier)
        tiers["standard" if tier == "realtime" else tier] = None if rates is None else {
            **{c: money(getattr(rates, c)) for c in CLASSES},
            **({"long_context": {c: money(getattr(rates.long, c)) for c in CLASSES}} if rates.long else {})}
    record = {"model": p.model, "aliases": list(p.aliases), "tiers": tiers,
              "source": {"file": p.path, "source": p.source, "checked_on": p.checked_on.isoformat(),
                         **({"effective_from": p.effective_from.isoformat()} if p.effective_from else {})}}
    if p.long_context:
        lc = p.long_context
        record["long_context"] = {"above_input_tokens": lc.above_input_tokens,
                                  "input_multiplier": money(lc.input_multiplier),
                                  "output_multiplier": money(lc.output_multiplier)}
    return record


def _classes(rates) -> str:
    return ", ".join(f"{c.replace('_', ' ')} {_rate(getattr(rates, c))}" for c in CLASSES
                     if c in ("input", "output") or getattr(rates, c) is not None)


def _tier_cell(rates) -> str:
    if rates is None:
        return "not offered"
    return " / ".join(_rate(getattr(rates, c)) for c in ("input", "cached_input", "output"))


FormatOpt = typer.Option("table", "--format", "-f", metavar="table|json", help="table or json.")


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        from batchcost.core.errors import UsageError

        raise UsageError(f"--format must be table or json, not {fmt!r}")


@prices_app.command("list")
def list_prices(prices: Optional[list[Path]] = PricesOpt, fmt: str = FormatOpt) -> None:
    """Every priced model at every tier (input / cached input / output, USD per 1M tokens; a tier the model does
    not offer says so), and where each price comes from."""
    _check_format(fmt)
    table = load_prices(prices or [])
    if fmt == "json":
        sys.stdout.write(json.dumps([price_record(table.lookup(n, tiers=ALL)) for n in table.names()], indent=2) + "\n")
        return
    view = Table(title="USD per 1M tokens: input / cached input / output", title_justify="left")
    for name, justify in (("model", "left"), ("standard", "right"), ("batch", "right"), ("flex", "right"),
                          ("priority", "right"), ("source", "left")):
        view.add_column(name, justify="right" if justify == "right" else "left", no_wrap=name == "model")
    for name in table.names():
        p = table.lookup(name, tiers=ALL)
        view.add_row(name, *(_tier_cell(getattr(p, t)) for t in TIERS), f"{p.path} ({p.checked_on})")
    view.caption = "; ".join(f"{s.path}: {s.source}, checked {s.checked_on}" for s in table.sources)
    view.caption_justify = "left"
    Console(highlight=False).print(view)


@prices_app.command("show")
def show_price(model: str = typer.Argument(..., metavar="MODEL"), prices: Optional[list[Path]] = PricesOpt,
               fmt: str = FormatOpt) -> None:
    """The price in force for MODEL (a family, alias or dated snapshot): every tier and class, and its source."""
    _check_format(fmt)
    p = load_prices(prices or []).lookup(model, tiers=ALL)
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
        lines.append(f"{name}: {_classes(r)} USD per 1M tokens")
        if r.long is not None and p.long_context:
            lines.append(f"  {name} above {p.long_context.above_input_tokens:,} input tokens: {_classes(r.long)}")
    if p.long_context and not any(getattr(p, t) is not None and getattr(p, t).long for t in TIERS):
        lc = p.long_context
        lines.append(f"long context: requests over {lc.above_input_tokens:,} input tokens pay x{lc.input_multiplier} "
                     f"input and x{lc.output_multiplier} output")
    for key, value in p.extra.items():
        lines.append(f"{key}: {value}")
    print("\n".join(lines))


def parse_date(value: str | None, option: str):
    """An option's YYYY-MM-DD date (exit 2 when it is not a real date)."""
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        from batchcost.core.errors import UsageError

        raise UsageError(f"{option} must be a date such as 2026-11-01, not {value!r}") from None


@prices_app.command("check")
def check_prices(prices: Optional[list[Path]] = PricesOpt,
                 today: Optional[str] = typer.Option(None, "--today", metavar="YYYY-MM-DD",
                                                     help="Check as of this date (default: today).")) -> None:
    """List the price tables and the price database with the date they were checked; exit 1 if any is older
    than 90 days (a date in the future warns)."""
    from batchcost.pricing import database

    day = parse_date(today, "--today")
    table = load_prices(prices or [])
    sources = list(table.sources)
    if database.version() is not None and all(s.path != database.label() for s in sources):
        sources.append(database.source())  # its newest dated price: the package carries no release date
    stale = [s for s in sources if s.age_days(day) > STALE_AFTER_DAYS]
    future = [s for s in sources if s.age_days(day) < 0]
    for source in sources:
        state = "STALE" if source in stale else "FUTURE" if source in future else "ok"
        print(f"{state:5} {source.path}: checked {source.checked_on} ({source.age_days(day)} days ago) — "
              f"{source.source}")
    if stale:
        raise BadInput(f"{len(stale)} price source(s) older than {STALE_AFTER_DAYS} days; check them against their "
                       "source (pip install -U genai-prices for the database)")
    for source in future:
        print(f"warning: {source.path} says it was checked on {source.checked_on}, which is in the future",
              file=sys.stderr)
    print(f"all price sources checked within {STALE_AFTER_DAYS} days", file=sys.stderr)


@prices_app.command("diff")
def diff_prices(prices: Optional[list[Path]] = PricesOpt, fmt: str = FormatOpt) -> None:
    """Where the YAML tables in force (bundled and yours) and the price database disagree, model by model, tier by
    tier, class by class. A report: exit 0."""
    from batchcost.pricing import database

    _check_format(fmt)
    table = load_prices(prices or [])
    rows = []
    for name in table.names():
        ours = table.lookup(name, tiers=ALL)
        found = database.find(name)
        if found is None:
            rows.append({"model": name, "tier": None, "class": None, "yaml": ours.path, "database": None,
                         "note": "not in the database"})
            continue
        for tier in TIERS:
            a, b = getattr(ours, tier), getattr(found.price, tier)
            label = "standard" if tier == "realtime" else tier
            if (a is None) != (b is None):
                rows.append({"model": name, "tier": label, "class": None, "yaml": _tier_cell(a),
                             "database": _tier_cell(b), "note": f"{ours.path} vs {found.price.path}"})
                continue
            for c in CLASSES if a is not None else ():
                x, y = getattr(a, c), getattr(b, c)
                if x != y:
                    rows.append({"model": name, "tier": label, "class": c, "yaml": money(x), "database": money(y),
                                 "note": f"{ours.path} vs {found.price.path}"})
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    view = Table(title=f"YAML tables vs {database.label()}: {len(rows)} difference(s)", title_justify="left")
    for column in ("model", "tier", "class", "yaml", "database"):
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(row["model"], row["tier"] or "", row["class"] or row["note"], str(row["yaml"] or "—"),
                     str(row["database"] or "—"))
    Console(highlight=False).print(view)
