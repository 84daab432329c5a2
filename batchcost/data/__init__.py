"""Data files (YAML) that change more often than code: encodings, models, prices."""
from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml parses the bundled tables ~8x faster


@cache
def load_data(name: str) -> dict[str, Any]:
    """Return a bundled data file parsed as YAML (read-only; callers must not mutate it)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader, libyaml's when installed
