"""Parsing of option values shared by several commands."""
from __future__ import annotations

import re

from batchcost.errors import UsageError


def parse_image_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
    if not match or 0 in (int(match[1]), int(match[2])):
        raise UsageError(f"--image-size must look like 1024x768, not {value!r}")
    return int(match[1]), int(match[2])
