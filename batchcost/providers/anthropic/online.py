"""``--online`` for Claude plans: what ``messages.count_tokens`` is sent for a request."""
from __future__ import annotations

# Messages parameters that shape the answer, not the prompt: they add no input token and count_tokens refuses them
NOT_COUNTED = frozenset({"max_tokens", "metadata", "service_tier", "stop_sequences", "stream", "temperature",
                         "top_k", "top_p", "container", "inference_geo"})


def counting_params(body: dict) -> dict:
    """What ``messages.count_tokens`` is sent for a request: everything that is part of the prompt."""
    return {k: v for k, v in body.items() if k not in NOT_COUNTED}
