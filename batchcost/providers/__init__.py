"""The batch APIs batchcost speaks, one package each behind ``base.Provider``, found through the entry-point group
``batchcost.providers`` (the built-in ones are registered the same way, in pyproject.toml): a third party adds one
with an installed package of its own, no fork.

To add a provider: subclass ``base.Provider`` (its line shape, counter, limits, result lines; optionally request
rules, a client, online counting), make an instance, and register it::

    [project.entry-points."batchcost.providers"]
    acme = "acme_batchcost:PROVIDER"
"""
from __future__ import annotations

import functools
from importlib import metadata

from batchcost.core.errors import UsageError
from batchcost.providers.base import OUR_STATUSES, Provider

GROUP = "batchcost.providers"
BUILT_IN = ("openai", "anthropic", "gemini", "vertex")  # in this order: the shapes are tried in it (OpenAI's last)
COMPATIBLE = ("groq", "together", "mistral", "fireworks", "deepinfra", "alibaba", "xai")  # OpenAI's shape, their models


@functools.cache
def registry() -> dict[str, Provider]:
    """Every registered provider by name: the built-in ones first, in their order, then the others by name."""
    found: dict[str, Provider] = {}
    for entry in metadata.entry_points(group=GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken third-party package is one line, not a traceback
            raise UsageError(f"the provider {entry.name!r} ({entry.value}) cannot be loaded: {exc}") from None
        provider = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(provider, Provider):
            raise UsageError(f"the provider {entry.name!r} ({entry.value}) is not a batchcost Provider")
        found[provider.name] = provider
    if not all(name in found for name in BUILT_IN + COMPATIBLE):  # a source tree never installed: its own packages
        import importlib

        for name in BUILT_IN:
            found.setdefault(name, importlib.import_module(f"batchcost.providers.{name}").PROVIDER)
        for service in importlib.import_module("batchcost.providers.compatible").SERVICES:
            found.setdefault(service.name, service)
    ours = BUILT_IN + COMPATIBLE
    order = [n for n in ours if n in found] + sorted(n for n in found if n not in ours)
    return {name: found[name] for name in order}


@functools.cache
def claims() -> dict[str, Provider]:
    """Model name -> the provider whose lines of the default (OpenAI) shape name it: the OpenAI-compatible services
    claim their own models' lines."""
    found: dict[str, Provider] = {}
    for provider in registry().values():
        for model in provider.claimed_models():
            found.setdefault(model, provider)
    return found


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Provider:
    providers = registry()
    if name not in providers:
        raise UsageError(f"unknown provider {name!r}; known: {', '.join(providers)}")
    return providers[name]


@functools.cache
def default() -> Provider:
    """The provider a line of no other provider's shape is read as (OpenAI's)."""
    return next((p for p in registry().values() if p.default_shape), get(BUILT_IN[0]))


def shape_of(obj: dict) -> Provider:
    """The provider whose line shape ``obj`` has (DESIGN.md: detected from the line itself): the first whose
    ``matches`` takes it, the default shape last."""
    for provider in registry().values():
        if not provider.default_shape and provider.matches(obj):
            return provider
    return default()


def describe(name: str) -> str:
    """What a plan line of provider ``name`` is called, for messages."""
    return get(name).title if name in registry() else name


def shapes() -> str:
    """Every provider's line shape, for a message about a line that has none of them."""
    return "; ".join(f"{p.line_shape} ({p.name})" for p in registry().values())


def mixed(provider: str, plan_provider: str, first_line: int, path: str | None = None) -> str:
    """The one message for a line of another provider than the plan's."""
    from batchcost.core.errors import line_of_plan

    return (f"this is {describe(provider)} in a plan of {describe(plan_provider)}s (from "
            f"{line_of_plan(path, first_line)}); a plan holds one provider's requests")


def for_batch(batch_id: str, endpoint: str | None = None, provider_name: str | None = None) -> Provider:
    """The provider of a batch: the one the ledger recorded for it, else the one whose request kind the ledger
    recorded (a kind of the default's own, such as /v1/chat/completions, is the default's: the OpenAI-compatible
    services that share it are found by the recorded name), else the one whose ids look like it, else the default."""
    if provider_name is not None and provider_name in registry():
        return registry()[provider_name]
    shared = set(default().kinds())
    for provider in registry().values():
        if provider.default_shape or shared & set(provider.kinds()):
            continue
        if (endpoint is not None and endpoint in provider.kinds()) or provider.owns_batch(batch_id):
            return provider
    return default()


__all__ = ["GROUP", "OUR_STATUSES", "Provider", "claims", "default", "describe", "for_batch", "get", "mixed", "names",
           "registry", "shape_of", "shapes"]
