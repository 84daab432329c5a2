"""Prompt templates: a dataset record + a YAML template -> Batch API plan lines.

```yaml
endpoint: /v1/chat/completions
model: gpt-4o-mini              # --model overrides
custom_id: "review-{id}"        # default: row-{_row}
body:
  messages:
    - {role: system, content: "Classify the review."}
    - {role: user, content: "{text}"}
  max_tokens: 40
chunk: {max_tokens: 512, overlap: 64}   # embeddings only: split long inputs by tokens
```

``provider: anthropic`` (default: openai) makes Message Batches lines, ``{"custom_id", "params"}`` with ``body`` as
the Messages request (``endpoint`` may then be left out; it is /v1/messages).

``{column}`` is replaced by the record's field as text, inside JSON strings (quotes, newlines, unicode and
JSON-looking text survive exactly); ``{{`` and ``}}`` are literal braces; ``{_row}`` is the record number.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from batchcost.core.errors import BadInput
from batchcost.core.inputs import json_line, read_input_text, yaml_root
from batchcost.plans.datasets import Record, read_dataset
from batchcost.plans.reader import PlanLine

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
ROW = "_row"


class TemplateError(BadInput):
    """A template is unusable, or does not fit the dataset."""


@dataclass(frozen=True)
class Field:
    name: str
    line: int


@dataclass(frozen=True)
class Text:
    """A template string compiled into literal pieces and fields."""

    parts: tuple[str | Field, ...]

    def render(self, record: Record, template: Template) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.name == ROW:
                out.append(str(record.number))
            elif part.name in record.fields:
                out.append(record.fields[part.name])
            else:
                fields = ", ".join(list(record.fields)[:12]) or "none"
                raise TemplateError(f"placeholder {{{part.name}}} names no field of the record at {record.where} "
                                    f"(fields: {fields})", path=template.path, line=part.line)
        return "".join(out)


def _compile(text: str, line: int, path: Path) -> Text | str:
    parts: list[str | Field] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[pos:match.start()])
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif token in ("{", "}"):
            raise TemplateError(f"unbalanced {token!r} in {text[:40]!r} (write {token * 2} for a literal brace)",
                                path=path, line=line)
        else:
            name = match.group(1).strip()
            if not name:
                raise TemplateError("empty placeholder {}", path=path, line=line)
            parts.append(Field(name, line))
        pos = match.end()
    parts.append(text[pos:])
    parts = [p for p in parts if p != ""]
    if all(isinstance(p, str) for p in parts):
        return "".join(str(p) for p in parts)  # no placeholders: a plain string
    return Text(tuple(parts))


_SCALARS = yaml.SafeLoader("")  # only its scalar constructors are used


def _build(node: yaml.Node, path: Path) -> Any:
    """Construct the YAML value, compiling every string into a Text (keeping its line for errors)."""
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = _SCALARS.construct_object(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise TemplateError("mapping keys must be strings", path=path, line=key_node.start_mark.line + 1)
            result[key] = _build(value_node, path)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path) for item in node.value]
    line = node.start_mark.line + 1
    if node.tag == "tag:yaml.org,2002:timestamp":  # a date in a request is text: kept exactly as written
        return _compile(node.value, line, path)
    try:
        value = _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:
        raise TemplateError(f"{node.value!r} cannot be read: {' '.join(str(exc).split())[:100]}", path=path,
                            line=line) from None
    if isinstance(value, str):
        return _compile(value, line, path)
    if isinstance(value, float) and not math.isfinite(value):
        raise TemplateError(f"{node.value} is not a JSON number (JSON has no NaN or infinity); quote it for text",
                            path=path, line=line)
    if value is not None and not isinstance(value, (bool, int, float)):
        raise TemplateError(f"{node.tag.rsplit(':', 1)[-1]} values cannot be written as JSON; use a string",
                            path=path, line=line)
    return value


def _render(value: Any, record: Record, template: Template) -> Any:
    if isinstance(value, Text):
        return value.render(record, template)
    if isinstance(value, dict):
        return {k: _render(v, record, template) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, record, template) for v in value]
    return value


@dataclass
class Chunking:
    max_tokens: int
    overlap: int


@dataclass
class Template:
    path: Path
    endpoint: str
    model: str
    body: dict
    custom_id: Text | str
    chunk: Chunking | None
    provider: str = ""
    project: str | None = None  # the project the plans it makes are booked to (approve's default)

    def render(self, record: Record) -> tuple[str, dict]:
        body = {"model": self.model, **{k: v for k, v in _render(self.body, record, self).items() if k != "model"}}
        custom_id = _render(self.custom_id, record, self)
        return custom_id, body


def load_template(path: str | Path, *, model: str | None = None) -> Template:
    path = Path(path)
    text = read_input_text(path, TemplateError, "template")
    root = yaml_root(text, path, TemplateError)  # bounded aliases, no key defined twice
    if root is None:
        raise TemplateError("the template is empty", path=path)
    if not isinstance(root, yaml.MappingNode):
        raise TemplateError("a template must be a mapping with endpoint, model and body", path=path, line=1)
    lines = {k.value: k.start_mark.line + 1 for k, _ in root.value}
    spec = _build(root, path)

    def plain(key: str) -> Any:
        value = spec.get(key)
        if isinstance(value, Text):
            raise TemplateError(f"{key} cannot contain placeholders", path=path, line=lines.get(key))
        return value

    from batchcost import providers

    provider = plain("provider") or providers.default().name
    if provider not in providers.names():
        raise TemplateError(f"provider {provider!r} is not one of {', '.join(providers.names())}", path=path,
                            line=lines.get("provider"))
    module = providers.get(provider)
    accepted = module.kinds()
    endpoint = plain("endpoint") or (accepted[0] if len(accepted) == 1 else None)
    if endpoint is None and isinstance(spec.get("body"), dict):
        endpoint = module.kind_of(spec["body"])  # the request kind a provider tells from the body (Gemini)
    if endpoint is None:
        raise TemplateError("endpoint is missing (e.g. /v1/chat/completions)", path=path)
    if endpoint not in accepted:
        raise TemplateError(f"endpoint {endpoint!r} is not a batch endpoint of {provider} ({', '.join(accepted)})",
                            path=path, line=lines.get("endpoint"))
    name = model or plain("model")
    if name is not None and not isinstance(name, str):
        raise TemplateError(f"model must be a model name (a string), not {name!r}", path=path, line=lines.get("model"))
    if not name:
        raise TemplateError("model is missing (set it in the template or pass --model)", path=path)
    body = spec.get("body")
    if not isinstance(body, dict) or not body:
        raise TemplateError("body must be a non-empty mapping (the request body)", path=path,
                            line=lines.get("body"))
    custom_id = spec.get("custom_id", Text(("row-", Field(ROW, 0))))
    if not isinstance(custom_id, (str, Text)):
        raise TemplateError("custom_id must be a text pattern such as \"review-{id}\"", path=path,
                            line=lines.get("custom_id"))
    if isinstance(custom_id, str):
        raise TemplateError("custom_id must contain a placeholder such as {id} or {_row}, or every request would "
                            "share one id", path=path, line=lines.get("custom_id"))
    chunk = _chunking(spec.get("chunk"), module.chunk_field(endpoint), body, path, lines.get("chunk"))
    project = plain("project")
    if project is not None and (not isinstance(project, str) or not project.strip()):
        raise TemplateError("project must be a name", path=path, line=lines.get("project"))
    return Template(path, endpoint, name, body, custom_id, chunk, provider, project.strip() if project else None)


def _chunking(raw: Any, field_name: str | None, body: dict, path: Path, line: int | None) -> Chunking | None:
    """``chunk: {max_tokens, overlap}``, for a request kind whose provider names the field a long text is cut in
    (``Provider.chunk_field``: OpenAI's embeddings ``input``)."""
    if raw is None:
        return None
    if field_name != "input":
        raise TemplateError("chunk applies to embeddings templates only (their body.input is the text cut)",
                            path=path, line=line)
    if not isinstance(raw, dict) or not isinstance(raw.get("max_tokens"), int):
        raise TemplateError("chunk needs max_tokens (and optionally overlap) as whole numbers", path=path, line=line)
    overlap = raw.get("overlap", 0)
    if not isinstance(overlap, int) or not 0 <= overlap < raw["max_tokens"] or raw["max_tokens"] < 8:
        raise TemplateError("chunk: need 8 <= max_tokens and 0 <= overlap < max_tokens", path=path, line=line)
    if not isinstance(body.get("input"), Text):
        raise TemplateError("chunk needs body.input to be a text with a placeholder, e.g. \"{text}\"", path=path,
                            line=line)
    return Chunking(raw["max_tokens"], overlap)


# -- chunking ---------------------------------------------------------------------------------------------
def chunk_spans(text: str, encoding, max_tokens: int, overlap: int) -> list[tuple[int, int, str]]:
    """Split ``text`` into pieces of at most ``max_tokens`` tokens (re-encoded), ``overlap`` tokens shared
    between neighbours, cut only at character boundaries. Returns (start_byte, end_byte, piece) in order;
    the pieces without their overlaps concatenate back to ``text``."""
    data = text.encode("utf-8")
    tokens = encoding.encode_ordinary(text)
    offsets = [0]
    for token in tokens:
        offsets.append(offsets[-1] + len(encoding.decode_single_token_bytes(token)))

    def clean(i: int) -> bool:  # a token boundary that is also a character boundary
        return offsets[i] >= len(data) or (data[offsets[i]] & 0xC0) != 0x80

    spans = []
    start, n = 0, len(tokens)
    while start < n:
        end = min(start + max_tokens, n)
        while True:
            while end > start + 1 and not clean(end):
                end -= 1
            piece = data[offsets[start]:offsets[end]].decode("utf-8")
            if len(encoding.encode_ordinary(piece)) <= max_tokens or end <= start + 1:
                break
            end -= 1
        spans.append((offsets[start], offsets[end], piece))
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        while nxt < end and not clean(nxt):
            nxt += 1
        start = nxt
    return spans


# -- records -> plan lines ------------------------------------------------------------------------------
def plan_lines(dataset: str | Path, template: Template, *, skipped: list | None = None,
               records: Iterator[Record] | None = None, check_ids: bool = True) -> Iterator[PlanLine]:
    """Render every record of ``dataset`` (or the given ``records``) into plan lines, several per record when
    chunking. ``check_ids`` refuses a custom_id used twice (a partition cannot see the others: its caller checks)."""
    from batchcost import providers
    from batchcost.tokens.encodings import get_encoding
    from batchcost.tokens.models import resolve_model

    encoding = get_encoding(resolve_model(template.model).encoding) if template.chunk else None
    shape = providers.get(template.provider).line
    seen: dict[str, str] = {}
    line = 0
    for record in (records if records is not None else read_dataset(dataset)):
        custom_id, body = template.render(record)
        if template.chunk:
            try:
                spans = chunk_spans(body["input"], encoding, template.chunk.max_tokens, template.chunk.overlap)
            except UnicodeEncodeError as exc:  # a lone surrogate: no character, so no place to cut around it
                raise TemplateError(f"the record at {record.where} holds a lone surrogate "
                                    f"({exc.object[exc.start:exc.end].encode('unicode_escape').decode()}), which is "
                                    "no character, so its text cannot be cut into chunks; fix the text",
                                    path=template.path) from None
            if not spans and skipped is not None:
                skipped.append(record.where)
            items = [(f"{custom_id}-{k}", {**body, "input": piece}) for k, (_, _, piece) in enumerate(spans, 1)]
        else:
            items = [(custom_id, body)]
        for cid, item_body in items:
            if check_ids:
                if cid in seen:
                    raise TemplateError(f"custom_id {cid!r} of the record at {record.where} repeats the one of "
                                        f"{seen[cid]}; make the custom_id pattern unique", path=template.path)
                seen[cid] = record.where
            line += 1
            raw = json_line(shape(cid, template.endpoint, item_body))
            yield PlanLine(line, cid, "POST", template.endpoint, item_body, len(raw) + 1, raw,
                           provider=template.provider)


def hash_lines(lines: Iterator[PlanLine], digest: hashlib._Hash) -> Iterator[PlanLine]:
    """Pass lines through, hashing the bytes the plan file would hold."""
    for item in lines:
        digest.update(item.raw + b"\n")
        yield item
