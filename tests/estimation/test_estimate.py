"""The estimate against hand-computed Decimal totals, and the budget gate."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batchcost.estimation.estimate import estimate_plan
from batchcost.estimation.forecast import OutputForecast
from batchcost.pricing import load_prices
from tests.pricing.test_pricing import TEST_PRICES
from tests.providers.openai.test_counting import COOKBOOK_MESSAGES


@pytest.fixture
def prices_path(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(TEST_PRICES.format(date="2026-11-20"))
    return path


@pytest.fixture
def chat_plan(write_plan):
    # gpt-4o-mini: 124 input tokens each (cookbook, API-reported); bounds 100, 50 x n=2, none
    return write_plan([
        {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini", "messages": COOKBOOK_MESSAGES, "max_tokens": 100}},
        {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini-2024-07-18", "messages": COOKBOOK_MESSAGES, "max_tokens": 50, "n": 2}},
        {"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o-mini", "messages": COOKBOOK_MESSAGES}},
    ])


def test_hand_computed_totals_at_max(chat_plan, prices_path, monkeypatch):
    monkeypatch.delenv("BATCHCOST_PRICES", raising=False)
    e = estimate_plan(chat_plan, load_prices([prices_path]))
    assert e.input_tokens == 3 * 124
    # high: 100 + 2 x 50 + the model's max output 16,384 (request c sets no bound)
    assert e.output_tokens == {"low": 0, "expected": 16_584, "high": 16_584, "basis": "max"}
    # realtime: 372 x 0.15 + 16,584 x 0.60 = 55.8 + 9,950.4 = 10,006.2 per 1M
    assert e.cost["realtime"]["high"] == Decimal("0.0100062")
    assert e.cost["realtime"]["low"] == Decimal("0.0000558")
    # batch: 372 x 0.075 + 16,584 x 0.30 = 27.9 + 4,975.2 = 5,003.1 per 1M
    assert e.cost["batch"]["expected"] == Decimal("0.0050031")
    assert e.savings == Decimal("0.0050031")
    d = e.as_dict()
    assert d["cost"]["batch"] == {"low": "0.0000279", "expected": "0.0050031", "high": "0.0050031"}
    assert d["plan"]["requests"] == 3 and d["plan"]["models"] == ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    assert len(d["plan"]["sha256"]) == 64 and d["currency"] == "USD"


def test_fixed_output_forecast_capped_by_bound(chat_plan, prices_path):
    e = estimate_plan(chat_plan, load_prices([prices_path]), forecast=OutputForecast.parse("60"))
    # a: min(60, 100) = 60; b: min(60, 100) = 60; c: min(60, 16384) = 60
    assert e.output_tokens["expected"] == 180 and e.output_tokens["high"] == 16_584
    assert e.output_tokens["basis"] == "fixed" and e.output_tokens["per_request"] == 60


def test_embeddings_estimate_is_exact(write_plan, prices_path):
    plan = write_plan([{"custom_id": f"d{i}", "method": "POST", "url": "/v1/embeddings",
                        "body": {"model": "text-embedding-3-small", "input": ["hello world"] * 5}} for i in range(4)])
    e = estimate_plan(plan, load_prices([prices_path]))
    assert e.input_tokens == 4 * 5 * 2
    assert e.cost["realtime"]["low"] == e.cost["realtime"]["high"] == Decimal("0.0000008")  # 40 x 0.02 / 1M
    assert e.cost["batch"]["expected"] == Decimal("0.0000004")


def test_long_context_requests_priced_at_long_rates(write_plan, tmp_path):
    prices = tmp_path / "lc.yaml"
    prices.write_text("currency: USD\nsource: t\nchecked_on: 2026-11-20\nmodels:\n  gpt-5.4:\n    input: 1\n"
                      "    output: 10\n    long_context: {above_input_tokens: 10, input_multiplier: 2, "
                      "output_multiplier: 1.5}\n")
    short = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 10}
    long = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "hello " * 20}], "max_completion_tokens": 10}
    plan = write_plan([{"custom_id": "s", "method": "POST", "url": "/v1/chat/completions", "body": short},
                       {"custom_id": "l", "method": "POST", "url": "/v1/chat/completions", "body": long}])
    e = estimate_plan(plan, load_prices([prices]))
    from batchcost import count_request

    s, l_ = count_request(short).input_tokens, count_request(long).input_tokens
    assert s <= 10 < l_
    expected = (Decimal(s) * 1 + Decimal(10) * 10 + Decimal(l_) * 2 + Decimal(10) * 15) / 1_000_000
    assert e.cost["realtime"]["high"] == expected
    assert any("long-context" in w for w in e.warnings)


def test_unpriced_model_is_an_error(write_plan, tmp_path, cli):
    plan = write_plan([{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions",
                        "body": {"model": "acme-1", "messages": [{"role": "user", "content": "hi"}]}}])
    out = cli("estimate", plan, "--encoding", "o200k_base")
    assert out.returncode == 1 and "no price for model 'acme-1'" in out.stderr


def test_budget_gate(cli, chat_plan, prices_path):
    over = cli("estimate", chat_plan, "--prices", prices_path, "--budget", "0.005")
    assert over.returncode == 3
    assert "exceeds the budget" in over.stderr and "Traceback" not in over.stderr
    under = cli("estimate", chat_plan, "--prices", prices_path, "--budget", "0.0051")
    assert under.returncode == 0 and "fits" in under.stdout
    on_expected = cli("estimate", chat_plan, "--prices", prices_path, "--output-tokens", "10",
                      "--budget", "0.001", "--budget-on", "expected")
    assert on_expected.returncode == 0
    bad = cli("estimate", chat_plan, "--budget", "lots")
    assert bad.returncode == 2


def test_json_output_contract(cli, chat_plan, prices_path):
    out = cli("estimate", chat_plan, "--prices", prices_path, "--format", "json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert set(d) >= {"plan", "input_tokens", "output_tokens", "cost", "savings", "currency", "by_model", "prices",
                      "warnings"}
    assert d["cost"]["realtime"]["expected"] == "0.0100062"
    assert d["prices"] == [{"path": str(prices_path), "source": "test", "checked_on": "2026-11-20"}]
    # by_model sums to the total, exactly
    total = sum(Decimal(m["cost"]["batch"]["high"]) for m in d["by_model"])
    assert total == Decimal(d["cost"]["batch"]["high"])


def test_stale_prices_warn_in_every_estimate(cli, chat_plan, tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(TEST_PRICES.format(date="2025-01-01"))
    d = json.loads(cli("estimate", chat_plan, "--prices", old, "-f", "json").stdout)
    assert any("checked on 2025-01-01" in w for w in d["warnings"])


def test_bundled_example_table(cli):
    out = cli("estimate", "examples/reviews_sentiment.jsonl")
    assert out.returncode == 0
    for word in ("real-time cost", "batch cost", "batch saves", "expected", "high"):
        assert word in out.stdout
