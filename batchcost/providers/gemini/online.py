"""``--online`` for Gemini plans: the contents counted by ``countTokens``, the rest (system instruction, tools, schema:
text) offline, exactly."""
from __future__ import annotations

from batchcost.providers.gemini.fields import EMBED, ENDPOINT, kind_of


def online_counter(**options):
    """``--online``: a function from a request to its input tokens as billed, from the free ``countTokens``
    endpoint. The SDK sends the Gemini API contents only, so the endpoint counts the contents (media included)
    and the rest (system instruction, tools, response schema: text) is counted offline, exactly. countTokens
    answers a token a content over the text (Google's public examples: 24 for a two-turn history whose text is 22, 10
    for a one-line prompt of 9): Gemini 2.5 and later bill that token too (real bills), 2.0 and 1.5 do not, so it
    is taken off for those."""
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
            info = resolve_model(model)
            # one empty content (the counter wants one): the rest, and that content's own token where one is billed
            rest = GeminiCounter(info).count(ENDPOINT, {**without_contents(body), "contents": [
                {"parts": []}]}).input_tokens - per_content(info)
            return max(0, remote.count_tokens(model, contents) - len(contents) * (1 - per_content(info))) + rest
        return max(0, remote.count_tokens(model, contents) - len(contents)) + rest

    return count


def per_content(info) -> int:
    """The token a content the model's bills carry beyond the text (models.yaml gemini_rules)."""
    return int((info.structure or {}).get("per_content", 0))


def without_contents(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("contents", "model")}
