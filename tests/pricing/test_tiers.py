"""Every tier side by side (standard, batch, flex, priority) and every token class, never another tier's price."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batchcost.pricing.cost import price_tokens
from batchcost.pricing.tables import MissingPrice, TierNotOffered, parse_price_text

TABLE = """currency: USD
source: test table
checked_on: 2026-11-20
models:
  gpt-4o-mini:
    input: 0.15
    cached_input: 0.075
    output: 0.6
    batch: {input: 0.075, output: 0.3}
    priority: {input: 0.25, cached_input: 0.125, output: 1}
  gpt-4o:
    input: 2.5
    output: 10
    flex: {input: 1.25, cached_input: 0.625, output: 5}
  claude-like:
    input: 3
    cached_input: 0.3
    cache_write: 3.75
    cache_write_1h: 6
    output: 15
"""
LINE = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}}


@pytest.fixture
def table():
    return parse_price_text(TABLE, "t.yaml")[1]


def test_a_tier_the_file_does_not_price_is_not_offered(table):
    mini, big = table["gpt-4o-mini"], table["gpt-4o"]
    assert mini.offers("priority") and not mini.offers("flex")
    assert big.offers("flex") and not big.offers("priority")
    with pytest.raises(TierNotOffered, match="not offered at the flex tier"):
        price_tokens(mini, "flex", input_tokens=10)
    with pytest.raises(ValueError, match="unknown tier"):
        mini.rates("turbo")
    # batch still falls back to the file's batch_discount (documented); flex and priority never do
    assert big.rates("batch").input == Decimal("1.25")


def test_each_class_at_each_tier_is_exact(table):
    mini = table["gpt-4o-mini"]
    # priority: 1,000 input of which 400 cached, 200 output: (600 x 0.25 + 400 x 0.125 + 200 x 1) / 1M
    assert price_tokens(mini, "priority", input_tokens=1000, cached_input_tokens=400, output_tokens=200) == \
        Decimal("0.0004")
    assert price_tokens(mini, "standard", input_tokens=1000, output_tokens=200) == Decimal("0.00027")
    claude = table["claude-like"]
    # 10,000 input: 1,000 cache reads, 2,000 5-minute writes, 500 1-hour writes, 6,500 plain; 100 output
    cost = price_tokens(claude, "standard", input_tokens=10_000, cached_input_tokens=1_000,
                        cache_write_tokens=2_000, cache_write_1h_tokens=500, output_tokens=100)
    assert cost == (Decimal(6500) * 3 + 1000 * Decimal("0.3") + 2000 * Decimal("3.75") + 500 * 6 + 100 * 15) / 10**6
    with pytest.raises(MissingPrice, match="no cache_write price"):
        price_tokens(mini, "standard", input_tokens=100, cache_write_tokens=10)
    with pytest.raises(ValueError):
        price_tokens(claude, "standard", input_tokens=100, cached_input_tokens=60, cache_write_tokens=60)


def test_estimate_tiers_side_by_side_in_the_json(tmp_path, cli):
    plan, prices = tmp_path / "plan.jsonl", tmp_path / "t.yaml"
    plan.write_text(json.dumps(LINE) + "\n")
    prices.write_text(TABLE)
    out = cli("estimate", plan, "--prices", prices, "--tiers", "standard,batch,flex,priority", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    tokens = doc["input_tokens"]
    per_million = Decimal(10) ** 6
    assert Decimal(doc["cost"]["priority"]["high"]) == (tokens * Decimal("0.25") + 10 * 1) / per_million
    assert Decimal(doc["cost"]["priority"]["low"]) == tokens * Decimal("0.25") / per_million
    assert Decimal(doc["cost"]["batch"]["high"]) == (tokens * Decimal("0.075") + 10 * Decimal("0.3")) / per_million
    assert doc["cost"]["flex"] is None and doc["by_model"][0]["cost"]["flex"] is None
    assert any("not offered at the flex tier" in w for w in doc["warnings"])
    assert list(doc["cost"]) == ["realtime", "batch", "flex", "priority"]


def test_a_plan_with_one_model_lacking_a_tier_has_no_total_there(tmp_path, cli):
    plan, prices = tmp_path / "plan.jsonl", tmp_path / "t.yaml"
    plan.write_text(json.dumps(LINE) + "\n" + json.dumps({**LINE, "custom_id": "r2", "body": {
        **LINE["body"], "model": "gpt-4o"}}) + "\n")
    prices.write_text(TABLE)
    out = cli("estimate", plan, "--prices", prices, "--tiers", "flex", "--format", "json")
    doc = json.loads(out.stdout)
    by_model = {m["model"]: m["cost"] for m in doc["by_model"]}
    assert by_model["gpt-4o"]["flex"] is not None and by_model["gpt-4o-mini"]["flex"] is None
    assert doc["cost"]["flex"] is None  # never a partial total that silently leaves a model out


def test_every_engine_prices_the_tiers_alike(tmp_path, cli):
    plan, prices = tmp_path / "plan.jsonl", tmp_path / "t.yaml"
    plan.write_text("".join(json.dumps({**LINE, "custom_id": f"r{i}"}) + "\n" for i in range(40)))
    prices.write_text(TABLE)
    runs = [json.loads(cli("estimate", plan, "--prices", prices, "--tiers", "priority", "--format", "json", *extra)
                       .stdout)["cost"] for extra in ([], ["--jobs", "2"])]
    assert runs[0] == runs[1] and runs[0]["priority"] is not None


def test_the_table_says_not_offered_and_names_the_cheapest_tier(tmp_path, cli):
    plan, prices = tmp_path / "plan.jsonl", tmp_path / "t.yaml"
    plan.write_text(json.dumps(LINE) + "\n")
    prices.write_text(TABLE)
    out = cli("estimate", plan, "--prices", prices, "--tiers", "flex,priority", env={"COLUMNS": "120"})
    assert out.returncode == 0, out.stderr
    assert "not offered" in out.stdout and "priority cost" in out.stdout
    assert "Cheapest tier for this plan: batch" in out.stdout and "within 24 hours" in out.stdout


@pytest.mark.parametrize("args, message", [(["--tiers", "turbo"], "--tiers takes standard, batch, flex"),
                                           (["--tiers", "flex", "--sample", "5"], "drop --sample")])
def test_tier_options_are_checked(tmp_path, cli, args, message):
    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps(LINE) + "\n")
    out = cli("estimate", plan, *args)
    assert out.returncode == 2 and message in out.stderr


def test_prices_show_lists_every_tier_and_class_with_its_source(tmp_path, cli):
    prices = tmp_path / "t.yaml"
    prices.write_text(TABLE)
    doc = json.loads(cli("prices", "show", "claude-like", "--prices", prices, "--format", "json").stdout)
    assert doc["tiers"]["standard"] == {"input": "3", "cached_input": "0.3", "cache_write": "3.75",
                                        "cache_write_1h": "6", "output": "15"}
    assert doc["tiers"]["flex"] is None and doc["tiers"]["priority"] is None
    assert doc["tiers"]["batch"]["cache_write"] == "1.875"  # the file's batch_discount (0.5) applies to every class
    assert doc["source"] == {"file": str(prices), "source": "test table", "checked_on": "2026-11-20"}
    listed = json.loads(cli("prices", "list", "--prices", prices, "--format", "json").stdout)
    assert {"gpt-4o-mini", "gpt-4o", "claude-like"} <= {m["model"] for m in listed}
    text = cli("prices", "show", "gpt-4o-mini", "--prices", prices).stdout
    assert "flex: not offered" in text and "priority: input 0.25" in text


def test_the_report_shows_every_tier_and_the_tier_to_choose(tmp_path, cli):
    plan, prices = tmp_path / "plan.jsonl", tmp_path / "t.yaml"
    plan.write_text(json.dumps(LINE) + "\n")
    prices.write_text(TABLE)
    out = cli("report", plan, "--prices", prices, "--tiers", "flex,priority", "--out", tmp_path / "rep")
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| Priority cost |" in md and "| Flex cost | — | — | — |" in md
    assert "Cheapest tier for this plan: batch" in md and "within 24 hours" in md
    assert "Not offered for this plan: flex" in md
    assert "Cheapest tier for this plan: batch" in (tmp_path / "rep" / "report.html").read_text()
    doc = json.loads((tmp_path / "rep" / "estimate.json").read_text())
    assert doc["cost"]["flex"] is None and doc["cost"]["priority"] is not None
    assert (tmp_path / "rep" / "charts" / "cost.png").stat().st_size > 1000
