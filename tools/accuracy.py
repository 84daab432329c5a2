#!/usr/bin/env python3
"""How close batchcost's input-token counts are to what the providers billed, on real request/usage pairs.

Reads the folders of ``tests/data/real_usage`` (one per public source: ``requests.jsonl.gz`` + ``usage.jsonl.gz``,
joined on ``id``; ``SOURCE.md`` says where each pair came from), counts every request offline as a plan line of
that provider would be counted, and compares with the billed prompt:

- OpenAI: ``prompt_tokens`` (chat, embeddings) or ``input_tokens`` (/v1/responses);
- Anthropic: ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens`` (streamed: ``message_start``);
- Gemini and Vertex: ``usageMetadata.promptTokenCount``.

Left out, as the data's provenance says: pairs tagged ``external_ref`` (content the provider fetched itself) and
requests with server-side tools (web search, code execution, ...), whose billed input includes what the provider
added. Providers batchcost does not serve yet are listed as such.

A count labelled exact (``count_basis`` tokenizer) is right when it equals the bill; an approximation is right
when the bill lies inside its stated band. Run::

    python tools/accuracy.py                    # the table per provider and construct (README's accuracy section)
    python tools/accuracy.py --misses 20        # the worst pairs, to see what is missed
    python tools/accuracy.py --format json      # every pair's numbers, for a notebook
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data" / "real_usage"
SERVED = ("openai", "anthropic", "gemini", "vertex", "groq", "together", "mistral")
SERVER_TOOLS = ("web_search", "code_interpreter", "file_search", "computer", "code_execution", "web_fetch",
                "image_generation", "mcp", "googleSearch", "google_search", "codeExecution", "code_execution",
                "urlContext", "url_context", "googleSearchRetrieval", "google_search_retrieval", "googleMaps",
                "fileSearch")


@dataclass
class Pair:
    """One real request and what it was billed, with batchcost's count of it."""

    source: str
    id: str
    provider: str
    model: str
    endpoint: str
    features: list[str]
    billed: int
    counted: int | None = None
    low: int | None = None
    high: int | None = None
    basis: str = ""
    error: str = ""
    constructs: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.basis in ("tokenizer", "online")

    @property
    def right(self) -> bool:
        """Exact and equal to the bill, or an approximation whose band holds the bill."""
        if self.counted is None:
            return False
        if self.exact:
            return self.counted == self.billed
        low = self.low if self.low is not None else self.counted
        high = self.high if self.high is not None else self.counted
        return low <= self.billed <= high


def read_jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def billed_prompt(provider: str, usage: dict) -> int | None:
    if provider == "anthropic":
        if "message_start" in usage:
            usage = usage["message_start"] or {}
        parts = [usage.get(key) or 0 for key in
                 ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        return sum(parts) if "input_tokens" in usage else None
    if provider in ("gemini", "vertex"):
        usage = usage.get("usageMetadata", usage)
        value = usage.get("promptTokenCount")
        return value if isinstance(value, int) else None
    value = usage.get("prompt_tokens", usage.get("input_tokens"))
    return value if isinstance(value, int) else None


def server_side_tools(body: dict) -> bool:
    tools = body.get("tools") if isinstance(body, dict) else None
    if not isinstance(tools, list):
        return False
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type", ""))
        if any(kind.startswith(name) for name in SERVER_TOOLS):
            return True
        if any(key in SERVER_TOOLS for key in tool):
            return True
    return False


def gemini_target(url: str) -> tuple[str, str]:
    """(model, method) of a Gemini API or Vertex URL: ``.../models/gemini-2.5-flash:generateContent``."""
    path = unquote(urlparse(url).path)
    tail = path.rsplit("/models/", 1)[-1]
    model, _, method = tail.partition(":")
    return model, method


def constructs_of(provider: str, endpoint: str, body: dict, features: list[str]) -> list[str]:
    """The constructs a pair is reported under: the source's own tags, plus the request kind."""
    tags = [tag for tag in features if tag not in ("stream",)]
    kind = {"/v1/responses": "responses", "/v1/embeddings": "embeddings", "/v1/chat/completions": "chat",
            "/v1/messages": "messages", "generateContent": "generateContent",
            "embedContent": "embeddings"}.get(endpoint, endpoint)
    if provider == "openai" and isinstance(body, dict):
        messages = body.get("messages") if endpoint == "/v1/chat/completions" else body.get("input")
        if isinstance(messages, list) and any(isinstance(m, dict) and (m.get("tool_calls") or m.get("role") == "tool"
                                                                         or m.get("type") in ("function_call",
                                                                                              "function_call_output"))
                                              for m in messages):
            tags.append("tool_history")
    if provider == "anthropic" and isinstance(body, dict):
        for message in body.get("messages") or ():
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result")
                                                 for b in content):
                tags.append("tool_history")
                break
    if provider in ("gemini", "vertex") and isinstance(body, dict):
        for content in body.get("contents") or ():
            parts = content.get("parts") if isinstance(content, dict) else None
            if isinstance(parts, list) and any(isinstance(p, dict) and ("functionCall" in p or "functionResponse" in p)
                                               for p in parts):
                tags.append("tool_history")
                break
    return sorted(set([kind] + (tags or ["plain"])))


def load_pairs(data: Path = DATA) -> tuple[list[Pair], dict[str, int]]:
    """Every usable pair under ``data`` (uncounted), and how many were left out, by reason."""
    pairs: list[Pair] = []
    left_out: dict[str, int] = defaultdict(int)
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        usage = {row["id"]: row for row in read_jsonl_gz(folder / "usage.jsonl.gz")}
        for request in read_jsonl_gz(folder / "requests.jsonl.gz"):
            row = usage.get(request["id"])
            provider = request["provider"]
            body = request.get("body")
            features = list(request.get("features") or ())
            if row is None:
                left_out["no usage"] += 1
                continue
            if provider not in SERVED:
                left_out[f"provider {provider} (not served yet)"] += 1
                continue
            if "external_ref" in features:
                left_out["external_ref"] += 1
                continue
            if not isinstance(body, dict) or server_side_tools(body):
                left_out["server-side tools"] += 1
                continue
            billed = billed_prompt(provider, row["usage"])
            if billed is None:
                left_out["no billed prompt"] += 1
                continue
            url = request.get("url") or ""
            if provider in ("gemini", "vertex"):
                model, method = gemini_target(url)
                if method in ("countTokens",):
                    left_out["countTokens"] += 1
                    continue
                endpoint = "embedContent" if "mbed" in method else "generateContent"
            else:
                path = urlparse(url).path
                endpoint = "/v1" + path.split("/v1", 1)[1] if "/v1" in path else path
                model = str(body.get("model", row.get("model", "")))
            pair = Pair(folder.name, request["id"], provider, model, endpoint, features, billed)
            pair.constructs = constructs_of(provider, endpoint, body, features)
            pair._body = body  # type: ignore[attr-defined]
            pairs.append(pair)
    return pairs, dict(left_out)


def count_pairs(pairs: list[Pair]) -> None:
    """batchcost's offline count of each pair, in place (an error is kept as the pair's ``error``)."""
    from batchcost import count_request
    from batchcost.core.errors import BatchcostError

    for pair in pairs:
        body = dict(pair._body)  # type: ignore[attr-defined]
        for key in ("stream", "stream_options"):
            body.pop(key, None)
        try:
            if pair.provider in ("gemini", "vertex"):
                if pair.endpoint == "embedContent" and isinstance(body.get("requests"), list):
                    total = 0
                    low = high = 0
                    approximate = False
                    for one in body["requests"]:
                        got = count_request(one, pair.endpoint, model=pair.model, provider=pair.provider)
                        total += got.input_tokens
                        low += got.low if got.low is not None else got.input_tokens
                        high += got.high if got.high is not None else got.input_tokens
                        approximate = approximate or got.basis != "tokenizer"
                    pair.counted, pair.basis = total, "approximation" if approximate else "tokenizer"
                    pair.low, pair.high = (low, high) if approximate else (None, None)
                    continue
                got = count_request(body, pair.endpoint, model=pair.model, provider=pair.provider)
            else:
                got = count_request(body, pair.endpoint, provider=pair.provider)
        except BatchcostError as exc:
            pair.error = exc.message.splitlines()[0][:160]
            continue
        pair.counted, pair.low, pair.high, pair.basis = got.input_tokens, got.low, got.high, got.basis


@dataclass
class Row:
    provider: str
    group: str
    pairs: int = 0
    exact_pairs: int = 0
    exact_right: int = 0
    band_pairs: int = 0
    band_right: int = 0
    refused: int = 0
    counted_total: int = 0
    billed_total: int = 0

    def add(self, pair: Pair) -> None:
        self.pairs += 1
        if pair.counted is None:
            self.refused += 1
            return
        self.counted_total += pair.counted
        self.billed_total += pair.billed
        if pair.exact:
            self.exact_pairs += 1
            self.exact_right += pair.right
        else:
            self.band_pairs += 1
            self.band_right += pair.right

    @property
    def ratio(self) -> float | None:
        return self.counted_total / self.billed_total if self.billed_total else None


def summarise(pairs: list[Pair], by: str = "construct") -> list[Row]:
    rows: dict[tuple[str, str], Row] = {}
    for pair in pairs:
        groups = ["all"] + (pair.constructs if by == "construct" else [family_of(pair)])
        for group in groups:
            rows.setdefault((pair.provider, group), Row(pair.provider, group)).add(pair)
    order = {name: i for i, name in enumerate(SERVED)}
    return sorted(rows.values(), key=lambda r: (order.get(r.provider, 99), r.group != "all", r.group))


def family_of(pair: Pair) -> str:
    from batchcost.core.errors import BatchcostError
    from batchcost.tokens.models import resolve_model

    try:
        return resolve_model(pair.model).name
    except BatchcostError:
        return pair.model


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def table(rows: list[Row]) -> str:
    lines = ["| provider | construct | pairs | exact: equal to the bill | band: bill inside | refused | "
             "counted / billed |", "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else "–"
        exact = f"{row.exact_right}/{row.exact_pairs} ({percent(row.exact_right, row.exact_pairs)})" \
            if row.exact_pairs else "–"
        band = f"{row.band_right}/{row.band_pairs} ({percent(row.band_right, row.band_pairs)})" \
            if row.band_pairs else "–"
        lines.append(f"| {row.provider} | {row.group} | {row.pairs} | {exact} | {band} | {row.refused or ''} | "
                     f"{ratio} |")
    return "\n".join(lines)


FIT_FAMILIES = {"cl100k": (), "gpt-4o": ("gpt-4o",), "gpt-4.1": ("gpt-4.1",),
                "gpt-5": ("gpt-5",), "o-series": ("o1", "o3", "o4")}
FIT_KEYS = {"cl100k": ["cl100k"], "gpt-4o": ["gpt-4o", "o200k"], "o-series": ["o1", "o3", "o4"]}


def fit_renderings(pairs: list[Pair], coverage: float = 0.98) -> str:
    """Fit the OpenAI rendering constants (models.yaml ``renderings``) on the pairs: each family's tokens beyond
    what the counter measures, by least squares over the constructs; then the slack per construct that puts
    ``coverage`` of the family's pairs inside the band. Prints the YAML to paste."""
    import math
    from unittest import mock

    import numpy as np

    from batchcost.providers.openai import counting, rendering
    from batchcost.tokens.encodings import token_counter
    from batchcost.tokens.models import resolve_model

    zero = rendering.Rendering(0, 0, 0, 0, 0, 0, 0)
    chosen = [p for p in pairs if p.provider == "openai" and p.endpoint in ("/v1/chat/completions", "/v1/responses")
              and not set(p.constructs) & {"image", "file"}]
    with mock.patch.object(counting, "rendering", lambda *a: zero):
        count_pairs(chosen)
    out = []
    for key, prefixes in FIT_FAMILIES.items():
        entry = {}
        for endpoint in ("/v1/chat/completions", "/v1/responses"):
            rows = []
            for p in chosen:
                family = family_of(p)
                if p.endpoint != endpoint or p.counted is None:
                    continue
                encoding = resolve_model(p.model).encoding
                if not (family.startswith(prefixes) if prefixes else encoding == "cl100k_base"):
                    continue
                body = p._body  # type: ignore[attr-defined]
                count = token_counter(encoding)
                tools = [t.get("function", t) for t in body.get("tools") or body.get("functions") or []
                         if isinstance(t, dict) and t.get("type", "function") == "function"]
                text = count(rendering.typescript(tools)) if tools else 0
                schema = _schema_of(body)
                schema_tokens = count(json.dumps(schema, ensure_ascii=False, separators=(",", ":"))) \
                    if schema is not None else 0
                items = body.get("messages") if endpoint.endswith("completions") else body.get("input")
                calls = 0
                for m in items if isinstance(items, list) else ():
                    if isinstance(m, dict):
                        calls += len(m.get("tool_calls") or ()) + (m.get("type") == "function_call") \
                            + ("function_call" in m)
                strict = sum(1 for t in tools if t.get("strict") is True)
                x = [1.0 if tools else 0.0, len(tools), strict, calls, 1.0 if schema is not None else 0.0,
                     schema_tokens]
                if not (tools or calls or schema is not None):
                    continue
                rows.append((p.billed - p.counted, x, len(tools) + calls + (schema is not None),
                             0.05 * (text + schema_tokens)))
            if len(rows) < 4:
                continue
            y = np.array([r[0] for r in rows], float)
            x = np.array([r[1] for r in rows], float)
            used = [i for i in range(x.shape[1]) if x[:, i].any()]
            coef = np.zeros(x.shape[1])
            coef[used] = np.linalg.lstsq(x[:, used], y, rcond=None)[0]
            if not x[:, 5].any():
                coef[5] = 1.0
            rounded = np.round(coef, 2)
            central = np.array([sum(round(v) for v in (rounded[0] + rounded[1] * r[1][1] + rounded[2] * r[1][2],))
                                + round(rounded[3]) * r[1][3]
                                + (round(rounded[4] + rounded[5] * r[1][5]) if r[1][4] else 0) for r in rows])
            residual = np.abs(y - central)
            need = sorted(max(0.0, (res - 2 - r[3]) / r[2]) if r[2] else (0.0 if res <= 2 else math.inf)
                          for res, r in zip(residual, rows))
            slack = need[min(len(need) - 1, math.ceil(coverage * len(need)) - 1)]
            slack = min(max(math.ceil(slack), 3 if len(rows) >= 30 else 15), 60)  # few pairs: a wider floor
            name = endpoint.rsplit("/", 1)[-1]
            entry[name] = dict(zip(("tools", "function", "strict", "call", "schema", "schema_ratio"),
                                   (float(v) for v in rounded)), slack=slack)
            inside = sum(1 for res, r in zip(residual, rows) if res <= math.ceil(2 + slack * r[2] + r[3]))
            print(f"# {key} {name}: {len(rows)} pairs, {inside} inside the band", file=sys.stderr)
        for name in FIT_KEYS.get(key, [key]):
            if entry:
                out.append(f"  {name}:")
                for endpoint_name, spec in entry.items():
                    fields = ", ".join(f"{k}: {v:g}" for k, v in spec.items())
                    out.append(f"    {endpoint_name}: {{{fields}}}")
    return "\n".join(out)


CLAUDE_GROUPS = {"claude_3": ("claude-3-haiku", "claude-3-opus", "claude-3-5-", "claude-3-sonnet"),
                 "claude_4": ("claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4"),
                 "claude_45": ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-sonnet-4-6",
                               "claude-opus-4-6", "claude-opus-4-7", "claude-sonnet-4-7")}
CLAUDE_CONSTRUCTS = ("tools", "per_tool", "forced", "thinking", "format", "tool_use", "tool_result")


def claude_group(family: str) -> str | None:
    """The claude_constructs entry a family's constants are fitted in, by its version: 3.x (3.7 behaves as 4),
    4 and 4.1, then 4.5 and later (the newest data; later models take these until they have their own)."""
    m = re.match(r"claude-(?:(\d)-(?:(\d)-)?[a-z]+|[a-z]+-(\d)(?:-(\d))?)(?:-|$)", family)
    if not m:
        return None
    major = int(m.group(1) or m.group(3))
    minor = int(m.group(2) or m.group(4) or 0)
    version = major + minor / 10
    if version < 3.7:
        return "claude_3"
    return "claude_4" if version < 4.5 else "claude_45"


def claude_features(body: dict) -> list[float]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
    fmt = body.get("output_format") or (body.get("output_config") or {}).get("format")
    uses = results = 0
    for message in body.get("messages") or ():
        for block in message.get("content") if isinstance(message.get("content"), list) else ():
            if isinstance(block, dict):
                uses += block.get("type") == "tool_use"
                results += block.get("type") == "tool_result"
    return [1.0 if tools else 0.0, float(len(tools)), 1.0 if tools and choice.get("type") in ("any", "tool") else 0.0,
            1.0 if thinking.get("type") in ("enabled", "adaptive") else 0.0,
            1.0 if isinstance(fmt, dict) and fmt.get("schema") is not None else 0.0, float(uses), float(results)]


def fit_claude(pairs: list[Pair], coverage: float = 0.97) -> str:
    """Fit claude_constructs (models.yaml): the tokens each construct adds beyond the counter's structure and text,
    per generation, by least squares; then the slack per construct that puts ``coverage`` of the pairs with
    constructs inside the band."""
    import math
    from dataclasses import replace

    import numpy as np

    from batchcost.providers.anthropic.counting import ClaudeCounter
    from batchcost.tokens.models import resolve_model

    rows: dict[str, list] = defaultdict(list)
    for p in pairs:
        if p.provider != "anthropic":
            continue
        try:
            info = resolve_model(p.model)
        except Exception:
            continue
        group = claude_group(info.name)
        if group is None:
            continue
        got = ClaudeCounter(replace(info, constructs=None)).count("/v1/messages", p._body)  # type: ignore[attr-defined]
        rows[group].append((p.billed, got.input_tokens, got.low, got.high, claude_features(p._body)))  # type: ignore
    out = ["claude_constructs:"]
    for group, data in rows.items():
        y = np.array([r[0] - r[1] for r in data], float)
        x = np.array([r[4] for r in data], float)
        used = [i for i in range(x.shape[1]) if x[:, i].any()]
        coef = np.zeros(x.shape[1])
        coef[used] = np.linalg.lstsq(x[:, used], y, rcond=None)[0]
        coef = np.round(coef, 1)
        need = []
        for (billed, _central, low, high, feats) in data:
            n = sum(feats[i] for i in (1, 3, 4, 5, 6))  # tools count per tool; the rest once each
            if not n:
                continue
            add = sum(round(c * f) for c, f in zip(coef, feats))
            lo, hi = low + add, high + add
            gap = max(0, lo - billed, billed - hi)
            need.append(gap / n)
        need.sort()
        slack = math.ceil(need[min(len(need) - 1, math.ceil(coverage * len(need)) - 1)]) if need else 0
        fields = ", ".join(f"{name}: {value:g}" for name, value in zip(CLAUDE_CONSTRUCTS, coef) if value)
        out.append(f"  {group}: {{{fields}, slack: {max(slack, 5)}}}")
        print(f"# {group}: {len(data)} pairs, {len(need)} with constructs", file=sys.stderr)
    return "\n".join(out)


def _schema_of(body: dict):
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        return fmt["json_schema"].get("schema", fmt["json_schema"])
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema")
    return None


def request_texts(body) -> list[str]:
    """The texts of a request's messages, whatever the provider's shape (strings at any depth under a message's
    content or parts), longest-first order kept as found."""
    found: list[str] = []

    def walk(value, key=""):
        if isinstance(value, str):
            if key in ("content", "text", "input", "prompt", "system") and value.strip():
                found.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                if k not in ("inline_data", "inlineData", "image_url", "source", "data"):
                    walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)

    walk(body)
    return found


def vocabulary_spread(pairs: list[Pair]) -> str:
    """For each shipped vocabulary (and OpenAI's encodings), the ratio of its count of each real request's texts to
    the proxy vocabulary's: the spread a model with no published vocabulary may have, counted with the proxy."""
    from batchcost.data import load_data
    from batchcost.tokens.encodings import token_counter

    proxy_name = load_data("compatible.yaml")["unknown"]["proxy"]
    proxy = token_counter(proxy_name)
    names = [n for n in ("o200k_base", "cl100k_base", *load_data("encodings.yaml")["vocabularies"]) if n != proxy_name]
    texts = ["\n".join(t) for t in (request_texts(getattr(p, "_body", {})) for p in pairs) if t]
    base = [proxy(t) for t in texts]
    lines = [f"{len(texts)} requests' texts, each vocabulary's count / {proxy_name}'s:",
             "| vocabulary | p1 | p2.5 | median | p97.5 | p99 |", "|---|---:|---:|---:|---:|---:|"]
    for name in names:
        count = token_counter(name)
        ratios = sorted(count(t) / b for t, b in zip(texts, base) if b >= 20)
        at = [ratios[min(len(ratios) - 1, int(q * len(ratios)))] for q in (0.01, 0.025, 0.5, 0.975, 0.99)]
        lines.append(f"| {name} | " + " | ".join(f"{r:.3f}" for r in at) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DATA, help="folder of real pairs (default: %(default)s)")
    parser.add_argument("--by", choices=("construct", "model"), default="construct")
    parser.add_argument("--provider", action="append", help="only these providers")
    parser.add_argument("--construct", action="append", help="only pairs with these constructs")
    parser.add_argument("--misses", type=int, default=0, help="list this many pairs that are wrong, worst first")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--fit", action="store_true", help="fit OpenAI's rendering constants (models.yaml)")
    parser.add_argument("--vocabularies", action="store_true",
                        help="how far each shipped vocabulary's counts are from the proxy's (compatible.yaml unknown)")
    args = parser.parse_args(argv)

    pairs, left_out = load_pairs(args.data)
    if args.vocabularies:
        print(vocabulary_spread(pairs))
        return 0
    if args.fit:
        print(fit_renderings(pairs))
        print(fit_claude(pairs))
        return 0
    if args.provider:
        pairs = [p for p in pairs if p.provider in args.provider]
    if args.construct:
        pairs = [p for p in pairs if set(args.construct) & set(p.constructs)]
    count_pairs(pairs)
    if args.format == "json":
        for pair in pairs:
            record = asdict(pair)
            record["right"] = pair.right
            print(json.dumps(record))
        return 0
    print(table(summarise(pairs, args.by)))
    print()
    print("left out: " + ", ".join(f"{reason} {n}" for reason, n in sorted(left_out.items())))
    if args.misses:
        wrong = [p for p in pairs if not p.right]
        wrong.sort(key=lambda p: -abs((p.counted or 0) - p.billed) / max(p.billed, 1))
        print()
        for pair in wrong[:args.misses]:
            band = f" [{pair.low}, {pair.high}]" if pair.low is not None else ""
            print(f"{pair.provider} {pair.model} {pair.endpoint} billed {pair.billed} counted {pair.counted}{band} "
                  f"{pair.basis} {','.join(pair.constructs)} {pair.error} :: {pair.source}/{pair.id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
