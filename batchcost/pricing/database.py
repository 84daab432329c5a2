"""Prices from a maintained, dated database: pydantic's ``genai-prices``, read offline.

The package ships its data (Decimal prices, match rules, dated history, batch and service-tier variants); its
auto-update is never started, so nothing is fetched at run time. It is imported only when a model is not in any
YAML table (the bundled files, BATCHCOST_PRICES, --prices), and each model is converted to our exact ``ModelPrice``
once per process.

Tiers: standard is the model's price in force on the date; batch, flex and priority are the database's variants
(``processing: batch``, ``service_tier: flex|priority``) in force on that date, each class it names overriding the
standard one (as the database means them). A tier the database has no variant for is priced by the provider's
documented rule (``data/tier_rules.yaml``), said in a warning, or else it is not offered: the database's own
lookup would quietly return the standard price for it, and that is never used.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from functools import cache
from typing import Any, cast

from batchcost.data import load_data
from batchcost.pricing.tables import LongContext, ModelPrice, PriceSource, Rates

NAME = "genai-prices"
HOME = "https://github.com/pydantic/genai-prices"
CLASSES = {"input": "input_mtok", "cached_input": "cache_read_mtok", "cache_write": "cache_write_mtok",
           "cache_write_1h": "cache_write_1h_mtok", "output": "output_mtok",
           # image models (OpenAI's GPT Image): image tokens in and out have rates of their own
           "image_input": "input_image_mtok", "image_cached_input": "cache_image_read_mtok",
           "image_output": "output_image_mtok"}
VARIANTS = {"batch": {"processing": "batch"}, "flex": {"service_tier": "flex"},
            "priority": {"service_tier": "priority"}}
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def provider_of(model: str) -> str:
    """The provider a model name belongs to, as the database names it: the OpenAI-compatible service whose catalogue
    names it (compatible.yaml), else by its prefix (tier_rules.yaml ``database_providers``), else the one service
    database that lists exactly this id when the default provider does not."""
    found = _compatible_databases()[0].get(model)
    if found is not None:
        return found
    table = load_data("tier_rules.yaml")["database_providers"]
    name = model.lower()
    by_prefix = next((provider for prefix, provider in table["prefixes"] if name.startswith(prefix)), None)
    if by_prefix is not None:
        return by_prefix
    if version() is not None and not _listed(table["default"], model):
        listing = [p for p in _compatible_databases()[1] if _listed(p, model)]
        if len(listing) == 1:
            return listing[0]
    return table["default"]


@cache
def _compatible_databases() -> tuple[dict[str, str], tuple[str, ...]]:
    """(model -> database id of the service that serves it, every service's database id) from compatible.yaml."""
    services = load_data("compatible.yaml")["services"]
    models: dict[str, str] = {}
    for service in services.values():  # the first service naming a model is its owner (names are unique there)
        for model in service.get("models") or {}:
            models.setdefault(model, service["database"])
    return models, tuple(dict.fromkeys(s["database"] for s in services.values()))


@cache
def _listed(provider_id: str, model: str) -> bool:
    """Whether the database lists ``model`` under ``provider_id`` by its exact id."""
    return any(p.id == provider_id and any(m.id == model for m in p.models) for p in _snapshot().providers)


@cache
def version() -> str | None:
    try:
        from importlib.metadata import version as dist_version

        return dist_version(NAME)
    except Exception:  # noqa: BLE001 - not installed: the database is simply absent
        return None


def label() -> str:
    return f"database:{NAME} {version()}"


class DatabaseModel:
    """One model found in the database, converted, with what its conversion needs to say."""

    def __init__(self, price: ModelPrice, notes: list[str]):
        self.price = price
        self.notes = notes


def _snapshot():
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()  # the bundled data: UpdatePrices is never started


def _at(on: dt.date | None) -> dt.datetime:
    day = on or dt.date.today()
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc)


@cache
def find(model: str, on: dt.date | None = None) -> DatabaseModel | None:
    """The database's price for ``model`` in force on ``on`` (default today), or None when it has none."""
    if version() is None:
        return None
    try:
        provider, info = _snapshot().find_provider_model(model, None, provider_of(model), None)
    except LookupError:
        return None
    when = _at(on)
    standard = info.get_prices(when)
    notes: list[str] = []
    base, long, threshold = _rates(standard.__dict__, notes, model, "standard")
    if base is None:
        return None  # priced by something other than tokens (images, seconds): not ours to guess
    tiers: dict[str, Rates | None] = {}
    rules = (load_data("tier_rules.yaml").get("providers") or {}).get(provider.id, {})
    for tier, when_keys in VARIANTS.items():
        overrides = _variant(info, when_keys, when)
        if overrides is not None:
            merged = {**{k: v for k, v in standard.__dict__.items() if v is not None}, **overrides}
            tier_base, tier_long, _ = _rates(merged, notes, model, tier)
            tiers[tier] = _with_long(tier_base, tier_long) if tier_base is not None and tier_long is not None \
                else tier_base
        elif tier in rules:
            tiers[tier] = _by_rule(base, long, rules[tier])
            notes.append(f"{model}: the {tier} price is derived by {provider.id}'s rule ({rules[tier]['rule']}; "
                         f"{rules[tier]['source']}): the database has no {tier} figure for it")
        else:
            tiers[tier] = None
    realtime = _with_long(base, long) if long is not None else base
    price = ModelPrice(
        model=info.id, realtime=realtime, batch=tiers["batch"], source=f"{HOME} ({info.price_comments or ''})"[:400],
        checked_on=_checked_on(info), path=label(), aliases=(), flex=tiers["flex"], priority=tiers["priority"],
        long_context=None if threshold is None else LongContext(threshold, Decimal(1), Decimal(1)),
        extra={"provider": provider.id, "database_model": info.id},
    )
    if price.batch is None:  # every provider here has a batch tier; without a rule it cannot be priced honestly
        notes.append(f"{model}: the database has no batch price and there is no rule for {provider.id}")
    return DatabaseModel(price, notes)


def _variant(info: Any, when_keys: dict[str, str], at: dt.datetime) -> dict | None:
    """The classes a tier variant in force at ``at`` overrides, or None when there is no such variant."""
    found: dict = {}
    for variant in info.price_variants or ():
        if variant.when != when_keys:
            continue
        if variant.constraint is not None and not variant.constraint.active(at):
            continue
        for key, value in variant.prices.__dict__.items():
            if value is not None:
                found.setdefault(key, value)
    return found or None


def _rates(values: dict, notes: list[str], model: str, tier: str) -> tuple[Rates | None, Rates | None, int | None]:
    """(rates below the long-context threshold, rates above it, the threshold) from the database's fields."""
    base: dict[str, Decimal | None] = {}
    above: dict[str, Decimal | None] = {}
    thresholds = set()
    for ours, theirs in CLASSES.items():
        value = values.get(theirs)
        if value is None:
            base[ours] = above[ours] = None
        elif isinstance(value, Decimal):
            base[ours] = above[ours] = value
        else:  # TieredPrices: the whole request repriced above a threshold (the "cliff" the providers use)
            base[ours] = value.base
            if len(value.tiers) != 1:
                notes.append(f"{model}: {tier} {ours} has {len(value.tiers)} long-context tiers; only the first "
                             "is used")
            above[ours] = value.tiers[0].price
            thresholds.add(value.tiers[0].start)
    if base["input"] is None:
        return None, None, None
    threshold = min(thresholds) if thresholds else None
    if len(thresholds) > 1:
        notes.append(f"{model}: its {tier} classes change price at different thresholds; the lowest is used")
    make = lambda d: Rates(**d)  # noqa: E731
    return make(base), (make(above) if threshold is not None else None), threshold


def _with_long(rates: Rates, long: Rates) -> Rates:
    return replace(rates, long=long)


def _by_rule(base: Rates, long: Rates | None, rule: dict) -> Rates:
    from decimal import localcontext

    from batchcost.pricing.cost import EXACT

    if not isinstance(rule["factor"], str):  # read as text so the factor never passes through float
        raise TypeError(f"tier_rules.yaml: factor {rule['factor']!r} must be a quoted decimal")
    factor = Decimal(rule["factor"])
    classes = set(rule["classes"])

    def apply(rates: Rates) -> Rates:
        with localcontext(EXACT):
            scaled = {c: (None if getattr(rates, c) is None else
                          getattr(rates, c) * factor if c in classes else getattr(rates, c)) for c in CLASSES}
        return Rates(**cast(dict[str, Any], scaled))

    result = apply(base)
    return _with_long(result, apply(long)) if long is not None else result


def _checked_on(info: Any) -> dt.date:
    """When the database last verified this model: the newest date in its price comments or its dated prices."""
    dates = [dt.date.fromisoformat(d) for d in _DATE.findall(info.price_comments or "") if _valid(d)
             and dt.date.fromisoformat(d) <= dt.date.today()]
    for variant in info.price_variants or ():
        start = getattr(variant.constraint, "start_date", None)
        if start is not None and start <= dt.date.today():
            dates.append(start)
    if isinstance(info.prices, list):
        dates += [c.constraint.start_date for c in info.prices if getattr(c.constraint, "start_date", None)
                  and c.constraint.start_date <= dt.date.today()]
    return max(dates) if dates else as_of()


def _valid(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def as_of() -> dt.date:
    """The database's newest dated price that has already come into force: how fresh its data is (the package
    carries no release date; dates ahead are announced changes, not checks)."""
    return _as_of(dt.date.today())


@cache
def _as_of(today: dt.date) -> dt.date:
    newest = dt.date(2000, 1, 1)
    for provider in _snapshot().providers:
        for info in provider.models:
            for variant in info.price_variants or ():
                start = getattr(variant.constraint, "start_date", None)
                if start is not None and newest < start <= today:
                    newest = start
            if isinstance(info.prices, list):
                for conditional in info.prices:
                    start = getattr(conditional.constraint, "start_date", None)
                    if start is not None and newest < start <= today:
                        newest = start
    return newest


def source() -> PriceSource:
    return PriceSource(path=label(), source=HOME, checked_on=as_of(), currency="USD")
