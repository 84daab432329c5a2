"""Input-token counting per endpoint, equal to what the API reports as usage.

The chat rules are the OpenAI cookbook's ("How to count tokens with tiktoken"): each message costs
``tokens_per_message`` plus its encoded role, content and name (``tokens_per_name`` more for a name), and the
reply primer adds ``reply_primer``. Tools follow the cookbook's per-family constants. Everything else the API
counts in a way no document states (tool calls inside messages, JSON schemas, audio, non-function tools) is
counted the best known way and the request is marked ``approximate`` with a note saying why.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchcost.core.errors import PlanError
from batchcost.providers.openai.rendering import Rendering, rendering, typescript
from batchcost.providers.openai.rules import CHAT_ROLES  # the plain path's roles (the SDK's)
from batchcost.tokens.documents import decode_base64, pdf_pages
from batchcost.tokens.encodings import token_counter
from batchcost.tokens.images import ImageFileProblem, image_bytes, image_size, image_tokens, max_image_tokens
from batchcost.tokens.models import ModelInfo
from batchcost.tokens.text import (
    MAX_BOUND,
    RequestCount,
    digest,
    expect,
    fingerprint,
    json_type,
    length_function,
    nonempty_list,
    note,
)

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
MODERATIONS = "/v1/moderations"
from batchcost.providers.openai.media import IMAGE_EDITS, IMAGE_ENDPOINTS, IMAGE_GENERATIONS, VIDEOS  # noqa: E402

ENDPOINTS = (CHAT, RESPONSES, EMBEDDINGS, COMPLETIONS, MODERATIONS, IMAGE_GENERATIONS, IMAGE_EDITS, VIDEOS)
_MEDIA = frozenset((IMAGE_GENERATIONS, IMAGE_EDITS, VIDEOS))
# the endpoints a model of these kinds takes (and the only kind each of those endpoints takes): the API refuses an
# embedding model's chat request and a chat model's embeddings request alike
KIND_ENDPOINTS = {"image": IMAGE_ENDPOINTS, "video": (VIDEOS,), "embedding": (EMBEDDINGS,),
                  "moderation": (MODERATIONS,)}
_ENDPOINT_KIND = {endpoint: kind for kind, endpoints in KIND_ENDPOINTS.items() for endpoint in endpoints}
IMAGE_SLACK = 3  # an image's count by the documented rule was within 2 of the bill on the real pairs
FILE_FRAMING = 4  # a PDF whose pages are not read: the framing tokens the real pairs showed
PDF_PAGE_MOST = 2000  # a page's text and image at most (OpenAI: "both the extracted text and an image of each page")
_KIND_NAMES = {"image": "an image", "video": "a video", "embedding": "an embedding", "moderation": "a moderation"}


class Counter:
    """Counts requests for one model. Reuse one Counter per model: string lengths are memoised."""

    def __init__(self, model: ModelInfo, *, assume_image_size: tuple[int, int] | None = None,
                 base_dir: Path | None = None, fingerprints: bool = False):
        self.model = model
        self.assume_image_size = assume_image_size
        self.base_dir = base_dir
        self.fingerprints = fingerprints  # always fingerprint (calibration); else only cacheable prefixes
        self._len = length_function(model.encoding)  # memoised: for text that repeats (prompts, tools, roles)
        self._count = token_counter(model.encoding)  # for each request's own text (rarely repeats)
        rules = model.chat_rules
        self._chat_constants = (rules.tokens_per_message, rules.tokens_per_name, rules.reply_primer)
        self._tool_memo: dict[bytes, tuple[int, tuple[str, ...], float]] = {}
        self._bound = KIND_ENDPOINTS.get(model.kind)  # the only endpoints this model takes, else None
        self._render: Rendering = rendering(model.name, model.encoding, CHAT)
        self._render_responses: Rendering = rendering(model.name, model.encoding, RESPONSES)

    # -- entry point ------------------------------------------------------------------------------
    def count(self, endpoint: str, body: dict[str, Any]) -> RequestCount:
        expect(body, dict, "body")
        if self._bound is not None or endpoint in _ENDPOINT_KIND:
            self.takes(endpoint)
            if endpoint in _MEDIA:
                return self._media(endpoint, body, RequestCount(0, None))
        if endpoint == CHAT:
            fast = self._plain_chat(body)
            if fast is not None:
                return fast
        result = RequestCount(0, None)
        if endpoint == CHAT:
            result.input_tokens = self._chat(body, result)
            result.max_output_tokens = _times_n(body, "max_completion_tokens", "max_tokens")
        elif endpoint == RESPONSES:
            result.input_tokens = self._responses(body, result)
            result.max_output_tokens = _bound(body, "max_output_tokens")
        elif endpoint == EMBEDDINGS:
            result.inputs = tuple(self.input_lengths(body.get("input"), "body.input"))
            result.input_tokens = sum(result.inputs)
            result.max_output_tokens = 0
        elif endpoint == MODERATIONS:
            result.input_tokens = self._moderation_inputs(body.get("input"))
            result.max_output_tokens = 0
        elif endpoint == COMPLETIONS:
            result.input_tokens = self._inputs(body.get("prompt"), "body.prompt")
            result.max_output_tokens = _times_n(body, "max_tokens", n_keys=("n", "best_of"))
        else:
            raise PlanError(f"url {endpoint!r} is not a batch endpoint ({', '.join(ENDPOINTS)})")
        if self.model.derived:  # a published model outside the registry: its family's rules, not verified on it
            note(result, f"{self.model.name} is counted by {self.model.derived}'s rules (not verified on it)")
            result.slack += 2 + 0.02 * result.input_tokens
        if result.slack or result.slack_low or result.slack_high or result.approximate:
            widen(result, self.model.context_window)
        if self.fingerprints or result.prefix_tokens >= 1024:
            result.fingerprint = fingerprint(self.model.name, endpoint, body, result.tools_key)
        return result

    def takes(self, endpoint: str) -> None:
        """Refuse a request to an endpoint this model does not take (an endpoint bound to another kind of model, or
        a bound model on another endpoint). A model outside the registry may be anything, so it is not judged,
        except on the image and video endpoints, which count only from the registry's tables."""
        needs = _ENDPOINT_KIND.get(endpoint)
        if needs == self.model.kind or (self.model.custom and endpoint not in _MEDIA):
            return
        if needs is not None:
            raise PlanError(f"{endpoint} needs {_KIND_NAMES[needs]} model; {self.model.name} is "
                            f"{_KIND_NAMES.get(self.model.kind, 'a ' + self.model.kind)} model")
        raise PlanError(f"{self.model.name} is {_KIND_NAMES[self.model.kind]} model: its requests go to "
                        f"{' or '.join(self._bound or ())}, not {endpoint}")

    def _media(self, endpoint: str, body: dict, result: RequestCount) -> RequestCount:
        from batchcost.providers.openai import media

        if endpoint == VIDEOS:
            result.input_tokens = media.count_video(self.model.name, body, result)
        else:
            result.input_tokens = media.count_image(self, endpoint, body, result)
        if self.fingerprints:
            result.fingerprint = fingerprint(self.model.name, endpoint, body)
        return result

    # -- chat completions -------------------------------------------------------------------------
    _PLAIN_KEYS = frozenset(("role", "content", "name"))
    _PLAIN_BODY = frozenset(("model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                             "seed", "stop", "user", "metadata", "store", "logprobs", "top_logprobs",
                             "presence_penalty", "frequency_penalty", "reasoning_effort", "service_tier"))

    def _plain_chat(self, body: dict) -> RequestCount | None:
        counts = self.plain_chat(body)
        if counts is None:
            return None
        total, prefix, bound = counts
        fp = fingerprint(self.model.name, CHAT, body) if self.fingerprints or prefix >= 1024 else ""
        return RequestCount(total, bound, False, [], prefix, fp)

    def plain_chat(self, body: dict) -> tuple[int, int, int | None] | None:
        """The common case, counted in one tight loop: text messages (role, content, name as strings), no tools,
        no schema, no n. Gives (input tokens, shared-prefix tokens, max output tokens or None). Anything else
        returns None and takes the general path, which gives the same numbers (and the precise errors)."""
        messages = body.get("messages")
        if type(messages) is not list or not messages or not self._PLAIN_BODY.issuperset(body) or self.model.derived:
            return None
        per_message, per_name, primer = self._chat_constants
        memo, count, plain = self._len, self._count, self._PLAIN_KEYS
        total = prefix = 0
        leading = True
        for message in messages:
            if type(message) is not dict or not plain.issuperset(message):
                return None
            role = message.get("role")
            content = message.get("content")
            if type(role) is not str or type(content) is not str or role not in CHAT_ROLES:
                return None  # an unknown role is for the general path (and check's "role" rule)
            leading = leading and role in ("system", "developer")
            tokens = per_message + memo(role) + (memo(content) if leading else count(content))
            name = message.get("name")
            if name is not None:
                if type(name) is not str:
                    return None
                tokens += memo(name) + per_name
            total += tokens
            if leading:
                prefix += tokens
        bound = body.get("max_completion_tokens")
        if bound is None:
            bound = body.get("max_tokens")
        if bound is not None and (type(bound) is not int or not 1 <= bound <= MAX_BOUND):
            return None
        return total + primer, prefix, bound

    def _chat(self, body: dict, result: RequestCount) -> int:
        messages = nonempty_list(body, "messages", "body")
        total = self._messages(messages, result, "body.messages", self._render)
        shared = (self._tools(body, result, self._render)
                  + self._schema(_response_schema(body.get("response_format")), result, self._render))
        result.prefix_tokens += shared
        return total + shared

    def _messages(self, messages: list, result: RequestCount, where: str, render: Rendering) -> int:
        rules = self.model.chat_rules
        total = 0
        leading = True  # system/developer messages before the first other message form the shared prefix
        for i, message in enumerate(messages):
            at = f"{where}[{i}]"
            expect(message, dict, at)
            if "role" not in message:
                raise PlanError(f"{at}.role is missing")
            tokens = rules.tokens_per_message
            leading = leading and message.get("role") in ("system", "developer")
            for key, value in message.items():
                tokens += self._message_field(key, value, result, f"{at}.{key}", leading, render)
            if leading:
                result.prefix_tokens += tokens
            total += tokens
        return total + rules.reply_primer

    def _message_field(self, key: str, value: Any, result: RequestCount, at: str, shared: bool = False,
                       render: Rendering | None = None) -> int:
        if key == "content":
            return self._content(value, result, at, shared)
        if key in ("role", "name"):
            tokens = self._len(expect(value, str, at))
            return tokens + (self.model.chat_rules.tokens_per_name if key == "name" else 0)
        if key in ("tool_calls", "function_call"):
            calls = value if isinstance(value, list) else [{"function": value}]
            return sum(self._tool_call(call, f"{at}", result, render or self._render) for call in calls)
        if key == "tool_call_id":
            return 0
        if isinstance(value, str):  # any other text field is sent to the model as text
            return self._len(value)
        return 0

    def _tool_call(self, call: Any, at: str, result: RequestCount, render: Rendering) -> int:
        """A tool call of the history: its name and arguments, and the framing a call and its result carry
        (fitted)."""
        expect(call, dict, at)
        function = call.get("function", call)
        expect(function, dict, f"{at}.function")
        tokens = sum(self._len(v) for v in (function.get("name"), function.get("arguments")) if isinstance(v, str))
        note(result, "tool calls in the history are counted with fitted framing tokens (a band)")
        result.slack += render.slack
        return tokens + round(render.call)

    def _content(self, content: Any, result: RequestCount, at: str, shared: bool = False) -> int:
        count = self._len if shared else self._count
        if content is None:
            return 0
        if isinstance(content, str):
            return count(content)
        expect(content, (str, list), at)
        return sum(self._part(part, result, f"{at}[{i}]", count) for i, part in enumerate(content))

    def _part(self, part: Any, result: RequestCount, at: str, count: Callable[[str], int]) -> int:
        expect(part, dict, at)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text", "refusal"):
            text = part.get("text", part.get("refusal"))
            return count(expect(text, str, f"{at}.text"))
        if kind in ("image_url", "input_image"):
            return self._image(part, result, at)
        if kind == "input_audio":
            expect(part.get(kind), dict, f"{at}.{kind}")
            note(result, f"{kind} parts are not counted (their token cost depends on the media)")
            result.slack_high += self.model.context_window or 0
            return 0
        if kind in ("file", "input_file"):  # chat: in an object named "file"; responses: beside the type
            spec = expect(part.get(kind), dict, f"{at}.{kind}") if kind == "file" else part
            if not any(isinstance(spec.get(k), str) for k in ("file_id", "file_data", "file_url")):
                raise PlanError(f"{at} needs file_id, file_data or file_url (a string)")
            return self._file(spec, result)
        raise PlanError(f"{at}.type {kind!r} is not a known content part type")

    def _file(self, spec: dict, result: RequestCount) -> int:
        """A PDF: its text and an image of each page, neither readable offline here. The band: a few framing
        tokens up to PDF_PAGE_MOST a page (pages read from the file's bytes, else the API's 100-page limit)."""
        pages = None
        data = spec.get("file_data")
        if isinstance(data, str):
            raw = data.split(",", 1)[1] if data.startswith("data:") else data
            try:
                pages = pdf_pages(decode_base64(raw)) or None
            except ValueError:
                pages = None
        note(result, "PDF files are counted as a band: their text and page images are not read offline"
             + ("" if pages else " (a file not given inline is taken as up to 100 pages)"))
        result.slack_high += (pages or 100) * PDF_PAGE_MOST
        return FILE_FRAMING

    # -- images -----------------------------------------------------------------------------------
    def _image(self, part: dict, result: RequestCount, at: str) -> int:
        rules = self.model.image_rules
        if rules is None:
            raise PlanError(f"{at}: model {self.model.name} does not accept image input")
        spec = part.get("image_url")
        if isinstance(spec, dict):
            url, detail = spec.get("url"), spec.get("detail", part.get("detail", "auto"))
            url_at = f"{at}.image_url.url"
        elif isinstance(spec, str) or (spec is None and part.get("type") == "input_image"):
            url, detail = spec, part.get("detail", "auto")
            url_at = f"{at}.image_url"
        else:
            raise PlanError(f"{at}.image_url must be an object with a url (or a URL string), not {json_type(spec)}")
        if url is None and not isinstance(part.get("file_id"), str):
            raise PlanError(f"{url_at} is missing")
        if url is not None and not isinstance(url, str):
            raise PlanError(f"{url_at} must be a string, not {json_type(url)}")
        if not isinstance(detail, str):
            raise PlanError(f"{at} detail must be a string (auto, low or high), not {json_type(detail)}")
        if rules.approximate:
            note(result, f"{self.model.name} image tokens follow " + (
                "GPT Image 1's tile rule (65 + 129 a tile), not documented for each image model"
                if self.model.kind == "image" else "measured, not documented, multipliers"))
        try:
            data = image_bytes(url, self.base_dir) if url is not None else None
        except ImageFileProblem as exc:
            raise PlanError(f"{url_at}: {exc}") from None
        size = image_size(data) if data else None
        if size is None and isinstance(url, str) and url.startswith("data:"):
            raise PlanError(f"{at}: data URL is not a PNG, JPEG, GIF or WebP image")
        if size is None and self.assume_image_size:
            size = self.assume_image_size
            note(result, "remote images assumed to be {}x{} px".format(*size))
        if size is None:  # the most an image may cost; the band reaches down to the least (a tiny image)
            note(result, "remote images counted at the model's maximum per image (use --image-size WxH)")
            most = max_image_tokens(detail, rules)
            result.slack_low += most - image_tokens(1, 1, detail, rules)
            return most
        note(result, "images are counted by the documented rule, which the bill follows within a few tokens")
        result.slack += IMAGE_SLACK
        return image_tokens(size[0], size[1], detail, rules)

    # -- tools and schemas ------------------------------------------------------------------------
    def _tools(self, body: dict, result: RequestCount, render: Rendering) -> int:
        tools = body.get("tools") or []
        functions = body.get("functions") or []
        if not tools and not functions:
            return 0
        expect(tools, list, "body.tools")
        expect(functions, list, "body.functions")
        # Requests made from one template repeat the same tools block: count it once per distinct block.
        key = digest(json.dumps([tools, functions], separators=(",", ":"), ensure_ascii=False, default=str))
        result.tools_key = key
        cached = self._tool_memo.get(key)
        if cached is None:
            scratch = RequestCount(0, None)
            cached = (self._count_tools(tools, functions, scratch, render), tuple(scratch.notes), scratch.slack)
            if len(self._tool_memo) >= 1024:
                self._tool_memo.clear()
            self._tool_memo[key] = cached
        for said in cached[1]:
            note(result, said)
        result.slack += cached[2]
        return cached[0]

    def _count_tools(self, tools: list, functions: list, result: RequestCount, render: Rendering) -> int:
        defs = []
        for i, tool in enumerate(tools):
            expect(tool, dict, f"body.tools[{i}]")
            if tool.get("type", "function") != "function":
                note(result, f"built-in tool {tool.get('type')!r} is not counted")
                continue
            defs.append(expect(tool.get("function", tool), dict, f"body.tools[{i}].function"))
        defs.extend(expect(f, dict, f"body.functions[{i}]") for i, f in enumerate(functions))
        if not defs:
            return 0
        text = self._len(typescript(defs))
        strict = sum(1 for fn in defs if fn.get("strict") is True)
        note(result, "tool definitions are counted as their TypeScript rendering with fitted framing tokens "
                     "(a band)")
        result.slack += render.slack * len(defs) + 0.05 * text
        return text + round(render.tools + render.function * len(defs) + render.strict * strict)

    def _schema(self, schema: Any, result: RequestCount, render: Rendering) -> int:
        if schema is None:
            return 0
        note(result, "json_schema response formats are counted from their JSON text with fitted constants (a band)")
        text = self._len(json.dumps(schema, ensure_ascii=False, separators=(",", ":")))
        result.slack += render.slack + 0.05 * text
        return round(render.schema + render.schema_ratio * text)

    # -- responses --------------------------------------------------------------------------------
    def _responses(self, body: dict, result: RequestCount) -> int:
        messages: list[dict] = []
        instructions = body.get("instructions")
        if instructions is not None:
            messages.append({"role": "system", "content": expect(instructions, str, "body.instructions")})
        items = body.get("input")
        if items is None:
            raise PlanError("body.input is missing")
        if isinstance(items, str):
            messages.append({"role": "user", "content": items})
        else:
            expect(items, list, "body.input")
            for i, item in enumerate(items):
                messages.append(self._response_item(item, result, f"body.input[{i}]"))
        render = self._render_responses
        if body.get("previous_response_id") is not None or body.get("conversation") is not None:
            note(result, "an earlier response or conversation is part of the input and cannot be read offline")
            result.slack_high += self.model.context_window or 0
        total = self._messages(messages, result, "body.input", render)
        total += self._tools(body, result, render)
        text = body.get("text")
        fmt = text.get("format") if isinstance(text, dict) else None
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            total += self._schema(fmt.get("schema"), result, render)
        return total

    def _response_item(self, item: Any, result: RequestCount, at: str) -> dict:
        expect(item, dict, at)
        if "role" in item:
            return {k: v for k, v in item.items() if k not in ("type", "id", "status")}
        kind = item.get("type")
        if kind == "function_call":  # an assistant's call: its name and arguments, with the fitted framing
            return {"role": "assistant", "tool_calls": [{"function": {"name": item.get("name"),
                                                                      "arguments": item.get("arguments")}}]}
        if kind == "function_call_output":
            output = item.get("output")
            return {"role": "tool", "content": output if isinstance(output, (str, list)) else json.dumps(output)}
        note(result, f"input items of type {kind!r} are counted as their text (a band)")
        text = " ".join(str(item[k]) for k in ("name", "arguments", "output") if isinstance(item.get(k), str))
        result.slack += self._render_responses.slack + 0.1 * self._len(text)
        return {"role": "tool", "content": text}

    # -- embeddings, completions, moderations ------------------------------------------------------
    def _inputs(self, value: Any, at: str) -> int:
        return sum(self.input_lengths(value, at))

    def _moderation_inputs(self, value: Any) -> int:
        """A moderation request bills no tokens: 0, once its input is one the endpoint takes (what an embeddings
        input may be, or a list of ``{"type": "text", "text"}`` and ``{"type": "image_url", ...}`` parts)."""
        if value is None:
            raise PlanError("body.input is missing")
        if isinstance(expect(value, (str, list), "body.input"), str):
            return 0
        for i, part in enumerate(value):
            if isinstance(part, dict):
                kind = part.get("type")
                if kind == "text":
                    expect(part.get("text"), str, f"body.input[{i}].text")
                elif kind != "image_url":
                    raise PlanError(f"body.input[{i}] must be a text or image_url part, not "
                                    f"{repr(kind) if kind is not None else 'an object without a type'}")
            elif not isinstance(part, (str, int, list)) or isinstance(part, bool):
                raise PlanError(f"body.input[{i}] must be a string, a list of token ids or a text or image_url "
                                f"part, not {json_type(part)}")
        return 0

    def input_lengths(self, value: Any, at: str = "body.input") -> list[int]:
        """Tokens of each input of an embeddings/completions/moderations request (a string, strings, token arrays)."""
        if value is None:
            raise PlanError(f"{at} is missing")
        if isinstance(value, str):
            return [self._count(value)]
        expect(value, list, at)
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return [len(value)]  # one token array
        lengths = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                lengths.append(self._count(item))
            elif isinstance(item, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in item):
                lengths.append(len(item))
            else:
                raise PlanError(f"{at}[{i}] must be a string or a list of token ids, not {json_type(item)}")
        return lengths


def widen(result: RequestCount, window: int | None = None) -> None:
    """A count with fitted or unknown parts: an approximation, its band the slack they added (never below zero,
    never above the model's context window)."""
    half = math.ceil(2 + result.slack) if result.slack else 0
    result.approximate = True
    result.basis = "approximation"
    result.low = max(0, result.input_tokens - half - result.slack_low)
    high = result.input_tokens + half + result.slack_high
    result.high = max(result.input_tokens, min(high, window)) if window else high


def _response_schema(fmt: Any) -> Any:
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        return spec.get("schema", spec) if isinstance(spec, dict) else spec
    return None




def _bound(body: dict, *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PlanError(f"body.{key} must be a non-negative integer, not {json_type(value)} {value!r}"[:160])
            if value > MAX_BOUND:
                raise PlanError(f"body.{key} is {value:,}, out of any real range (at most {MAX_BOUND:,})")
            return value
    return None


def _times_n(body: dict, *keys: str, n_keys: tuple[str, ...] = ("n",)) -> int | None:
    bound = _bound(body, *keys)
    if bound is None:
        return None
    n = max((_bound(body, k) or 1) for k in n_keys)
    return bound * n


def count_request(body: dict[str, Any], endpoint: str = CHAT, *, model: str | None = None,
                  encoding: str | None = None, assume_image_size: tuple[int, int] | None = None) -> RequestCount:
    """Count one request body as the API will bill it.

    ``model`` defaults to ``body["model"]``; ``encoding`` forces an encoding for a model outside the registry.
    """
    from batchcost.tokens.models import custom_model, resolve_model

    name = model or body.get("model")
    if not isinstance(name, str):
        raise PlanError("body.model is missing")
    info = custom_model(name, encoding) if encoding else resolve_model(name)
    return Counter(info, assume_image_size=assume_image_size).count(endpoint, body)
