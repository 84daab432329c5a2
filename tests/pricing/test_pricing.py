"""Price tables: exact decimals, overrides, resolution, and clear errors with file and line."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from batchcost.pricing import MissingPrice, PriceFileError, load_prices, money, price_tokens
from batchcost.pricing.cost import display_money
from batchcost.pricing.tables import load_price_file

TEST_PRICES = """\
currency: USD
source: test
checked_on: {date}
batch_discount: 0.5
models:
  gpt-4o-mini:
    aliases: [gpt-4o-mini-2024-07-18]
    input: 0.15
    cached_input: 0.075
    output: 0.60
    batch: {{input: 0.075, cached_input: 0.0375, output: 0.30}}
  gpt-4.1-nano:
    input: 0.1
    output: 0.4
  text-embedding-3-small:
    input: 0.02
    flex: {{input: 0.01}}
    scale_tier: {{input: 0.02}}
"""


@pytest.fixture
def price_file(tmp_path):
    def write(text=None, name="prices.yaml", date=None):
        path = tmp_path / name
        path.write_text(text if text is not None else TEST_PRICES.format(date=date or dt.date.today().isoformat()))
        return path

    return write


def test_prices_are_exact_decimals(price_file):
    _, prices = load_price_file(price_file())
    p = prices["gpt-4.1-nano"]
    assert p.realtime.input == Decimal("0.1") and isinstance(p.realtime.input, Decimal)
    # no batch block: batch_discount 0.5 applies, exactly
    assert p.batch.input == Decimal("0.05") and p.batch.output == Decimal("0.2")
    # 0.1 as a float would give 0.1000000000000000055511151231257827
    assert str(price_tokens(p, "realtime", input_tokens=3, output_tokens=0)) == "3E-7"
    assert money(price_tokens(p, "realtime", input_tokens=3)) == "0.0000003"


def test_cost_function_hand_computed(price_file):
    _, prices = load_price_file(price_file())
    p = prices["gpt-4o-mini"]
    # 1,000,000 input of which 200,000 cached, 500,000 output, real time:
    # 800,000 x 0.15 + 200,000 x 0.075 + 500,000 x 0.60 = 0.12 + 0.015 + 0.30 = 0.435
    assert price_tokens(p, "realtime", input_tokens=1_000_000, cached_input_tokens=200_000,
                        output_tokens=500_000) == Decimal("0.435")
    # batch: 0.06 + 0.0075 + 0.15
    assert price_tokens(p, "batch", input_tokens=1_000_000, cached_input_tokens=200_000,
                        output_tokens=500_000) == Decimal("0.2175")


def test_missing_cached_rate_bills_cached_tokens_at_input_rate(price_file):
    _, prices = load_price_file(price_file())
    p = prices["gpt-4.1-nano"]
    assert price_tokens(p, "realtime", input_tokens=100, cached_input_tokens=100) == \
        price_tokens(p, "realtime", input_tokens=100)


def test_output_without_price_is_an_error_not_zero(price_file):
    _, prices = load_price_file(price_file())
    with pytest.raises(MissingPrice, match="no output price"):
        price_tokens(prices["text-embedding-3-small"], "batch", input_tokens=1, output_tokens=1)


def test_unknown_fields_are_kept(price_file):
    _, prices = load_price_file(price_file())
    assert prices["text-embedding-3-small"].extra["scale_tier"] == {"input": Decimal("0.02")}
    # flex is no longer unknown: it is a tier of its own, priced only where the file prices it
    assert prices["text-embedding-3-small"].flex.input == Decimal("0.01") and "flex" not in \
        prices["text-embedding-3-small"].extra


def test_resolution_alias_snapshot_and_missing(price_file, monkeypatch):
    monkeypatch.delenv("BATCHCOST_PRICES", raising=False)
    table = load_prices([price_file()])
    assert table.lookup("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    assert table.lookup("gpt-4.1-nano-2025-04-14").model == "gpt-4.1-nano"
    with pytest.raises(MissingPrice, match="closest priced: gpt-4o-mini"):
        table.lookup("gpt-4o-mimi")


def test_later_files_override_earlier_ones_model_by_model(price_file, monkeypatch):
    env = price_file(TEST_PRICES.format(date="2026-11-01").replace("input: 0.15", "input: 0.14"), name="env.yaml")
    cli = price_file(TEST_PRICES.format(date="2026-11-01").replace("input: 0.1\n", "input: 0.09\n"), name="cli.yaml")
    monkeypatch.setenv("BATCHCOST_PRICES", str(env))
    table = load_prices([cli])
    # cli.yaml came last and redefines every model it lists, so its gpt-4o-mini (0.15) wins over env's 0.14
    assert table.lookup("gpt-4o-mini").realtime.input == Decimal("0.15")
    assert table.lookup("gpt-4.1-nano").realtime.input == Decimal("0.09")
    # models neither file lists still come from the bundled table
    assert table.lookup("gpt-5").path == "bundled:openai.yaml"
    only_env = load_prices([])
    assert only_env.lookup("gpt-4o-mini").realtime.input == Decimal("0.14")


@pytest.mark.parametrize("text, line, message", [
    ("currency: USD\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  m: {input: 0.1, output: [1\n", 6, "invalid YAML"),
    ("- just\n- a list\n", 1, "must be a YAML mapping"),
    ("currency: USD\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  m:\n    input: -0.1\n", 6, "non-negative"),
    ("currency: USD\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  m:\n    input: 0.1\n    output: cheap\n", 7,
     "must be a number"),
    ("currency: USD\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  m:\n    output: 0.1\n", 5, "input is missing"),
    ("currency: USD\nsource: x\nchecked_on: soon\nmodels:\n  m: {input: 1}\n", 3, "checked_on must be a date"),
    ("currency: EUR\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  m: {input: 1}\n", 1, "USD only"),
])
def test_broken_price_files_name_file_and_line(price_file, text, line, message):
    path = price_file(text)
    with pytest.raises(PriceFileError, match=message) as info:
        load_price_file(path)
    assert info.value.path == str(path) and info.value.line == line
    assert info.value.one_line().startswith(f"{path}:{line}: ")


def test_missing_required_field(price_file):
    with pytest.raises(PriceFileError, match="'checked_on' is missing"):
        load_price_file(price_file("currency: USD\nsource: x\nmodels: {m: {input: 1}}\n"))


def test_stale_prices(price_file, cli):
    old = price_file(date="2025-01-01")
    result = cli("prices", "check", "--prices", old, "--today", "2026-12-01")
    assert result.returncode == 1 and "STALE" in result.stdout
    # as of a fixed day, so the test does not turn red when the bundled tables age
    fresh = cli("prices", "check", "--prices", price_file(name="fresh.yaml"), "--today", "2026-12-01")
    assert fresh.returncode == 0, fresh.stdout


def test_bundled_table_covers_the_registry_chat_models():
    from batchcost.tokens.models import registry

    table = load_prices([], use_env=False)
    for name in registry():
        table.lookup(name)  # every model we can count, we can price


def test_display_rounding_only():
    assert display_money(Decimal("1234.5678")) == "$1,234.57"
    assert display_money(Decimal("0.00014175")) == "$0.0001418"
    assert display_money(Decimal("0")) == "$0.00"
    assert money(Decimal("0.00014175")) == "0.00014175"
