"""Gemini request fields by either of their names: the API takes JSON (camelCase) and proto (snake_case) names."""
from __future__ import annotations

import functools
import re
from typing import Any

ENDPOINT = "generateContent"  # the neutral request kind of a Gemini batch line
EMBED = "embedContent"  # ... and of an embedding batch line: {"key", "request": {"content": {"parts"}, ...}}


def field(obj: dict, camel: str) -> Any:
    """A field by its JSON (camelCase) name or its proto (snake_case) name."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake(camel))


@functools.cache
def snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def camel(key: str) -> str:
    """A proto (snake_case) field name as its JSON (camelCase) name; a name of no underscores as it is."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest) if rest and head else key


def kind_of(request: dict) -> str:
    """An EmbedContentRequest has one ``content``; a GenerateContentRequest has ``contents``."""
    return EMBED if "content" in request and "contents" not in request else ENDPOINT
