"""The fast paths give exactly the general path's numbers.

- ``token_counter`` (token counts read from tiktoken's token buffer) equals ``len(encode_ordinary(text))``.
- ``tally_plan_lines`` (plain chat requests summed in one loop, no objects per line) equals the general path
  (``read_plan`` -> ``count_line`` -> ``_Adder.add``) on a plan that mixes everything, under every forecast.
"""
from __future__ import annotations

import hashlib
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchcost.estimation import tally as tally_module
from batchcost.estimation.estimate import estimate_lines, estimate_plan
from batchcost.estimation.forecast import OutputForecast
from batchcost.estimation.parallel import estimate_in_parts
from batchcost.plans.counts import PlanCounter
from batchcost.plans.reader import read_plan
from batchcost.pricing import load_prices
from batchcost.tokens.encodings import BUFFER_FROM_CHARS, get_encoding, token_counter

ENCODINGS = ["o200k_base", "cl100k_base"]
TRICKY = [
    "", "a", "hello world", "<|endoftext|>", "say <|endoftext|> and <|fim_prefix|> as text " * 20,
    "ünïcode 日本語 🙂🙂 " * 40, "   leading and trailing spaces   " * 15, "\n\n\t\r\n" * 100, "x" * 5000,
    "lone \ud800 surrogate " * 30, "lone \udfff" * 3, "🙂" * 300, "1234567890" * 50,
]


@pytest.mark.parametrize("name", ENCODINGS)
def test_token_counter_equals_encode_ordinary(name):
    enc, count = get_encoding(name), token_counter(name)
    for text in TRICKY:
        assert count(text) == len(enc.encode_ordinary(text)), text[:40]
    assert any(len(t) >= BUFFER_FROM_CHARS for t in TRICKY) and any(len(t) < BUFFER_FROM_CHARS for t in TRICKY)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=()), min_size=150, max_size=400), st.sampled_from(ENCODINGS))
def test_token_counter_matches_on_any_text(text, name):
    # min_size 150 so both sides of BUFFER_FROM_CHARS are drawn; any code point, lone surrogates included
    assert token_counter(name)(text) == len(get_encoding(name).encode_ordinary(text))


PRICES_YAML = """\
currency: USD
source: test
checked_on: 2026-11-26
batch_discount: 0.5
models:
  gpt-4o-mini: {input: 0.15, output: 0.60,
                long_context: {above_input_tokens: 60, input_multiplier: 2, output_multiplier: 1.5}}
  my-model: {input: 1.00, output: 2.00}
"""
SYSTEM_LONG = "You follow the house style guide, every rule of it. " * 120  # > 1,024 tokens: a cacheable prefix
WORDS = ["alpha", "beta", "ünïcode", "日本", "🙂", "quote\"s", "new\nline", "<|endoftext|>", "tab\tbed"]


def mixed_lines(rng: random.Random, n: int, models=("gpt-4o-mini", "gpt-4.1-nano", "gpt-4o")) -> list:
    lines: list = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 80)))
        body: dict = {"model": rng.choice(models), "messages": [{"role": "user", "content": text}]}
        kind = rng.random()
        if kind < 0.1:
            body["messages"].insert(0, {"role": "system", "content": SYSTEM_LONG})
        elif kind < 0.2:
            body["messages"].insert(0, {"role": "system", "content": "Be brief.", "name": "house"})
        elif kind < 0.25:
            body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        elif kind < 0.28:
            body["n"] = 2
        if rng.random() < 0.7:
            body["max_tokens" if rng.random() < 0.5 else "max_completion_tokens"] = rng.randint(0, 400)
        url = "/v1/chat/completions"
        if rng.random() < 0.05:
            url, body = "/v1/embeddings", {"model": "text-embedding-3-small", "input": text}
        lines.append(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}))
        if rng.random() < 0.03:
            lines.append("   ")  # blank lines are skipped by both paths
    return lines


def general(plan, prices, forecast, encoding=None) -> dict:
    """The general path only: every line parsed, counted into a CountedRequest and added one by one."""
    digest = hashlib.sha256()
    result = estimate_lines(read_plan(plan, digest=digest), prices, source=plan, plan={"path": str(plan)},
                            forecast=forecast, encoding=encoding).as_dict()
    result["plan"]["sha256"] = digest.hexdigest()
    return result


@pytest.fixture
def prices(tmp_path):
    extra = tmp_path / "prices.yaml"
    extra.write_text(PRICES_YAML)
    return load_prices([extra])


@pytest.mark.parametrize("forecast", ["max", "37", "calibrated"])
def test_fast_path_equals_the_general_path(write_plan, prices, forecast, monkeypatch):
    lines = mixed_lines(random.Random(11), 900)
    lines[0] = "\ufeff" + lines[0]  # a BOM on line 1
    plan = write_plan(lines)
    plan.write_bytes(plan.read_bytes().replace(b"\n", b"\r\n", 40))  # some CRLF endings
    from batchcost.lifecycle.calibration import Calibration

    spec = OutputForecast.parse(forecast, Calibration)
    slow = general(plan, prices, spec)

    counted = []
    original = PlanCounter.count_line
    monkeypatch.setattr(PlanCounter, "count_line", lambda self, item, path: counted.append(1) or original(
        self, item, path))
    fast = estimate_plan(plan, prices, forecast=OutputForecast.parse(forecast, Calibration)).as_dict()
    assert fast == slow
    assert slow["warnings"] and any("long-context" in w for w in slow["warnings"])  # the threshold was crossed
    assert slow["cache"]["cached_input_tokens"]["high"] > 0  # cacheable prefixes were tracked
    if forecast == "calibrated":
        assert len(counted) == 900  # calibrated forecasts look at every request: no fast path
    else:
        assert len(counted) < 400, len(counted)  # most lines took the fast path, and still agreed


def test_fast_path_with_an_unbounded_model(write_plan, prices):
    # --encoding for a private model: no known max output, so requests without max_tokens leave high unknown
    rng = random.Random(3)
    lines = mixed_lines(rng, 200, models=("my-model",))
    plan = write_plan([ln for ln in lines if "embeddings" not in ln])
    fast = estimate_plan(plan, prices, encoding="o200k_base").as_dict()
    assert fast == general(plan, prices, OutputForecast(), encoding="o200k_base")
    assert fast["output_tokens"]["high"] is None


def test_parallel_parts_equal_the_general_path(write_plan, prices):
    plan = write_plan(mixed_lines(random.Random(5), 1500))
    parts = estimate_in_parts(plan, prices, forecast=OutputForecast(), jobs=2).as_dict()
    assert parts == general(plan, prices, OutputForecast())


def test_fast_path_reports_progress_for_every_byte(write_plan, prices, monkeypatch):
    monkeypatch.setattr(tally_module, "PROGRESS_EVERY", 4096)
    plan = write_plan(mixed_lines(random.Random(8), 400))
    seen: list[int] = []
    estimate_plan(plan, prices, progress=seen.append)
    assert sum(seen) == plan.stat().st_size and len(seen) > 3
