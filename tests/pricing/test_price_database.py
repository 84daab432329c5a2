"""The price database (genai-prices, offline) behind the YAML tables: figures checked against the providers' own
pricing pages, tiers it has and has not, the documented tier rules, dated history, and provenance."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from batchcost.pricing import database
from batchcost.pricing.cost import price_tokens
from batchcost.pricing.tables import TierNotOffered, load_prices

# Anthropic's pricing page, https://docs.anthropic.com/en/docs/about-claude/pricing (the copy read on 2026-12-01):
# base input, 5-minute cache writes, 1-hour cache writes, cache hits, output; then the batch input and output table.
ANTHROPIC_PAGE = {
    "claude-opus-4-1": ("15", "18.75", "30", "1.50", "75", "7.50", "37.50"),
    "claude-opus-4": ("15", "18.75", "30", "1.50", "75", "7.50", "37.50"),
    "claude-sonnet-4": ("3", "3.75", "6", "0.30", "15", "1.50", "7.50"),
    "claude-3-7-sonnet": ("3", "3.75", "6", "0.30", "15", "1.50", "7.50"),
    "claude-3-5-haiku": ("0.80", "1", "1.6", "0.08", "4", "0.40", "2"),
    "claude-3-haiku": ("0.25", "0.30", "0.50", "0.03", "1.25", "0.125", "0.625"),
}


@pytest.mark.parametrize("model", sorted(ANTHROPIC_PAGE))
def test_anthropic_models_match_the_pricing_page_in_every_class(model):
    price = load_prices([], use_env=False).lookup(model)
    standard, batch = price.rates("standard"), price.rates("batch")
    got = (standard.input, standard.cache_write, standard.cache_write_1h, standard.cached_input, standard.output,
           batch.input, batch.output)
    assert got == tuple(Decimal(x) for x in ANTHROPIC_PAGE[model])
    assert price.path.startswith("database:genai-prices")
    # the batch discount stacks on the cache classes too (the page's "batch pricing" section)
    assert batch.cache_write == standard.cache_write / 2 and batch.cached_input == standard.cached_input / 2


# OpenAI's Priority processing page, https://openai.com/api-priority-processing/ (the copy read on 2026-12-01):
# price per 1M input tokens, cached input tokens and output tokens, excluding long context.
OPENAI_PRIORITY_PAGE = {
    "gpt-5.5": ("12.50", "1.250", "75.00"), "gpt-5.4-mini": ("1.50", "0.150", "9.00"),
    "gpt-5.4": ("5.00", "0.500", "30.00"), "gpt-5.2": ("3.50", "0.350", "28.00"),
    "gpt-5.1": ("2.50", "0.250", "20.00"), "gpt-5": ("2.50", "0.250", "20.00"),
    "gpt-5-mini": ("0.45", "0.045", "3.60"), "gpt-4.1": ("3.50", "0.875", "14.00"),
}


@pytest.mark.parametrize("model", sorted(OPENAI_PRIORITY_PAGE))
def test_openai_priority_rates_match_openais_priority_page(model):
    """The bundled table sets standard and batch; priority comes from the database and must be the page's."""
    price = load_prices([], use_env=False).lookup(model, tiers=("priority",))
    rates = price.rates("priority")
    assert (rates.input, rates.cached_input, rates.output) == tuple(Decimal(x) for x in OPENAI_PRIORITY_PAGE[model])
    assert price.extra["tier_sources"]["priority"] == database.label()
    # and the estimate prices it at exactly those rates: 1,000 input of which 200 cached, 100 output
    expected = (800 * Decimal(OPENAI_PRIORITY_PAGE[model][0]) + 200 * Decimal(OPENAI_PRIORITY_PAGE[model][1])
                + 100 * Decimal(OPENAI_PRIORITY_PAGE[model][2])) / 10**6
    assert price_tokens(price, "priority", input_tokens=1000, cached_input_tokens=200, output_tokens=100) == expected


# Google's pricing page, https://ai.google.dev/gemini-api/docs/pricing, as transcribed verbatim on 2026-10-07 (and
# on 2026-09-20, the same figures) in api-evangelist/deepmind plans/deepmind-plans-pricing.yml: paid-tier input and
# output per 1M tokens, and above 200k prompt tokens where the page has a second row; None where that copy has no
# figure (it keeps a subset of the rows). The page's "Batch API (50% cost reduction)" and Google's launch post
# (developers.googleblog.com, 2025-07-07: "priced at 50% less than the standard rate", input and output) give batch.
GOOGLE_PAGE = {  # model: (input, output, input above 200k, output above 200k)
    "gemini-2.5-pro": ("1.25", None, "2.50", None), "gemini-3.1-pro-preview": ("2.00", "12.00", "4.00", "18.00"),
    "gemini-3.5-flash": ("1.50", "9.00", None, None), "gemini-3.5-flash-lite": ("0.30", "2.50", None, None),
    "gemini-3.8-flash": ("0.75", "3.75", None, None), "gemini-2.5-flash": ("0.30", None, None, None),
    "gemini-2.5-flash-lite": (None, "0.40", None, None), "gemini-embedding-2": ("0.20", None, None, None),
}


@pytest.mark.parametrize("model", sorted(GOOGLE_PAGE))
def test_google_models_match_the_pricing_page_standard_batch_and_long_prompts(model):
    price = load_prices([], use_env=False).lookup(model)
    standard, batch = price.rates("standard"), price.rates("batch")
    page = dict(zip(("input", "output", "long_input", "long_output"), GOOGLE_PAGE[model]))
    for cls in ("input", "output"):
        if page[cls] is not None:
            assert getattr(standard, cls) == Decimal(page[cls]) and getattr(batch, cls) == Decimal(page[cls]) / 2
    if page["long_input"] is not None:  # the whole request is repriced above 200k prompt tokens, in both tiers
        assert price.long_context.above_input_tokens == 200_000
        assert standard.long.input == Decimal(page["long_input"])
        assert batch.long.input == Decimal(page["long_input"]) / 2
        assert price_tokens(price, "batch", input_tokens=200_001, long_context=True) == \
            200_001 * Decimal(page["long_input"]) / 2 / 10**6
        if page["long_output"] is not None:
            assert standard.long.output == Decimal(page["long_output"])
    elif page["input"] is not None:  # one input row on the page: no long-prompt price
        assert price.long_context is None
    assert price.extra["provider"] == "google" and price.path.startswith("database:genai-prices")


def test_gemini_3_8_flash_introductory_price_ends_on_the_day_the_page_says():
    # the page: "$0.75 through December 31, 2026", "$1.50 starting January 1, 2027" (input; output $3.75 / $7.50)
    last, first = database.find("gemini-3.8-flash", dt.date(2026, 12, 31)), database.find("gemini-3.8-flash",
                                                                                         dt.date(2027, 1, 1))
    assert (last.price.realtime.input, last.price.realtime.output) == (Decimal("0.75"), Decimal("3.75"))
    assert (first.price.realtime.input, first.price.realtime.output) == (Decimal("1.50"), Decimal("7.50"))
    assert first.price.batch.input == Decimal("0.75")


def test_google_embedding_batch_is_the_launch_posts_figure():
    # developers.googleblog.com, 2025-09-10: gemini-embedding-001 in the Batch API at "$0.075 per 1M input tokens";
    # the pricing page (2026-10-07) charges file-search embeddings at "$0.15 / 1M tokens", its standard rate
    price = load_prices([], use_env=False).lookup("gemini-embedding-001")
    assert (price.rates("standard").input, price.rates("batch").input) == (Decimal("0.15"), Decimal("0.075"))


def test_google_flex_is_the_documented_half_and_priority_a_range_is_not_offered(cli, tmp_path):
    """Flex: "a 50% cost reduction compared to standard rates" (ai.google.dev/gemini-api/docs/flex-inference);
    priority: "75% to 100% more than standard" (…/docs/optimization), a range, so never priced."""
    table = load_prices([], use_env=False)
    price = table.lookup("gemini-2.5-pro", tiers=("flex", "priority"))
    assert price.rates("flex").input == Decimal("0.625") and price.rates("flex").output == Decimal("5")
    assert price.rates("flex").cached_input == price.rates("standard").cached_input  # not said to be discounted
    assert not price.offers("priority")
    assert any("flex price is derived by google's rule" in n for n in table.notes)
    # an ordinary estimate does not hear about flex at all
    quiet = load_prices([], use_env=False)
    quiet.lookup("gemini-2.5-pro")
    assert not any("flex" in n for n in quiet.notes)


def test_sonnet_long_context_is_the_pages_absolute_rates():
    price = load_prices([], use_env=False).lookup("claude-sonnet-4-5")
    # page: <= 200K input $3 / output $15; > 200K input $6 / output $22.50
    assert price.long_context.above_input_tokens == 200_000
    assert price_tokens(price, "standard", input_tokens=200_000, output_tokens=1_000) == \
        (200_000 * Decimal(3) + 1_000 * 15) / 10**6
    assert price_tokens(price, "standard", input_tokens=200_001, output_tokens=1_000, long_context=True) == \
        (200_001 * Decimal(6) + 1_000 * Decimal("22.5")) / 10**6


def test_a_tier_without_a_variant_or_a_rule_is_not_offered_never_the_standard_price():
    price = load_prices([], use_env=False).lookup("claude-sonnet-4-5")
    assert not price.offers("flex") and not price.offers("priority")
    with pytest.raises(TierNotOffered):
        price_tokens(price, "priority", input_tokens=10)


def test_a_tier_rule_is_applied_and_said_where_the_database_has_no_figure():
    found = database.find("claude-3-haiku")
    assert found.price.batch.input == Decimal("0.125")
    assert any("derived by anthropic's rule" in note and "batch-processing#pricing" in note for note in found.notes)


def test_prices_in_force_on_a_date():
    # the database's gpt-4o-mini priority variant starts on 2026-10-12: before that date it is not offered
    before, after = database.find("gpt-4o-mini", dt.date(2026, 10, 1)), database.find("gpt-4o-mini",
                                                                                      dt.date(2026, 10, 20))
    assert before.price.priority is None
    assert after.price.priority.input == Decimal("0.25") and after.price.priority.output == Decimal("1")


def test_yaml_models_take_the_tiers_their_file_does_not_mention_from_the_database(tmp_path):
    table = load_prices([], use_env=False)
    assert table.lookup("gpt-4o-mini").priority is None  # not asked for: the database is not consulted
    price = table.lookup("gpt-4o-mini", tiers=("priority",))
    assert price.path == "bundled:openai.yaml"  # the bundled table still sets standard and batch
    assert price.priority is not None and price.extra["tier_sources"] == {"priority": database.label()}
    assert not any("batch price is derived" in n for n in table.notes)  # batch came from the YAML
    explicit = tmp_path / "p.yaml"
    explicit.write_text("currency: USD\nsource: t\nchecked_on: 2026-11-20\nmodels:\n"
                        "  gpt-4o-mini: {input: 0.15, output: 0.6, priority: null}\n")
    assert not load_prices([explicit], use_env=False).lookup("gpt-4o-mini", tiers=("priority",)).offers("priority")


def test_estimate_names_the_source_of_each_price_and_the_date_used(tmp_path, cli):
    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}}) + "\n")
    out = cli("estimate", plan, "--tiers", "priority", "--prices-at", "2026-10-20", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["prices_at"] == "2026-10-20"
    assert doc["by_model"][0]["price_source"]["file"] == "bundled:openai.yaml"
    assert doc["by_model"][0]["price_source"]["tiers"]["priority"].startswith("database:genai-prices")
    assert {p["path"] for p in doc["prices"]} >= {"bundled:openai.yaml", database.label()}
    assert any("has no price history" in w for w in doc["warnings"])
    early = json.loads(cli("estimate", plan, "--tiers", "priority", "--prices-at", "2026-10-01", "--format",
                           "json").stdout)
    assert early["cost"]["priority"] is None
    bad = cli("estimate", plan, "--prices-at", "2026-02-30")
    assert bad.returncode == 2 and "--prices-at must be a date" in bad.stderr


def test_prices_diff_and_check_report_the_database(cli):
    diff = json.loads(cli("prices", "diff", "--format", "json").stdout)
    mini = [r for r in diff if r["model"] == "gpt-4o-mini"]
    # the bundled table halves cached input for batch; the database keeps it at standard (no published rate)
    assert {"model": "gpt-4o-mini", "tier": "batch", "class": "cached_input", "yaml": "0.0375",
            "database": "0.075"}.items() <= next(r for r in mini if r["class"] == "cached_input").items()
    check = cli("prices", "check", "--today", "2026-12-01")
    assert check.returncode == 0 and database.label() in check.stdout
    stale = cli("prices", "check", "--today", "2027-12-01")
    assert stale.returncode == 1 and "STALE" in stale.stdout


def test_the_database_is_not_imported_for_a_plan_the_yaml_tables_price(tmp_path):
    import subprocess
    import sys

    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}}) + "\n")
    code = ("import sys\nfrom batchcost.cli.app import main\ntry:\n    main(['estimate', sys.argv[1], '--format', "
            "'json'])\nfinally:\n    print('genai_prices.data' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(plan)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr.strip().splitlines()[-1] == "False"


def test_reconcile_prices_at_the_date_asked_and_says_so(tmp_path, cli):
    plan, out = tmp_path / "plan.jsonl", tmp_path / "out.jsonl"
    plan.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}}) + "\n")
    out.write_text(json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {"usage": {
        "prompt_tokens": 8, "completion_tokens": 3}}}}) + "\n")
    r = cli("reconcile", plan, "--results", out, "--prices-at", "2026-10-20", "--no-calibrate", "--format", "json",
            "--report", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prices_at"] == "2026-10-20"
    assert "in force on 2026-10-20" in (tmp_path / "rep" / "reconcile.md").read_text()


def test_the_notebook_api_prices_extra_tiers_side_by_side(tmp_path):
    import batchcost

    plan = tmp_path / "plan.jsonl"
    plan.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}}) + "\n")
    result = batchcost.estimate(plan, tiers=["priority", "flex"])
    summary, by_model = result.summary(), result.by_model()
    tokens = result.estimate.input_tokens
    assert summary.loc["priority cost (USD)", "high"] == (tokens * Decimal("0.25") + 10 * 1) / 10**6
    assert summary.loc["flex cost (USD)", "high"] is None  # gpt-4o-mini has no flex price anywhere
    assert by_model.iloc[0]["priority_expected"] == summary.loc["priority cost (USD)", "expected"]
