"""Image input tokens: dimensions from the image header, then the model's tile or patch rule."""
from __future__ import annotations

import base64
import binascii
import math
import struct
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote, urlparse

from batchcost.tokens.models import ImageRules


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height read from a PNG, GIF, JPEG or WebP header; None when not recognised."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


MAX_IMAGE_FILE_BYTES = 512 << 20  # a local image larger than this is not an image a request would carry
HEADER_BYTES = 1 << 20  # headers sit at the start; 1 MiB covers large EXIF blocks


class ImageFileProblem(ValueError):
    """A ``file://`` image that cannot be used: missing, not a regular file, or of an absurd size."""


def image_bytes(url: str, base_dir: Path | None = None) -> bytes | None:
    """The image's bytes when they can be had offline (data: URL or local file), else None (a remote URL).
    A ``file://`` path is opened only when it is a regular file of a sane size (never a FIFO or a device, which
    could block or never end): anything else raises ``ImageFileProblem``."""
    if url.startswith("data:"):
        _, _, payload = url.partition(",")
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return _local_image(path)
    return None


def _local_image(path: Path) -> bytes:
    import os
    import stat

    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImageFileProblem(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageFileProblem(f"{path} is not a regular file")
    if info.st_size > MAX_IMAGE_FILE_BYTES:
        raise ImageFileProblem(f"{path} is {info.st_size:,} bytes, more than any image a request carries")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # never block on a file swapped in
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise ImageFileProblem(f"{path} is not a regular file")
            return fh.read(HEADER_BYTES)
    except OSError as exc:
        raise ImageFileProblem(f"cannot read {path}: {exc.strerror}") from None


def _ceil_div(a: Fraction | int, b: int) -> int:
    return math.ceil(Fraction(a) / b)


def tile_tokens(width: int, height: int, detail: str, rules: ImageRules) -> int:
    """Tile rule: fit in 2048x2048 (whole pixels), shrink short side to <= 768 (never enlarge), 512-px tiles."""
    if detail == "low":
        return rules.base
    w, h = Fraction(width), Fraction(height)
    if max(w, h) > 2048:
        scale = Fraction(2048) / max(w, h)
        w, h = Fraction(round(w * scale)), Fraction(round(h * scale))
    if min(w, h) > 768:
        scale = Fraction(768) / min(w, h)
        w, h = w * scale, h * scale
    tiles = _ceil_div(w, 512) * _ceil_div(h, 512)
    return rules.base + rules.tile * tiles


def patch_count(width: int, height: int, cap: int) -> int:
    """32-px patches covering the image; above ``cap`` the image is scaled down as documented."""
    patches = _ceil_div(width, 32) * _ceil_div(height, 32)
    if patches <= cap:
        return patches
    shrink = math.sqrt(32 * 32 * cap / (width * height))
    w, h = width * shrink, height * shrink
    shrink *= min(math.floor(w / 32) / (w / 32), math.floor(h / 32) / (h / 32))
    w, h = width * shrink, height * shrink
    eps = 1e-9  # the documented arithmetic lands on whole patches; float noise must not add a column
    return min(cap, math.ceil(w / 32 - eps) * math.ceil(h / 32 - eps))


def patch_tokens(width: int, height: int, rules: ImageRules) -> int:
    return math.ceil(patch_count(width, height, rules.cap) * rules.multiplier)


def image_tokens(width: int, height: int, detail: str, rules: ImageRules) -> int:
    if rules.kind == "tiles":
        return tile_tokens(width, height, detail, rules)
    return patch_tokens(width, height, rules)


def max_image_tokens(detail: str, rules: ImageRules) -> int:
    """The most one image can cost under ``rules``: the safe figure when its size cannot be known offline."""
    if rules.kind == "tiles":
        return tile_tokens(768, 2048, detail, rules)  # 2 x 4 tiles is the largest grid the fit allows
    return math.ceil(rules.cap * rules.multiplier)
