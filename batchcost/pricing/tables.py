"""Dated YAML price tables, read exactly as decimals, with file:line errors.

Tables stack: the bundled files, then ``BATCHCOST_PRICES``, then each ``--prices FILE`` in order; a later
table replaces an earlier one model by model. Unknown fields are kept (``extra``) for tiers such as flex or
priority. A model without a price is an error naming the closest priced models: never $0.
"""
from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation, localcontext
from importlib import resources
from pathlib import Path
from typing import Any, cast

from batchcost.core.errors import BadInput
from batchcost.core.inputs import line_of as _line
from batchcost.core.inputs import read_input_text, yaml_document

STALE_AFTER_DAYS = 90
MAX_PRICE = Decimal(1_000_000)  # USD per 1M tokens (or a multiplier): anything above is a typo, not a price
MAX_DECIMAL_PLACES = 60  # 40-place prices are exact; 1e-400 is not a price
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
IMAGE_CLASSES = ("image_input", "image_cached_input", "image_output")  # GPT Image models' image tokens
_KNOWN_MODEL_FIELDS = {"aliases", "input", "cached_input", "output", "cache_write", "cache_write_1h", "batch", "flex",
                       "priority", "long_context", "video_per_second", "effective_from", *IMAGE_CLASSES}
TIER_NAMES = {"standard": "realtime", "realtime": "realtime", "batch": "batch", "flex": "flex", "priority": "priority"}
TURNAROUND = {"realtime": "answers at once", "batch": "within 24 hours", "flex": "best effort, may be slower or "
              "refused when busy", "priority": "faster and steadier than standard"}


class PriceFileError(BadInput):
    """A price file is unreadable or breaks the schema."""


class MissingPrice(BadInput):
    """No price table has this model."""


class TierNotOffered(MissingPrice):
    """The model has no price at this tier (flex, priority): it is not offered, never priced at another tier."""


# -- the model -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens for one tier. ``cached_input`` None means cached tokens cost the input rate; a cache write
    (5-minute, 1-hour) with no rate is an error when such tokens are priced, never $0."""

    input: Decimal
    output: Decimal | None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None
    long: Rates | None = None  # absolute rates for a request over the model's long-context threshold, if known
    # image models: image tokens in (edits' input images), cached image input, image tokens out (the images made);
    # image tokens are a part of the input / output tokens, priced at these rates instead (none: an error, never $0)
    image_input: Decimal | None = None
    image_cached_input: Decimal | None = None
    image_output: Decimal | None = None
    # video models: USD per second of video, by size ("1280x720"); a size not listed is an error, never $0
    per_second: tuple[tuple[str, Decimal], ...] | None = None

    def second_rate(self, size: str) -> Decimal | None:
        return dict(self.per_second or ()).get(size)


@dataclass(frozen=True)
class LongContext:
    above_input_tokens: int
    input_multiplier: Decimal
    output_multiplier: Decimal


@dataclass(frozen=True)
class ModelPrice:
    model: str
    realtime: Rates
    batch: Rates | None  # None: not offered at the batch tier
    source: str
    checked_on: dt.date
    path: str
    aliases: tuple[str, ...] = ()
    long_context: LongContext | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    flex: Rates | None = None
    priority: Rates | None = None
    effective_from: dt.date | None = None  # the first day this price applies (None: as long as its file says)

    def in_effect(self, day: dt.date) -> bool:
        return self.effective_from is None or self.effective_from <= day

    def offers(self, tier: str) -> bool:
        return getattr(self, TIER_NAMES[tier]) is not None

    def rates(self, tier: str) -> Rates:
        """The rates of ``tier`` (standard/realtime, batch, flex, priority); ``TierNotOffered`` when the model has
        none there: never another tier's price."""
        if tier not in TIER_NAMES:
            raise ValueError(f"unknown tier {tier!r}")
        rates = getattr(self, TIER_NAMES[tier])
        if rates is None:
            raise TierNotOffered(f"model {self.model!r} is not offered at the {tier} tier by {self.path}; a price "
                                 f"file with a `{tier}:` block for it (--prices FILE) gives its {tier} price")
        return rates


@dataclass(frozen=True)
class PriceSource:
    path: str
    source: str
    checked_on: dt.date
    currency: str

    def age_days(self, today: dt.date | None = None) -> int:
        return ((today or dt.date.today()) - self.checked_on).days

    def as_dict(self) -> dict:
        return {"path": self.path, "source": self.source, "checked_on": self.checked_on.isoformat()}


# -- parsing ---------------------------------------------------------------------------------------------
def _price(value: Any, path: str, line: int | None, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise PriceFileError(f"{what} must be a number, not {value!r}", path=path, line=line)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceFileError(f"{what} must be a number, not {value!r}", path=path, line=line) from None
    if not number.is_finite() or number < 0:
        raise PriceFileError(f"{what} must be a non-negative number, not {value}", path=path, line=line)
    if number > MAX_PRICE or (number and int(number.as_tuple().exponent) < -MAX_DECIMAL_PLACES):
        raise PriceFileError(f"{what} is {value}: outside any real price (0 to {MAX_PRICE:,} USD per 1M tokens, "
                             f"at most {MAX_DECIMAL_PLACES} decimal places)", path=path, line=line)
    return number


def _optional_price(mapping: dict, key: str, path: str, what: str) -> Decimal | None:
    if key not in mapping or mapping[key] is None:
        return None
    return _price(mapping[key], path, _line(mapping, key), f"{what}.{key}")


def _rates(mapping: Any, path: str, what: str, line: int | None) -> Rates:
    if not isinstance(mapping, dict):
        raise PriceFileError(f"{what} must be a mapping of prices", path=path, line=line)
    per_second = _per_second(mapping.get("video_per_second"), path, what, _line(mapping, "video_per_second"))
    if "input" not in mapping and per_second is None:
        raise PriceFileError(f"{what}.input is missing", path=path, line=line)
    return Rates(
        # a video model bills seconds only: its token input is 0 (and it takes no token requests: models.yaml)
        input=_price(mapping["input"], path, _line(mapping, "input"), f"{what}.input") if "input" in mapping
        else Decimal(0),
        output=_optional_price(mapping, "output", path, what),
        cached_input=_optional_price(mapping, "cached_input", path, what),
        cache_write=_optional_price(mapping, "cache_write", path, what),
        cache_write_1h=_optional_price(mapping, "cache_write_1h", path, what),
        **cast(dict[str, Any], {c: _optional_price(mapping, c, path, what) for c in IMAGE_CLASSES}),
        per_second=per_second,
    )


def _per_second(raw: Any, path: str, what: str, line: int | None) -> tuple[tuple[str, Decimal], ...] | None:
    """``video_per_second: {"1280x720": 0.10, ...}``: USD per second of video of each size."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        raise PriceFileError(f"{what}.video_per_second must map sizes (WIDTHxHEIGHT) to USD per second", path=path,
                             line=line)
    out = []
    for size, value in raw.items():
        if not isinstance(size, str) or not re.fullmatch(r"\d+x\d+", size):
            raise PriceFileError(f"{what}.video_per_second: {size!r} is not a size like 1280x720", path=path,
                                 line=_line(raw, size) or line)
        out.append((size, _price(value, path, _line(raw, size) or line, f"{what}.video_per_second.{size}")))
    return tuple(out)


def _discounted(rates: Rates, discount: Decimal) -> Rates:
    from batchcost.pricing.cost import EXACT

    with localcontext(EXACT):
        return _scaled(rates, Decimal(1) - discount)


def _scaled(rates: Rates, factor: Decimal) -> Rates:

    def scale(value: Decimal | None) -> Decimal | None:
        return None if value is None else value * factor

    return Rates(input=rates.input * factor, output=scale(rates.output), cached_input=scale(rates.cached_input),
                 cache_write=scale(rates.cache_write), cache_write_1h=scale(rates.cache_write_1h),
                 **cast(dict[str, Any], {c: scale(getattr(rates, c)) for c in IMAGE_CLASSES}),
                 per_second=None if rates.per_second is None else tuple((k, v * factor) for k, v in rates.per_second))


def _long_context(raw: Any, path: str, line: int | None, what: str) -> LongContext | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or "above_input_tokens" not in raw:
        raise PriceFileError(f"{what}.long_context needs above_input_tokens", path=path, line=line)
    threshold = raw["above_input_tokens"]
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
        raise PriceFileError(f"{what}.long_context.above_input_tokens must be a positive integer",
                             path=path, line=_line(raw, "above_input_tokens"))
    return LongContext(
        above_input_tokens=threshold,
        input_multiplier=_price(raw.get("input_multiplier", 1), path, _line(raw, "input_multiplier"),
                                f"{what}.long_context.input_multiplier"),
        output_multiplier=_price(raw.get("output_multiplier", 1), path, _line(raw, "output_multiplier"),
                                 f"{what}.long_context.output_multiplier"),
    )


def _date(mapping: dict, key: str, path: str, what: str) -> dt.date | None:
    """A date field (YYYY-MM-DD), or None when the mapping has none."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise PriceFileError(f"{what} must be a date (YYYY-MM-DD), not {str(value)[:40]!r}", path=path,
                             line=_line(mapping, key))
    return value


def parse_price_text(text: str, path: str) -> tuple[PriceSource, dict[str, ModelPrice]]:
    """Parse one price file's text. Raises ``PriceFileError`` with the file and line."""
    doc = yaml_document(text, path, PriceFileError)  # exact decimals, bounded aliases, no key defined twice
    if not isinstance(doc, dict):
        raise PriceFileError("a price file must be a YAML mapping with currency, source, checked_on and models",
                             path=path, line=1)
    for key in ("currency", "source", "checked_on", "models"):
        if key not in doc:
            raise PriceFileError(f"required field {key!r} is missing", path=path)
    checked_on = _date(doc, "checked_on", path, "checked_on")
    if checked_on is None:
        raise PriceFileError("checked_on must be a date (YYYY-MM-DD), not null", path=path,
                             line=_line(doc, "checked_on"))
    if doc["currency"] != "USD":
        raise PriceFileError(f"currency {doc['currency']!r} is not supported (USD only)", path=path,
                             line=_line(doc, "currency"))
    source = PriceSource(path=path, source=str(doc["source"]), checked_on=checked_on, currency="USD")
    discount = Decimal("0.5")
    if "batch_discount" in doc:
        discount = _price(doc["batch_discount"], path, _line(doc, "batch_discount"), "batch_discount")
        if discount > 1:
            raise PriceFileError("batch_discount must be between 0 and 1", path=path,
                                 line=_line(doc, "batch_discount"))
    file_from = _date(doc, "effective_from", path, "effective_from")
    models = doc["models"]
    if not isinstance(models, dict) or not models:
        raise PriceFileError("models must be a non-empty mapping", path=path, line=_line(doc, "models"))
    prices = {}
    names: dict[str, tuple[str, int | None]] = {str(n): (f"model {n!r}", _line(models, n)) for n in models}
    for name, entry in models.items():
        line = _line(models, name)
        what = f"models.{name}"
        realtime = _rates(entry, path, what, line)
        batch = (_rates(entry["batch"], path, f"{what}.batch", _line(entry, "batch")) if "batch" in entry
                 else _discounted(realtime, discount))
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise PriceFileError(f"{what}.aliases must be a list of names", path=path, line=_line(entry, "aliases"))
        for alias in aliases:
            here = _line(entry, "aliases")
            if alias in names:
                other, other_line = names[alias]
                raise PriceFileError(f"{alias!r} is defined twice: as {other} (line {other_line}) and as an alias of "
                                     f"{name!r} (line {here}); remove one", path=path, line=here)
            names[alias] = (f"an alias of {name!r}", here)
        prices[str(name)] = ModelPrice(
            model=str(name), realtime=realtime, batch=batch, source=source.source, checked_on=checked_on,
            path=path, aliases=tuple(aliases),
            effective_from=_date(entry, "effective_from", path, f"{what}.effective_from") or file_from,
            long_context=_long_context(entry.get("long_context"), path, _line(entry, "long_context"), what),
            extra={k: v for k, v in entry.items() if k not in _KNOWN_MODEL_FIELDS},
            # flex and priority exist only where a source prices them: no discount rule invents them. A file that
            # omits them does not say (the database may); `flex: null` says "not offered"
            **{tier: _rates(entry[tier], path, f"{what}.{tier}", _line(entry, tier)) for tier in ("flex", "priority")
               if entry.get(tier) is not None},
        )
        if any(tier in entry and entry[tier] is None for tier in ("flex", "priority")):
            prices[str(name)].extra["not_offered"] = [t for t in ("flex", "priority")
                                                      if t in entry and entry[t] is None]
    return source, prices


def load_price_file(path: str | Path, label: str | None = None) -> tuple[PriceSource, dict[str, ModelPrice]]:
    """Parse a price file; ``label`` names it in messages and output (bundled files: ``bundled:NAME``)."""
    return parse_price_text(read_input_text(path, PriceFileError, "price file"), label or str(path))


# -- the stacked table -----------------------------------------------------------------------------------
class PriceTable:
    """The price database (genai-prices) at the bottom, then the bundled YAML tables that fill its gaps and mend
    it, then the user's files, each overriding the ones below model by model. ``at``: the date whose prices are
    wanted (the database has history; YAML tables are as they are today, which a note says)."""

    def __init__(self, layers: Iterable[tuple[PriceSource, dict[str, ModelPrice]]], *, database: bool = True,
                 at: dt.date | None = None):
        self.sources: list[PriceSource] = []
        self.prices: dict[str, ModelPrice] = {}
        self._aliases: dict[str, str] = {}
        self.database = database
        self.at = at
        self.notes: list[str] = []  # what pricing had to assume, for the estimate's warnings
        self._found: dict[str, ModelPrice | None] = {}
        self._later: dict[str, ModelPrice] = {}  # prices that take effect after the day priced, for messages
        day = at or dt.date.today()
        for source, prices in layers:
            self.sources.append(source)
            for name, price in prices.items():
                if not price.in_effect(day):  # not yet: the price below it (or the database's) still applies
                    self._later[name] = price
                    for alias in price.aliases:
                        self._later.setdefault(alias, price)
                    continue
                self.prices[name] = price
                for alias in price.aliases:
                    self._aliases[alias] = name
        self.day = day

    def names(self) -> list[str]:
        return sorted(self.prices)

    def lookup(self, model: str, *, tiers: Iterable[str] = ()) -> ModelPrice:
        """The price for ``model``: exact name, alias, registry family, or undated family name. ``tiers``: the
        flex or priority tiers the caller will price; only then is the database asked for the ones a YAML table
        does not mention (so an ordinary estimate never imports it)."""
        name = self._find(model)
        later = self._later.get(model) or (self._later.get(name) if name else None)
        if name is None:
            found = self._from_database(model, tuple(tiers))
            if found is not None:
                self._said_later(found.model, later)
                return found
            if later is not None:
                raise MissingPrice(f"no price for model {model!r} on {self.day}: the price in {later.path} takes "
                                   f"effect on {later.effective_from} (use --prices-at {later.effective_from}, or a "
                                   "price file in effect now)")
            near = difflib.get_close_matches(model, self.names(), n=3, cutoff=0.4)
            hint = f"; closest priced: {', '.join(near)}" if near else ""
            raise MissingPrice(f"no price for model {model!r}{hint} (add it with --prices FILE)")
        price = self.prices[name]
        self._said_later(price.model, later)
        if any(t in ("flex", "priority") for t in tiers):
            price = self._with_database_tiers(price)
        if self.at is not None and price.effective_from is None:
            self._note(f"{price.model}: {price.path} has no price history; its prices as checked on "
                       f"{price.checked_on} are used for {self.at}")
        return price

    def _said_later(self, model: str, later: ModelPrice | None) -> None:
        if later is not None:
            self._note(f"{model}: the price in {later.path} takes effect on {later.effective_from}, after "
                       f"{self.day}; the price in effect then is used")

    def _with_database_tiers(self, price: ModelPrice) -> ModelPrice:
        """A YAML price with the tiers its file does not mention (flex, priority) taken from the database, each
        with its own source; a tier the file marks `null` stays not offered."""
        missing = [t for t in ("flex", "priority") if getattr(price, t) is None
                   and t not in price.extra.get("not_offered", ())]
        if not missing or not self.database:
            return price
        key = f"tiers:{price.path}:{price.model}"
        if key not in self._found:
            from batchcost.pricing import database

            found = database.find(price.model, self.at)
            extra = {} if found is None else {t: getattr(found.price, t) for t in missing
                                              if getattr(found.price, t) is not None}
            with_tiers = price
            if found is not None and extra:  # only what is said of the tiers taken from the database applies here
                self._adopt(found, [n for n in found.notes if any(f"the {t} price" in n for t in extra)])
                with_tiers = replace(
                    price, **extra, extra={**price.extra, "tier_sources": {t: found.price.path for t in extra}})
            self._found[key] = with_tiers
        return self._found[key] or price

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def _from_database(self, model: str, tiers: tuple[str, ...]) -> ModelPrice | None:
        """The database's price for a model no table names; what it says of flex or priority becomes a warning
        only when that tier is priced."""
        if not self.database:
            return None
        from batchcost.pricing import database

        found = database.find(model, self.at)
        if found is None:
            return None
        unasked = [t for t in ("flex", "priority") if t not in tiers]
        self._adopt(found, [n for n in found.notes if not any(f"the {t} price" in n for t in unasked)])
        return found.price

    def _adopt(self, found, notes: list[str]) -> None:
        """A price used from the database: its notes become warnings, and it is listed among the sources once."""
        from batchcost.pricing import database

        for note in notes:
            self._note(note)
        if all(s.path != found.price.path for s in self.sources):
            self.sources.append(database.source())

    def _find(self, model: str) -> str | None:
        if model in self.prices:
            return model
        if model in self._aliases:
            return self._aliases[model]
        from batchcost.core.errors import UnknownModel
        from batchcost.tokens.models import resolve_model

        try:
            family = resolve_model(model).name
        except UnknownModel:
            family = None
        if family and family != model:
            found = self._find(family)
            if found:
                return found
        undated = _DATED.sub("", model)
        return self._find(undated) if undated != model else None

    def used_sources(self, models: Iterable[str]) -> list[PriceSource]:
        paths = set()
        for m in models:
            price = self.lookup(m)
            paths |= {price.path, *price.extra.get("tier_sources", {}).values()}
        return [s for s in self.sources if s.path in paths]

    def stale_sources(self, today: dt.date | None = None) -> list[PriceSource]:
        return [s for s in self.sources if s.age_days(today) > STALE_AFTER_DAYS]

    def future_sources(self, today: dt.date | None = None) -> list[PriceSource]:
        """Tables whose checked_on lies in the future: a typo, or a clock that is wrong. Either way, doubtful."""
        return [s for s in self.sources if s.age_days(today) < 0]


def doubtful_date(source: PriceSource, today: dt.date | None = None) -> str | None:
    """Why a table's ``checked_on`` should be doubted (stale, or in the future), or None."""
    age = source.age_days(today)
    if age > STALE_AFTER_DAYS:
        return f"prices in {source.path} were checked on {source.checked_on} ({age} days ago); check them against " \
               f"{source.source}"
    if age < 0:
        return f"prices in {source.path} say they were checked on {source.checked_on}, {-age} days in the future; " \
               "check the date and the prices"
    return None


def bundled_price_files() -> list[Path]:
    folder = resources.files("batchcost.data") / "prices"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_prices(extra: Iterable[str | Path] = (), *, use_env: bool = True, at: dt.date | None = None,
                database: bool = True) -> PriceTable:
    """The price database, then the bundled tables, then ``BATCHCOST_PRICES``, then ``extra`` files in order."""
    layers = [load_price_file(f, f"bundled:{f.name}") for f in bundled_price_files()]
    env_file = os.environ.get("BATCHCOST_PRICES") if use_env else None
    for f in ([env_file] if env_file else []) + list(extra):
        layers.append(load_price_file(f))
    return PriceTable(layers, database=database, at=at)
