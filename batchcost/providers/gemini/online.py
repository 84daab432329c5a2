"""``--online`` for Gemini plans: the contents counted by ``countTokens``, the rest (system instruction, tools, schema:
text) offline, exactly."""
from __future__ import annotations

from batchcost.providers.gemini.fields import EMBED, ENDPOINT, kind_of


def online_counter(**options):
    """``--online``: a function from a request to its input tokens as billed, from the free ``countTokens``
    endpoint. The SDK sends the Gemini API contents only, so the endpoint counts the contents (media included)
    and the rest (system instruction, tools, response schema: text) is counted offline, exactly. countTokens
    answers one token more per content than ``promptTokenCount`` bills (Google's public examples: 24 for a
    two-turn history billed 22, 10 for a one-line prompt billed 9), so that token is taken off."""
    from batchcost.providers.gemini.client import GeminiBatchClient
    from batchcost.providers.gemini.counting import GeminiCounter
    from batchcost.tokens.models import resolve_model

    options.setdefault("max_retries", 2)  # then OnlineCounts pauses and resumes: a rate limit lasts a minute
    remote = GeminiBatchClient(**options)

    def count(body: dict) -> int:
        model = body.get("model", "")
        if kind_of(body) == EMBED:
            contents = [body["content"]]
            rest = 0
        else:
            contents = body.get("contents") or []
            rest = GeminiCounter(resolve_model(model)).count(ENDPOINT, {**without_contents(body), "contents": [
                {"parts": []}]}).input_tokens  # one empty content: the counter wants one, and it counts nothing
        return max(0, remote.count_tokens(model, contents) - len(contents)) + rest

    return count


def without_contents(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("contents", "model")}
