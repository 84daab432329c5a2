"""The model registry (batchcost/data/models.yaml) and name resolution."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cache
from typing import Any

from batchcost.core.errors import UnknownModel, UsageError
from batchcost.data import load_data

_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")  # -2024-07-18, -20250929 (Claude), -0613


@dataclass(frozen=True)
class ChatRules:
    tokens_per_message: int
    tokens_per_name: int
    reply_primer: int


@dataclass(frozen=True)
class ImageRules:
    kind: str  # "tiles" or "patches"
    base: int = 0
    tile: int = 0
    multiplier: Decimal = Decimal(1)
    cap: int = 1536
    approximate: bool = False


@dataclass(frozen=True)
class Approximation:
    """How far an offline count may be from the provider's: the text measured with a proxy encoding, scaled by
    ``ratio`` (central), and by ``low`` and ``high`` for the stated band."""

    ratio: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class ModelInfo:
    """Everything needed to count one model's requests. ``name`` is the registry family."""

    name: str
    kind: str  # chat, completion, embedding, image, video (and the providers' own: messages, generate)
    encoding: str
    context_window: int | None
    max_output_tokens: int | None
    chat_rules: ChatRules
    image_rules: ImageRules | None
    reasoning: bool
    max_inputs: int | None = None
    aliases: tuple[str, ...] = field(default=())
    provider: str = ""  # the provider whose lines name it (models.yaml)
    approximation: Approximation | None = None  # set where no official offline tokenizer exists
    tool_prompt: dict | None = None  # tokens the provider adds once for tools, by tool_choice (Claude)
    structure: dict | None = None  # the provider's structure tokens (Claude: per request, message, block)
    min_cacheable: int | None = None  # the shortest prefix an explicit cache breakpoint caches (Claude)
    constructs: dict | None = None  # fitted tokens of constructs no document states (Claude: claude_constructs)
    media: str | None = None  # image and video models: their table in media.yaml (image_outputs), or "video"
    custom: bool = False  # outside the registry (--encoding): what it is and which endpoints it takes is unknown
    derived: str | None = None  # a published model outside the registry, counted by this registry family's rules


def _build(name: str, entry: dict[str, Any], registry: dict[str, Any]) -> ModelInfo:
    spec = {**registry["defaults"], **entry}
    image = spec.get("image_rules")
    image_rules = None
    if image:
        raw = dict(registry["image_rules"][image])
        if "multiplier" in raw:
            raw["multiplier"] = Decimal(str(raw["multiplier"]))
        image_rules = ImageRules(**raw)
    return ModelInfo(
        name=name,
        kind=spec["kind"],
        encoding=spec["encoding"],
        context_window=spec.get("context_window"),
        max_output_tokens=spec.get("max_output_tokens"),
        chat_rules=ChatRules(**registry["chat_rules"][spec["chat_rules"]]),
        image_rules=image_rules,
        reasoning=bool(spec["reasoning"]),
        max_inputs=spec.get("max_inputs"),
        aliases=tuple(spec.get("aliases", ())),
        provider=spec["provider"],
        approximation=_approximation(spec, registry),
        tool_prompt=registry.get("tool_prompts", {}).get(spec["tool_prompt"]) if spec.get("tool_prompt") else None,
        structure={**registry["claude_rules"], **registry.get("gemini_rules", {})}[spec["structure"]]
        if spec.get("structure") else None,
        min_cacheable=spec.get("min_cacheable"),
        constructs=registry["claude_constructs"][spec["constructs"]] if spec.get("constructs") else None,
        media=spec.get("media"),
    )


def _approximation(spec: dict, registry: dict) -> Approximation | None:
    name = spec.get("approximation")
    if not name:
        return None
    raw = {**registry.get("approximations", {}), **registry.get("gemini_approximations", {})}[name]
    return Approximation(*(Decimal(str(raw[k])) for k in ("ratio", "low", "high")))


@cache
def registry() -> dict[str, ModelInfo]:
    """Family name -> ModelInfo, built once from the data file (each section's defaults under its models')."""
    data = load_data("models.yaml")
    models = {}
    for section, defaults in data["sections"].items():
        for name, entry in (data.get(section) or {}).items():
            models[name] = _build(name, {**defaults, **entry}, data)
    return models


@cache
def _alias_index() -> dict[str, str]:
    index = {}
    for info in registry().values():
        index[info.name] = info.name
        for alias in info.aliases:
            index[alias] = info.name
    return index


def known_model_names() -> list[str]:
    return sorted(_alias_index())


def _lookup(name: str) -> str | None:
    index = _alias_index()
    if name in index:
        return index[name]
    if name.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id
        return _lookup(name.split(":")[1])
    undated = _DATED.sub("", name)
    if undated != name:
        return _lookup(undated)
    return None


def closest_models(name: str, n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, known_model_names(), n=n, cutoff=0.4)


@cache
def resolve_model(name: str) -> ModelInfo:
    """Return the registry entry for ``name`` (a family, alias, dated snapshot or fine-tune).

    Raises ``UnknownModel`` naming the closest known models: an unknown model is never counted with a
    guessed encoding.
    """
    family = _lookup(name) if isinstance(name, str) else None
    if family is None and isinstance(name, str):
        derived = _derived(name)
        if derived is not None:
            return derived
    if family is None:
        near = closest_models(str(name))
        hint = f"; closest known: {', '.join(near)}" if near else ""
        raise UnknownModel(
            f"unknown model {name!r}{hint} (use --encoding to count a private model with a given encoding)"
        )
    return registry()[family]


def published_model(name: str) -> str | None:
    """The provider of a model the maintained price database (genai-prices) knows, else None: the test of whether a
    name outside the registry is a real model or a typo."""
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return None
    prefixes = load_data("tier_rules.yaml")["database_providers"]
    lowered = name.lower()
    provider = next((p for prefix, p in prefixes["prefixes"] if lowered.startswith(prefix)), prefixes["default"])
    try:
        found, _ = data_snapshot.get_snapshot().find_provider_model(name, None, provider, None)
    except LookupError:
        return None
    return str(found.id)


def _derived(name: str) -> ModelInfo | None:
    """A published model outside the registry, counted by the rules of the registry family whose name begins its
    own (gpt-5.1-codex-mini as gpt-5.1), else its provider's usual family: always an approximation."""
    provider = published_model(name)
    if provider is None:
        return None
    index = _alias_index()
    stem = _DATED.sub("", name)
    starts = [known for known in index if stem.startswith(known + "-") or stem.startswith(known + ".")]
    data = load_data("models.yaml")
    usual = data["derived_families"].get(provider)
    family = index[max(starts, key=len)] if starts else usual
    if family is None or usual is None:
        return None
    base = registry()[family]
    if base.provider != registry()[usual].provider:  # a family of another provider than the database's
        return None
    approximation = base.approximation
    if approximation is None and base.provider in data["derived_bands"]:
        approximation = _approximation({"approximation": data["derived_bands"][base.provider]}, data)
    return replace(base, name=name, derived=family, approximation=approximation, aliases=())


def custom_model(name: str, encoding: str) -> ModelInfo:
    """A model outside the registry, counted with ``encoding`` and the standard chat rules."""
    from batchcost.tokens.encodings import encoding_names

    if encoding not in encoding_names():
        raise UsageError(f"unknown encoding {encoding!r}; known: {', '.join(encoding_names())}")
    data = load_data("models.yaml")
    return replace(_build(name, {"encoding": encoding, "context_window": None, "max_output_tokens": None}, data),
                   custom=True)
