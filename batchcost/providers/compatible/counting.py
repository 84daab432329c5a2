"""Counting a chat request as an open model's server bills it: the request rendered by the model's own chat template
(``compatible.yaml`` ``templates``) and tokenized with its own vocabulary, special tokens recognised, as vLLM and
its kin do before they count ``prompt_tokens``.

- A template a service's bills confirmed (``verified``) gives exact counts for plain text messages; elsewhere the
  template's own slack (a date the server fills in, a default system prompt) makes a band.
- Mistral's models are counted with mistral-common (Mistral's own tokenizers and request encoding, tools included)
  when it is installed (``pip install 'batchcost[mistral]'``); otherwise, and for models with no published
  vocabulary (Grok, Llama 4, ...), the message texts are counted with a proxy vocabulary inside the ``unknown``
  band, which says so.
- Tools, tool calls and images are rendered differently by each server: their JSON text is counted and the count
  becomes an approximation whose band grows with them.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from batchcost.core.errors import PlanError, UsageError
from batchcost.providers.compatible.catalog import data, template
from batchcost.tokens.encodings import vocabulary
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import RequestCount, expect, json_type, nonempty_list, note

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
IMAGE_SLACK = 3000  # an image's tokens on an open vision model: from a few dozen to a few thousand, by its size
CONSTRUCT_SHARE = Decimal("0.5")  # tools and tool calls: their JSON counted, give or take half


def output_bound(body: dict) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            n = body.get("n")
            return value * (n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1)
    return None


class TemplateCounter:
    """One model's counter: its template rendered, its vocabulary counting (or mistral-common, or the proxy band)."""

    def __init__(self, model: ModelInfo, **_options):
        self.model = model
        structure = model.structure or {}
        self.exact_kinds = frozenset(structure.get("exact") or ())  # request kinds the service's bills confirmed
        self.template_name = structure.get("template")
        self.spec = template(self.template_name) if self.template_name else None
        self._mistral = None
        if self.spec is not None and self.spec.get("mistral_common"):
            self._mistral = _mistral_tokenizer(structure.get("tokenizer") or "v3")
            if self._mistral is None:  # mistral-common is not installed: the proxy band counts instead
                self.spec = None
        vocab = self.spec.get("vocabulary") if self.spec else data()["unknown"]["proxy"]
        self._encode = vocabulary(vocab).encode if vocab and self._mistral is None else None

    # -- the whole request ----------------------------------------------------------------------------------
    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        result = RequestCount(0, output_bound(body))
        if endpoint == EMBEDDINGS:
            kind = "embeddings"
            result.input_tokens = self._embeddings(body, result)
        elif endpoint == COMPLETIONS:
            kind = "completions"
            prompt: str = expect(body.get("prompt"), str, "body.prompt")
            result.input_tokens = (len(self._mistral.instruct_tokenizer.tokenizer.encode(prompt, bos=True, eos=False))
                                   if self._mistral is not None else self._tokens(self._begin() + prompt))
        else:
            kind = "chat"
            result.input_tokens = self._chat(body, result)
        self._band(result, kind)
        return result

    def _band(self, result: RequestCount, kind: str) -> None:
        unknown = self.spec is None
        if not unknown and not result.approximate and ("*" in self.exact_kinds or kind in self.exact_kinds):
            return
        result.basis = "approximation"
        result.approximate = True
        n = result.input_tokens
        if unknown:
            band = data()["unknown"]
            low, high = int(n * Decimal(str(band["low"]))), -int(-n * Decimal(str(band["high"])) // 1)
        else:
            low, high = n, n
        spec = self.spec or {}
        slack = int(spec.get("slack", 0)) + int(result.slack)
        result.low = max(0, low - slack - result.slack_low)
        result.high = high + slack + result.slack_high + (int(spec.get("slack_high", 0)) if kind == "chat" else 0)
        if not result.notes:
            note(result, "counted with the model's template and vocabulary; the server's template may differ"
                 if not unknown else "no published vocabulary for this model: its messages are counted with a "
                 "proxy vocabulary, inside a wide band")

    # -- chat ------------------------------------------------------------------------------------------------
    def _chat(self, body: dict, result: RequestCount) -> int:
        messages = nonempty_list(body, "messages", "body")
        extra = self._extras(body, result)
        if self._mistral is not None:
            return self._mistral_chat(body, messages, result) + extra
        if self.spec is None:
            unknown = data()["unknown"]
            texts = [self._message_text(m, i, result) for i, m in enumerate(messages)]
            return (sum(self._tokens(t) for t in texts) + unknown["per_message"] * len(texts)
                    + unknown["per_request"] + extra)
        spec = self.spec
        systems, turns = [], []
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            text = self._message_text(message, i, result)
            if spec.get("trim"):
                text = text.strip()
            if role in ("system", "developer") and "system" in spec:
                systems.append(text)
            else:
                turns.append((str(role), text))
        parts = [self._begin()]
        if "system" in spec and (systems or spec["system"] != "{content}"):
            parts.append(spec["system"].replace("{content}", "\n\n".join(systems)))
        for role, text in turns:
            piece = spec.get(role) or spec.get("message") or "{content}"
            parts.append(piece.replace("{role}", role).replace("{content}", text))
        parts.append(spec.get("generation", ""))
        return self._tokens("".join(parts)) + extra

    def _message_text(self, message: Any, i: int, result: RequestCount) -> str:
        where = f"body.messages[{i}]"
        expect(message, dict, where)
        role = message.get("role")
        if not isinstance(role, str):
            raise PlanError(f"{where}.role must be a string, not {json_type(role)}")
        content = message.get("content")
        text = ""
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            pieces = []
            for j, part in enumerate(content):
                expect(part, dict, f"{where}.content[{j}]")
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                else:
                    result.slack_high += IMAGE_SLACK
                    note(result, f"{part.get('type') or 'a part'} in the messages: its tokens depend on the server's "
                         "vision encoder; the band allows for it")
            text = "\n".join(pieces)
        elif content is not None:
            raise PlanError(f"{where}.content must be a string or a list, not {json_type(content)}")
        calls = message.get("tool_calls")
        if calls:
            text += json.dumps(calls, ensure_ascii=False)
            result.slack += float(self._tokens(json.dumps(calls, ensure_ascii=False)) * CONSTRUCT_SHARE) + 10
            note(result, "tool calls in the history: rendered by the server's template, counted as their JSON")
        return text

    def _extras(self, body: dict, result: RequestCount) -> int:
        """Tools and a response schema: their JSON counted (mistral-common renders tools itself)."""
        total = 0
        for key in ("tools", "response_format"):
            value = body.get(key)
            if not value or (key == "tools" and self._mistral is not None):
                continue
            if key == "response_format" and isinstance(value, dict) and value.get("type") in ("text", "json_object"):
                continue
            n = self._tokens(json.dumps(value, ensure_ascii=False))
            total += n
            result.slack += float(n * CONSTRUCT_SHARE) + 20
            note(result, f"{key} are rendered into the prompt by the server's template: counted as their JSON")
        return total

    def _embeddings(self, body: dict, result: RequestCount) -> int:
        value = body.get("input")
        inputs = [value] if isinstance(value, str) else value
        if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
            raise PlanError("body.input must be a string or a list of strings")
        if self._mistral is not None:  # each input its own sequence: <s> text </s>
            encode = self._mistral.instruct_tokenizer.tokenizer.encode
            counts = [len(encode(text, bos=True, eos=True)) for text in inputs]
        else:
            counts = [self._tokens(self._begin() + text) for text in inputs]
        result.inputs = tuple(counts)
        return sum(counts)

    # -- pieces ----------------------------------------------------------------------------------------------
    def _begin(self) -> str:
        return (self.spec or {}).get("begin", "")

    def _tokens(self, text: str) -> int:
        if self._mistral is not None:
            return len(self._mistral.instruct_tokenizer.tokenizer.encode(text, bos=False, eos=False))
        assert self._encode is not None
        try:
            return len(self._encode(text, add_special_tokens=False))
        except (TypeError, UnicodeEncodeError):
            return len(self._encode(text.encode("utf-8", "replace").decode("utf-8"), add_special_tokens=False))

    def _mistral_chat(self, body: dict, messages: list, result: RequestCount) -> int:
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        assert self._mistral is not None

        for i, message in enumerate(messages):
            self._message_text(message, i, RequestCount(0, None))  # the body's shape, said as ours
        try:
            request = ChatCompletionRequest.from_openai(messages=messages, tools=body.get("tools"))
            return len(self._mistral.encode_chat_completion(request).tokens)
        except Exception as exc:  # noqa: BLE001 - mistral-common refuses what Mistral's API would: one line
            raise PlanError(f"Mistral's request encoding refuses this request: {str(exc).splitlines()[0][:200]}"
                            ) from None


def _mistral_tokenizer(version: str):
    """Mistral's own tokenizer of ``version`` (v1, v2, v3, tekken, v7, tekken_v7) from mistral-common, or None
    when it is not installed (the proxy band counts instead)."""
    try:
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    except ImportError:
        return None
    makers = {"v1": MistralTokenizer.v1, "v2": MistralTokenizer.v2, "v3": MistralTokenizer.v3,
              "tekken": lambda: MistralTokenizer.v3(is_tekken=True), "v7": MistralTokenizer.v7,
              "tekken_v7": lambda: MistralTokenizer.v3(is_tekken=True)}
    if version not in makers:
        raise UsageError(f"compatible.yaml: unknown Mistral tokenizer {version!r}; known: {', '.join(makers)}")
    return makers[version]()
