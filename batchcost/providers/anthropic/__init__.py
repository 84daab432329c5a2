"""Anthropic Message Batches: plan lines ``{"custom_id", "params"}``, approximate offline counts with a stated band,
request rules, result lines, ``--online`` through ``messages.count_tokens``, and the client (the only importer of
``anthropic``)."""
from __future__ import annotations

from batchcost.providers.anthropic.provider import AnthropicProvider

PROVIDER = AnthropicProvider()
