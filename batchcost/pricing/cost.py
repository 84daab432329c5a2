"""The one cost function: a token breakdown at a tier, in exact Decimal USD."""
from __future__ import annotations

import functools
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow, localcontext

from batchcost.pricing.tables import MissingPrice, ModelPrice

PER_MILLION = 6  # prices are USD per 1M tokens: shift the decimal point, never divide in float

# Money needs more than Decimal's default 28 significant digits: a price of 40 decimal places times a token count
# has 50+. Prices are bounded (at most 1,000,000 USD per 1M tokens, 60 decimal places: pricing.tables), token
# counts at 2**53 a request, so 400 digits hold every product and every sum exactly.
MONEY = Context(prec=400, traps=[InvalidOperation, DivisionByZero, Overflow])
EXACT = Context(prec=400, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])  # rounding is an error


def exact_money(function):
    """Run ``function`` with the money context, whatever the caller's decimal context is."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with localcontext(MONEY):
            return function(*args, **kwargs)

    return wrapper


def price_tokens(price: ModelPrice, tier: str, *, input_tokens: int, cached_input_tokens: int = 0,
                 output_tokens: int = 0, long_context: bool = False, cache_write_tokens: int = 0,
                 cache_write_1h_tokens: int = 0, image_input_tokens: int = 0, image_cached_input_tokens: int = 0,
                 image_output_tokens: int = 0, video_seconds: int = 0, video_size: str | None = None) -> Decimal:
    """Exact cost of ``input_tokens`` (which include the cached and cache-write tokens, as the APIs report the
    total) and ``output_tokens`` at ``tier`` ("realtime"/"standard", "batch", "flex" or "priority"; a tier the
    model does not offer is ``TierNotOffered``, never another tier's price).

    Cached tokens are billed at the cached rate, or at the input rate when the table has none (the safe figure).
    Cache writes (5-minute, 1-hour) are billed at their write rates. Output or cache-write tokens with no price
    are an error, never $0.

    Image models: ``image_input_tokens`` (of which ``image_cached_input_tokens`` were cached) are a part of
    ``input_tokens`` and ``image_output_tokens`` a part of ``output_tokens``, as the Images API reports them; they
    are priced at the image rates. Video: ``video_seconds`` of ``video_size`` at the model's per-second rate. A class
    with no rate is an error, never $0.
    """
    if cached_input_tokens + cache_write_tokens + cache_write_1h_tokens > input_tokens:
        raise ValueError("cached and cache-write tokens cannot exceed input_tokens")
    if image_cached_input_tokens > image_input_tokens or image_input_tokens > input_tokens - cached_input_tokens:
        raise ValueError("image input tokens are a part of the input tokens (and cached image tokens of them)")
    if image_output_tokens > output_tokens:
        raise ValueError("image output tokens cannot exceed output_tokens")
    with localcontext(EXACT):  # products and a shift of the point: exact, or an error, never rounded
        total = _price(price, tier, input_tokens - image_input_tokens, cached_input_tokens,
                       output_tokens - image_output_tokens, long_context, cache_write_tokens, cache_write_1h_tokens)
        if image_input_tokens or image_output_tokens:
            total += _image_price(price, tier, image_input_tokens, image_cached_input_tokens, image_output_tokens)
        if video_seconds:
            rate = price.rates(tier).second_rate(video_size or "")
            if rate is None:
                raise MissingPrice(f"no per-second price for {video_size} video of model {price.model!r} at the "
                                   f"{tier} tier", path=price.path)
            total += video_seconds * rate
        return total


def _image_price(price: ModelPrice, tier: str, image_input: int, image_cached: int, image_output: int) -> Decimal:
    rates = price.rates(tier)
    total = Decimal(0)
    for tokens, rate, name in ((image_input - image_cached, rates.image_input, "image input"),
                               (image_cached, rates.image_cached_input if rates.image_cached_input is not None
                                else rates.image_input, "image input"),
                               (image_output, rates.image_output, "image output")):
        if tokens:
            if rate is None:
                raise MissingPrice(f"no {name} price for model {price.model!r} at the {tier} tier", path=price.path)
            total += tokens * rate
    return (+total).scaleb(-PER_MILLION)


def _price(price: ModelPrice, tier: str, input_tokens: int, cached_input_tokens: int, output_tokens: int,
           long_context: bool, cache_write_tokens: int = 0, cache_write_1h_tokens: int = 0) -> Decimal:
    rates = price.rates(tier)
    multiplier = None
    if long_context and price.long_context:
        if rates.long is not None:  # the source gives the long-context rates themselves
            rates = rates.long
        else:
            multiplier = price.long_context
    cached_rate = rates.cached_input if rates.cached_input is not None else rates.input
    input_rate, output_rate = rates.input, rates.output
    if multiplier is not None:
        input_rate *= multiplier.input_multiplier
        cached_rate *= multiplier.input_multiplier
        if output_rate is not None:
            output_rate *= multiplier.output_multiplier
    plain = input_tokens - cached_input_tokens - cache_write_tokens - cache_write_1h_tokens
    total = plain * input_rate + cached_input_tokens * cached_rate
    for tokens, rate, name in ((cache_write_tokens, rates.cache_write, "cache_write"),
                               (cache_write_1h_tokens, rates.cache_write_1h, "cache_write_1h")):
        if tokens:
            if rate is None:
                raise MissingPrice(f"no {name} price for model {price.model!r} at the {tier} tier", path=price.path)
            total += tokens * (rate * multiplier.input_multiplier if multiplier is not None else rate)
    if output_tokens:
        if output_rate is None:
            raise MissingPrice(f"no output price for model {price.model!r}", path=price.path)
        total += output_tokens * output_rate
    return (+Decimal(total)).scaleb(-PER_MILLION)


def money(value: Decimal | None) -> str | None:
    """Exact decimal string for JSON: no exponent, no trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def display_money(value: Decimal | None) -> str:
    """Rounded for people: cents above $1, four significant digits below."""
    if value is None:
        return "—"
    if value < 0:
        return "-" + display_money(-value)
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if value == 0:
        return "$0.00"
    digits = max(2, -value.adjusted() + 3)
    text = f"{value:.{digits}f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


MAX_AMOUNT = Decimal(10) ** 12  # USD: a budget above a trillion dollars is a typo


def parse_amount(value: object) -> Decimal:
    """A budget or an approved amount: a finite, non-negative decimal of sane size, from text (never a float).
    ``ValueError`` says what is wrong."""
    if not isinstance(value, str) or len(value) > 100:
        raise ValueError("it must be an amount in USD written as text, such as \"250\" or \"12.50\"")
    try:
        amount = Decimal(value.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise ValueError("it must be an amount in USD such as 250 or 12.50") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("it must be a finite, non-negative amount in USD (not NaN, Infinity or below zero)")
    if amount > MAX_AMOUNT or int(amount.as_tuple().exponent) < -60:
        raise ValueError(f"it is outside any real amount (0 to {MAX_AMOUNT:,} USD)")
    return amount
