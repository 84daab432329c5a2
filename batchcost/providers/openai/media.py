"""Image and video requests (``/v1/images/generations``, ``/v1/images/edits``, ``/v1/videos``): what each will
make, counted before it is sent.

An image request is billed in tokens: the prompt's text tokens, the input images' image tokens (edits), and the
image tokens of the images made, which depend on the model, ``quality``, ``size`` and ``n`` (``data/media.yaml``,
from OpenAI's image-generation guide). Where a request leaves the choice to the model (``quality`` or ``size``
``auto``, the defaults) the low and high are the cheapest and dearest choice and the expected is the middle one
(medium quality, the square size). A video request is billed by the second, at a rate that depends on its size.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from batchcost.core.errors import PlanError
from batchcost.data import load_data

if TYPE_CHECKING:
    from batchcost.providers.openai.counting import Counter
    from batchcost.tokens.text import RequestCount

IMAGE_GENERATIONS = "/v1/images/generations"
IMAGE_EDITS = "/v1/images/edits"
VIDEOS = "/v1/videos"
IMAGE_ENDPOINTS = (IMAGE_GENERATIONS, IMAGE_EDITS)
MEDIA_ENDPOINTS = (IMAGE_GENERATIONS, IMAGE_EDITS, VIDEOS)
QUALITIES = ("low", "medium", "high")
_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")


@cache
def rules() -> dict:
    return load_data("media.yaml")


def parse_size(size: str) -> tuple[int, int] | None:
    match = _SIZE.match(size) if isinstance(size, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _dimensions(size: str) -> tuple[int, int]:
    """(width, height) of a size already checked to be WIDTHxHEIGHT."""
    dimensions = parse_size(size)
    if dimensions is None:
        raise PlanError(f"body.size {size!r} is not WIDTHxHEIGHT")
    return dimensions


def _whole(body: dict, key: str, default: int, at: str = "body") -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{at}.{key} must be a whole number, not {value!r}"[:160])
    return value


# -- images ---------------------------------------------------------------------------------------------------
def _table(media: str) -> dict:
    table = rules()["image_outputs"].get(media)
    if table is None:
        raise PlanError(f"no image output table {media!r} in media.yaml")
    return table


@cache
def _per_image(media: str, size: str, quality: str) -> tuple[int, int, int]:
    """(low, central, high) image output tokens of one image of a standard ``size`` at ``quality``."""
    table = _table(media)
    if table.get("exact"):
        n = int(table["tokens"][size][quality])
        return n, n, n
    price = Decimal(str(table["prices"][size][quality]))
    rate = Decimal(str(table["output_rate"])).scaleb(-6)  # USD per token
    step = Decimal(str(table["price_step"])) / 2  # the published price is rounded to price_step
    return (math.ceil((price - step) / rate), int((price / rate).to_integral_value()),
            math.floor((price + step) / rate))


def _one_image(media: str, size: str, quality: str) -> tuple[int, int, int, bool]:
    """(low, central, high, exact) tokens of one image of any size the model takes."""
    table = _table(media)
    if size in table.get("tokens", table.get("prices", {})):
        low, mid, high = _per_image(media, size, quality)
        return low, mid, high, bool(table.get("exact"))
    w, h = _dimensions(size)  # the caller has checked the size
    square = _per_image(media, "1024x1024", quality)
    area = Decimal(w * h) / Decimal(1024 * 1024)
    band_low, band_high = (Decimal(str(b)) for b in table["other_sizes_band"])
    central = square[1] * area
    return (math.floor(central * band_low), int(central.to_integral_value()), math.ceil(central * band_high),
            False)


def image_output(model: str, media: str, body: dict, result: RequestCount) -> tuple[int, int | None, int | None]:
    """(low, expected, high) image output tokens of an image request; notes on ``result`` say where the figure is
    not exact. ``None`` high: a quality whose token cost is published nowhere (xhigh, max)."""
    from batchcost.tokens.text import note

    defaults = rules()["image_defaults"]
    n = _whole(body, "n", defaults["n"])
    low_n, high_n = rules()["image_n"]
    if not low_n <= n <= high_n:
        raise PlanError(f"body.n is {n}; an image request makes {low_n} to {high_n} images")
    size = body.get("size") or defaults["size"]
    quality = body.get("quality") or defaults["quality"]
    table = _table(media)
    standard = rules()["image_sizes"]
    if not isinstance(size, str):
        raise PlanError(f"body.size must be a string (auto or WIDTHxHEIGHT), not {size!r}"[:120])
    if size == "auto":
        sizes, central_size = standard, "1024x1024"
        note(result, "size auto: the model picks the size; low and high are the cheapest and dearest standard "
                      "size, expected the square one")
    elif size in standard:
        sizes, central_size = [size], size
    elif "prices" in table and parse_size(size) is not None:
        problem = size_problem(size, table)
        if problem:
            raise PlanError(f"body.size {size}: {problem}")
        sizes, central_size = [size], size
    else:
        raise PlanError(f"body.size {size!r} is not a size {model} makes ({', '.join(standard)} or auto)")
    unknown_high = False
    qualities: tuple[str, ...]
    if quality == "auto":
        qualities, central_quality = QUALITIES, "medium"
        note(result, "quality auto: the model picks the quality; low and high are low and high quality, "
                      "expected medium")
    elif quality in QUALITIES:
        qualities, central_quality = (quality,), quality
    elif quality in ("xhigh", "max"):
        qualities, central_quality, unknown_high = ("high",), "high", True
        note(result, f"quality {quality}: no published token figure; expected is high quality's, and the high "
                      "figure is unknown")
    else:
        raise PlanError(f"body.quality {quality!r} is not one of low, medium, high, auto (GPT Image models)")
    lows, highs, exact = [], [], True
    for s in sizes:
        for q in qualities:
            low, _, high, sure = _one_image(media, s, q)
            lows.append(low)
            highs.append(high)
            exact = exact and sure
    low_t, central, high_t, sure = _one_image(media, central_size, central_quality)
    if not (exact and sure):
        note(result, f"{model} image output tokens are derived from the published per-image prices (no token "
                      "table is published for it)")
    return n * min(lows), n * central, None if unknown_high else n * max(highs)


def size_problem(size: str, table: dict) -> str | None:
    """What the SDK's documentation says a WIDTHxHEIGHT size of the gpt-image-2 families must be."""
    w, h = _dimensions(size)
    if w % 16 or h % 16:
        return "width and height must both be divisible by 16"
    if max(w, h) > 3 * min(w, h):
        return "the aspect ratio must be between 1:3 and 3:1"
    top_w, top_h = table.get("max_size", (3840, 2160))
    if max(w, h) > max(top_w, top_h) or w * h > top_w * top_h:
        return f"the largest size is {top_w}x{top_h}"
    return None


def count_image(counter: Counter, endpoint: str, body: dict, result: RequestCount) -> int:
    """Input tokens of an image request (the prompt, and the input images of an edit); fills the image fields of
    ``result``."""
    from batchcost.tokens.text import expect, note

    prompt = body.get("prompt")
    if prompt is None:
        raise PlanError("body.prompt is missing")
    text = counter._count(expect(prompt, str, "body.prompt"))
    note(result, "image prompts are counted with o200k_base; the Images API's own text-token rule is not "
                  "published")
    image = 0
    if endpoint == IMAGE_EDITS:
        refs = body.get("images", body.get("image"))
        if refs is None:
            raise PlanError("body.images is missing (the images to edit)")
        refs = refs if isinstance(refs, list) else [refs]
        if not refs:
            raise PlanError("body.images is empty")
        for i, ref in enumerate(refs):
            image += _input_image(counter, ref, result, f"body.images[{i}]")
        if body.get("mask") is not None:
            expect(body["mask"], dict, "body.mask")
    result.image_input_tokens = image
    result.image_output = image_output(counter.model.name, counter.model.media or "", body, result)
    result.max_output_tokens = result.image_output[2]
    return text + image


def _input_image(counter: Counter, ref: Any, result: RequestCount, at: str) -> int:
    from batchcost.tokens.text import expect

    expect(ref, dict, at)
    url, file_id = ref.get("image_url"), ref.get("file_id")
    if isinstance(url, dict):  # {"image_url": {"url": ...}} as chat writes it
        url = url.get("url")
    if url is None and not isinstance(file_id, str):
        raise PlanError(f"{at} needs image_url or file_id (a string)")
    if url is not None and not isinstance(url, str):
        raise PlanError(f"{at}.image_url must be a string")
    return counter._image({"type": "input_image", "image_url": url, "file_id": file_id, "detail": "high"}, result,
                          at)


# -- video ----------------------------------------------------------------------------------------------------
def count_video(model: str, body: dict, result: RequestCount) -> int:
    """A video request bills seconds of video of one size: no tokens. Fills ``result.video``."""
    from batchcost.tokens.text import expect

    prompt = body.get("prompt")
    if prompt is None:
        raise PlanError("body.prompt is missing")
    expect(prompt, str, "body.prompt")
    defaults = rules()["video_defaults"]
    seconds = body.get("seconds", defaults["seconds"])
    if isinstance(seconds, str) and seconds.isdigit():
        seconds = int(seconds)  # the API takes seconds as a string ("4"); numbers are read the same
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds not in rules()["video_seconds"]:
        *most, last = map(str, rules()["video_seconds"])
        raise PlanError(f"body.seconds is {body.get('seconds')!r}; a video is {', '.join(most)} or {last} seconds "
                        "long"[:160])
    size = body.get("size") or defaults["size"]
    sizes = rules()["video_sizes"].get(model)
    if not isinstance(size, str) or (sizes is not None and size not in sizes) or parse_size(size) is None:
        raise PlanError(f"body.size {size!r} is not a size {model} makes ({', '.join(sizes or ())})"[:160])
    result.video = (size, seconds)
    result.max_output_tokens = 0
    return 0
