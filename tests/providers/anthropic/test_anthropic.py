"""Anthropic Message Batches end to end: plans, approximate counts with a band checked against the numbers
Anthropic's docs report, check, split, estimate, and the lifecycle and reconcile through the real anthropic SDK
against a loopback server of the documented endpoints (tests/anthropic_server.py)."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from batchcost import count_plan  # the public one: approximate counts corrected by calibration
from batchcost.pricing.tables import load_prices
from tests.anthropic_server import MessageBatchesServer

PLANTED_KEY = "sk-ant-api03-PLANTEDKEYplantedkeyPLANTEDKEY0123456789"

# The token-counting guide's examples (https://platform.claude.com/docs/en/build-with-claude/token-counting, read
# 2026-12-01), each with the input_tokens the API returned for it. The guide names claude-sonnet-4-5, but its tool
# figure (403) is a Sonnet 4 one: real Sonnet 4 bills for nearly the same request are 401, real Sonnet 4.5 bills
# 620 (tests/data/real_usage), so the tool example is held to Sonnet 4.
DOC_EXAMPLES = [
    ({"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "You are a scientist",
      "messages": [{"role": "user", "content": "Hello, Claude"}]}, 14),
    ({"model": "claude-sonnet-4", "max_tokens": 1024,
      "tools": [{"name": "get_weather", "description": "Get the current weather in a given location",
                 "input_schema": {"type": "object", "properties": {"location": {
                     "type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                     "required": ["location"]}}],
      "messages": [{"role": "user", "content": "What's the weather like in San Francisco?"}]}, 403),
]


def line(i, **params):
    return {"custom_id": f"req-{i}", "params": {"model": "claude-sonnet-4-5", "max_tokens": 100,
                                                "messages": [{"role": "user", "content": f"Say hello {i}"}],
                                                **params}}


def test_every_documented_example_falls_inside_its_stated_band(write_plan):
    plan = write_plan([{"custom_id": f"doc-{i}", "params": p} for i, (p, _) in enumerate(DOC_EXAMPLES)])
    for record, (_, reported) in zip(count_plan(plan), DOC_EXAMPLES):
        c = record.contract()
        assert c["provider"] == "anthropic" and c["count_basis"] == "approximation" and c["approximate"] is True
        assert c["input_tokens_low"] <= reported <= c["input_tokens_high"], (c, reported)
        assert c["input_tokens_low"] <= c["input_tokens"] <= c["input_tokens_high"]
        assert c["max_output_tokens"] == 1024


def test_count_jsonl_and_estimate_carry_the_band_and_price_its_ends(write_plan, cli):
    plan = write_plan([line(i) for i in range(3)])
    out = cli("count", plan, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["custom_id"] for r in records] == ["req-0", "req-1", "req-2"]
    out = cli("estimate", plan, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    low, high = sum(r["input_tokens_low"] for r in records), sum(r["input_tokens_high"] for r in records)
    assert doc["input_tokens_range"] == {"low": low, "high": high} and doc["plan"]["provider"] == "anthropic"
    # the batch tier at Anthropic's page price for Sonnet 4.5 ($1.50 / $7.50 per 1M): low = band low, no output;
    # high = band high and every max_tokens
    assert Decimal(doc["cost"]["batch"]["low"]) == Decimal(low) * Decimal("1.5") / 10**6
    assert Decimal(doc["cost"]["batch"]["high"]) == (Decimal(high) * Decimal("1.5") + 300 * Decimal("7.5")) / 10**6
    assert any("approximation" in w for w in doc["warnings"])


def test_a_plan_mixing_providers_is_an_error_naming_the_first_odd_line(write_plan, cli):
    openai_line = {"custom_id": "o-1", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    plan = write_plan([line(1), line(2), openai_line])
    for command in (("count",), ("estimate",), ("check",)):
        out = cli(*command, plan)
        assert out.returncode == 1 and f"{plan}:3" in out.stderr + out.stdout, (command, out.stderr)
        assert "Traceback" not in out.stderr
    forced = cli("count", write_plan([line(1)], name="one.jsonl"), "--provider", "openai")
    assert forced.returncode == 1 and ":1:" in forced.stderr and "--provider openai" in forced.stderr


def test_check_finds_what_message_batches_would_reject(write_plan, cli):
    bad_id = line(1)
    bad_id["custom_id"] = "has spaces!"
    no_max = line(2)
    del no_max["params"]["max_tokens"]
    plan = write_plan([bad_id, no_max, line(2), line(4, model="claude-sonet-9"),
                       line(5, max_tokens=70_000)])
    out = cli("check", plan, "--format", "json")
    found = {(f["line"], f["code"]) for f in json.loads(out.stdout)["findings"]}
    assert {(1, "custom-id"), (2, "max-tokens"), (3, "duplicate-custom-id"), (4, "unknown-model"),
            (5, "max-output")} <= found, found
    assert out.returncode == 1


def test_split_uses_the_providers_limits(write_plan, cli, tmp_path):
    plan = write_plan([line(i) for i in range(5)])
    out = cli("split", plan, "--out-dir", tmp_path / "waves", "--max-requests", "2")
    assert out.returncode == 0, out.stderr
    waves = sorted((tmp_path / "waves").glob("*.jsonl"))
    assert [len(w.read_text().splitlines()) for w in waves] == [2, 2, 1]
    too_many = cli("split", plan, "--out-dir", tmp_path / "w2", "--max-requests", "100001")
    assert too_many.returncode == 2 and "100,000" in too_many.stderr


# -- the lifecycle through the real SDK ---------------------------------------------------------------------------
def _bill(params):
    """What the stand-in service bills: 7% more input than our central count, a fixed reply, cache classes."""
    from batchcost.providers.anthropic.counting import ClaudeCounter
    from batchcost.tokens.models import resolve_model

    central = ClaudeCounter(resolve_model(params["model"])).count("/v1/messages", params).input_tokens
    fresh = round(central * 1.07)
    return {"input_tokens": fresh, "cache_creation_input_tokens": 30, "cache_read_input_tokens": 10,
            "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 10},
            "output_tokens": 17}


def _serving(monkeypatch, **options):
    """The loopback Message Batches server, with the SDK pointed at it and the planted key set."""
    server = MessageBatchesServer(**options).start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    yield server
    server.stop()


@pytest.fixture
def service(monkeypatch):
    yield from _serving(monkeypatch, bill=_bill)


def test_approve_submit_wait_download_reconcile(service, write_plan, cli, tmp_path):
    plan = write_plan([line(i, system="Answer briefly.") for i in range(4)])
    out = cli("approve", plan, "--budget", "1", "--by", "ana", "-o", tmp_path / "approval.json")
    assert out.returncode == 0, out.stderr
    out = cli("submit", plan, "--approval", tmp_path / "approval.json", "--format", "json")
    assert out.returncode == 0, out.stderr
    [sub] = json.loads(out.stdout)["batches"]
    batch_id = sub["id"]
    assert batch_id.startswith("msgbatch_") and service.created() == 1
    again = cli("submit", plan, "--approval", tmp_path / "approval.json")
    assert again.returncode == 0 and service.created() == 1  # the same plan again: reported, never re-created
    out = cli("wait", batch_id, "--poll-interval", "0.01", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"
    out = cli("download", batch_id, "--out", tmp_path / "results", "--format", "json")
    assert out.returncode == 0, out.stderr
    results = tmp_path / "results" / f"{batch_id}_output.jsonl"
    assert len(results.read_text().splitlines()) == 4
    out = cli("reconcile", plan, "--results", results, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["requests"]["succeeded"] == 4
    # exact to the Decimal: Anthropic's batch prices for Sonnet 4.5 (the page, 2026-12-01): input $1.50,
    # 5-minute writes $1.875, 1-hour writes $3, cache reads $0.15, output $7.50 per 1M
    expected = Decimal(0)
    for result in map(json.loads, results.read_text().splitlines()):
        u = result["result"]["message"]["usage"]
        expected += (u["input_tokens"] * Decimal("1.5") + 20 * Decimal("1.875") + 10 * Decimal(3)
                     + 10 * Decimal("0.15") + u["output_tokens"] * Decimal("7.5")) / 10**6
    assert Decimal(doc["actual"]["cost"]) == expected
    assert doc["actual"]["cache_write_input_tokens"] == 4 * 30
    assert any("approximate counts" in e and "band" in e for e in doc["explanations"])
    # from the ledger: the batch's own provider downloads its results (not OpenAI's client), the same cost
    out = cli("reconcile", "--batch", batch_id, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    assert Decimal(json.loads(out.stdout)["actual"]["cost"]) == expected
    # the key never reaches an output, the ledger, the approval or the results
    for path in [tmp_path / "approval.json", results, *(tmp_path / "home").glob("*")]:
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes()
    assert PLANTED_KEY in service.keys_seen


def test_a_create_whose_answer_was_lost_is_found_never_made_twice(service, write_plan, cli, tmp_path):
    plan = write_plan([line(i) for i in range(3)])
    cli("approve", plan, "--budget", "1", "--by", "ana", "-o", tmp_path / "a.json")
    service.fail("create", "drop")  # the batch is created, the answer never arrives
    out = cli("submit", plan, "--approval", tmp_path / "a.json", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert service.created() == 1
    [sub] = json.loads(out.stdout)["batches"]
    assert sub["id"] == service.order[0]


def test_transient_errors_are_retried_and_a_lasting_one_is_one_line(service, write_plan, cli, tmp_path):
    plan = write_plan([line(1)])
    cli("approve", plan, "--budget", "1", "--by", "ana", "-o", tmp_path / "a.json")
    out = cli("submit", plan, "--approval", tmp_path / "a.json", "--format", "json")
    batch_id = json.loads(out.stdout)["batches"][0]["id"]
    service.fail("retrieve", 429, 500)
    out = cli("status", batch_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    service.fail("retrieve", *([500] * 10))
    out = cli("status", batch_id, "--max-retries", "1")
    assert out.returncode == 4 and "HTTP 500" in out.stderr and "Traceback" not in out.stderr
    assert PLANTED_KEY not in out.stderr


def test_cancel_and_reconcile_the_cancelled_requests_into_the_retry_file(service, write_plan, cli, tmp_path):
    service.polls_to_end = 99
    plan = write_plan([line(i) for i in range(2)])
    cli("approve", plan, "--budget", "1", "--by", "ana", "-o", tmp_path / "a.json")
    submitted = cli("submit", plan, "--approval", tmp_path / "a.json", "--format", "json")
    batch_id = json.loads(submitted.stdout)["batches"][0]["id"]
    out = cli("cancel", batch_id, "--format", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["status"] == "cancelling"
    out = cli("wait", batch_id, "--poll-interval", "0.01")
    assert out.returncode == 4 and "cancelled" in out.stderr
    cli("download", batch_id, "--out", tmp_path / "r")
    out = cli("reconcile", plan, "--results", tmp_path / "r" / f"{batch_id}_output.jsonl", "--retry-file",
              tmp_path / "retry.jsonl", "--format", "json")
    doc = json.loads(out.stdout)
    assert doc["requests"]["cancelled"] == 2 and doc["retry"]["requests"] == 2
    assert (tmp_path / "retry.jsonl").read_bytes() == plan.read_bytes()


def test_calibration_learns_a_family_correction_and_narrows_the_band(tmp_path, write_plan):
    from batchcost.lifecycle.calibration import MIN_COUNT_OBSERVATIONS, Calibration

    plan = write_plan([line(i, system="Be brief. " * 30) for i in range(3)])
    before = list(count_plan(plan))
    store = Calibration()
    store.record_counts("a" * 64, [("claude-sonnet-4-5", f"r{i}", 100, 104 + i % 3)
                                   for i in range(MIN_COUNT_OBSERVATIONS)])
    after = list(count_plan(plan))
    for b, a in zip(before, after):
        assert a.input_high - a.input_low < b.input_high - b.input_low
        assert b.input_low <= a.input_low and a.input_high <= b.input_high
        assert a.input_tokens == min(max(round(b.input_tokens * Decimal("1.05")), a.input_low), a.input_high)


# -- exact counts online (messages.count_tokens) -----------------------------------------------------------------
def _true_count(body):
    """What the stand-in counting endpoint reports: 7% over our central count (as _bill), never the same figure."""
    from batchcost.providers.anthropic.counting import ClaudeCounter
    from batchcost.tokens.models import resolve_model

    return round(ClaudeCounter(resolve_model(body["model"])).count("/v1/messages", body).input_tokens * 1.07) + 1


@pytest.fixture
def counting(monkeypatch):
    yield from _serving(monkeypatch, count=_true_count)


def _counted(server):
    return sum(1 for m, p in server.calls if p == "/v1/messages/count_tokens")


def test_nothing_is_sent_without_online(counting, write_plan, cli):
    plan = write_plan([line(i) for i in range(3)])
    for command in (("count", plan), ("estimate", plan), ("estimate", plan, "--sample", "2")):
        assert cli(*command).returncode == 0
    assert counting.calls == []


def test_count_online_is_exact_asks_each_distinct_request_once_and_never_shows_the_key(counting, write_plan, cli):
    rows = [line(i, temperature=0.2, stop_sequences=["END"]) for i in range(5)]
    rows += [{**line(0, temperature=0.2, stop_sequences=["END"]), "custom_id": f"again-{i}"} for i in range(3)]
    plan = write_plan(rows)
    out = cli("count", plan, "--online", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["input_tokens"] for r in records] == [_true_count(r["params"]) for r in rows]
    assert all(r["count_basis"] == "online" and r["approximate"] is False and "input_tokens_low" not in r
               for r in records)
    assert _counted(counting) == 5  # the three repeats of request 0 were asked once
    assert "5 distinct" in out.stderr and "3 identical" in out.stderr
    table = cli("count", plan, "--online")
    assert table.returncode == 0 and "approximation" not in table.stdout
    assert PLANTED_KEY not in out.stdout + out.stderr + table.stdout + table.stderr
    assert counting.keys_seen == {PLANTED_KEY}


def test_estimate_online_prices_the_providers_counts_with_no_band(counting, write_plan, cli):
    rows = [line(i, system="Answer in one word.") for i in range(4)]
    plan = write_plan(rows)
    out = cli("estimate", plan, "--online", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    total = sum(_true_count(r["params"]) for r in rows)
    assert doc["input_tokens"] == total and "input_tokens_range" not in doc
    assert doc["online"] == {"provider": "anthropic", "asked": 4, "reused": 0, "verified_requests": 4}
    assert Decimal(doc["cost"]["batch"]["low"]) == Decimal(total) * Decimal("1.5") / 10**6
    assert Decimal(doc["cost"]["batch"]["high"]) == (Decimal(total) * Decimal("1.5") + 400 * Decimal("7.5")) / 10**6
    assert doc["plan"]["sha256"]


def test_online_sample_verifies_a_sample_and_its_interval_holds_the_true_total(counting, write_plan, cli):
    rows = [line(i, system="Reply. " * (i % 7 + 1)) for i in range(60)]
    plan = write_plan(rows)
    truth = sum(_true_count(r["params"]) for r in rows)
    out = cli("count", plan, "--online", "--sample", "12", "--seed", "3", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(records) == 60 and sum(r["count_basis"] == "online" for r in records) == 12
    assert _counted(counting) == 12
    verified = [r for r in records if r["count_basis"] == "online"]
    assert all(r["input_tokens"] == _true_count(rows[r["line"] - 1]["params"]) for r in verified)
    import re
    low, high = (int(x.replace(",", "")) for x in re.search(r"\(([\d,]+) to ([\d,]+), 95%", out.stderr).groups())
    assert low <= truth <= high
    est = cli("estimate", plan, "--online", "--sample", "15", "--seed", "3", "--format", "json")
    assert est.returncode == 0, est.stderr
    doc = json.loads(est.stdout)
    assert doc["sample"]["input_tokens"]["low"] <= truth <= doc["sample"]["input_tokens"]["high"]
    # each distinct sampled line was asked once (the sampler draws at least 30 times)
    assert doc["online"]["asked"] == doc["sample"]["distinct_lines"]
    assert _counted(counting) == 12 + doc["online"]["asked"]


def test_rate_limits_back_off_and_resume(counting, write_plan):
    from batchcost.estimation.online import OnlineCounts, Resume, count_plan_online

    rows = [line(i) for i in range(3)]
    counting.fail("count", 429, 429, 429, 429, "drop", 500)  # more than the SDK's own two retries, twice over
    verifier = OnlineCounts(resume=Resume(first=0.01, attempts=3))
    records = list(count_plan_online(write_plan(rows), verifier))
    assert [r.input_tokens for r in records] == [_true_count(r["params"]) for r in rows]
    counting.fail("count", *[429] * 20)
    verifier = OnlineCounts(resume=Resume(first=0.01, attempts=1))
    from batchcost.core.errors import RemoteError

    with pytest.raises(RemoteError, match="HTTP 429"):
        list(count_plan_online(write_plan([line(9)], name="other.jsonl"), verifier))


def test_online_is_refused_clearly_where_it_cannot_help(write_plan, cli, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    out = cli("count", write_plan([line(1)]), "--online")
    assert out.returncode == 2 and "ANTHROPIC_API_KEY" in out.stderr and "Traceback" not in out.stderr
    openai_plan = write_plan([{"custom_id": "o", "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}],
                             name="openai.jsonl")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = cli("estimate", openai_plan, "--online")  # OpenAI plans are counted online too: they need their key
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr
    out = cli("count", openai_plan, "--sample", "3")
    assert out.returncode == 2 and "--online" in out.stderr


def test_cache_breakpoints_price_writes_once_then_reads_and_high_writes_every_time(write_plan, cli):
    from batchcost.pricing.cost import price_tokens
    from batchcost.providers.anthropic.counting import ClaudeCounter
    from batchcost.tokens.models import resolve_model

    manual = "Follow the style manual exactly. " * 400  # well over Sonnet 4.5's 1,024-token minimum
    def row(i, ttl=None):
        mark = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
        return line(i, system=[{"type": "text", "text": manual, "cache_control": mark}])
    rows = [row(i) for i in range(5)] + [row(i, "1h") for i in range(5, 8)] + [line(8, system="short")]
    plan = write_plan(rows)
    counter = ClaudeCounter(resolve_model("claude-sonnet-4-5"))
    counts = [counter.count("/v1/messages", r["params"]) for r in rows]
    prefix = counts[0].prefix_tokens
    assert prefix > 1024 and counts[0].cache_ttl == "5m" and counts[5].cache_ttl == "1h"
    assert counts[0].cache_key == counts[4].cache_key != counts[5].cache_key and counts[8].cache_ttl is None
    doc = json.loads(cli("estimate", plan, "--format", "json").stdout)
    price = load_prices([]).lookup("claude-sonnet-4-5")
    total_in = sum(c.input_tokens for c in counts)
    out_high = 100 * len(rows)
    # expected: plain input and no output (the default forecast's expected is the bound: price it as the tool does)
    plain = price_tokens(price, "batch", input_tokens=total_in, output_tokens=out_high)
    best = (price_tokens(price, "batch", input_tokens=5 * prefix, cache_write_tokens=prefix,
                         cached_input_tokens=4 * prefix)
            + price_tokens(price, "batch", input_tokens=3 * prefix, cache_write_1h_tokens=prefix,
                           cached_input_tokens=2 * prefix)
            - price_tokens(price, "batch", input_tokens=8 * prefix))
    worst = (price_tokens(price, "batch", input_tokens=5 * prefix, cache_write_tokens=5 * prefix)
             + price_tokens(price, "batch", input_tokens=3 * prefix, cache_write_1h_tokens=3 * prefix)
             - price_tokens(price, "batch", input_tokens=8 * prefix))
    assert Decimal(doc["cost"]["batch"]["expected"]) == plain + best
    band_high = sum(c.high - c.input_tokens for c in counts)
    assert Decimal(doc["cost"]["batch"]["high"]) == plain + worst + price_tokens(price, "batch",
                                                                                   input_tokens=band_high)
    # Anthropic's rates: a 5-minute write 1.25x input, a 1-hour write 2x, a read 0.1x, the batch half on all
    assert worst == Decimal(prefix) * (5 * Decimal("1.5") * Decimal("0.25") + 3 * Decimal("1.5")) / 10**6
    marks = doc["cache"]["breakpoints"]
    assert marks["prefixes"] == 2 and marks["cache_write_tokens"] == {"expected": 2 * prefix, "high": 8 * prefix}
    assert marks["cache_read_tokens"]["expected"] == 6 * prefix


def test_plan_templates_take_provider_and_write_message_batches_lines(cli, tmp_path):
    out_plan = tmp_path / "reviews-claude.jsonl"
    made = cli("plan", "examples/reviews/reviews.csv", "--template", "examples/reviews/sentiment-claude.yaml",
               "-o", out_plan)
    assert made.returncode == 0, made.stderr
    rows = [json.loads(x) for x in out_plan.read_text().splitlines()]
    assert rows and all(set(r) == {"custom_id", "params"} for r in rows)
    assert rows[0]["custom_id"] == "review-1" and rows[0]["params"]["model"] == "claude-haiku-4-5"
    assert rows[0]["params"]["messages"][0]["content"].startswith("Product: Headphones\nReview: Arrived")
    assert cli("check", out_plan).returncode == 0
    # estimating the dataset through the template is the same as estimating the written plan
    direct = json.loads(cli("estimate", out_plan, "--format", "json").stdout)
    through = json.loads(cli("estimate", "examples/reviews/reviews.csv", "--template",
                             "examples/reviews/sentiment-claude.yaml", "--format", "json").stdout)
    assert through["plan"]["provider"] == "anthropic" and through["plan"]["sha256"] == direct["plan"]["sha256"]
    assert through["cost"] == direct["cost"] and through["input_tokens_range"] == direct["input_tokens_range"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("provider: anthropic\nendpoint: /v1/chat/completions\nmodel: claude-haiku-4-5\n"
                   "custom_id: 'r-{id}'\nbody: {max_tokens: 5, messages: [{role: user, content: '{text}'}]}\n")
    out = cli("plan", "examples/reviews/reviews.csv", "--template", bad, "-o", tmp_path / "x.jsonl")
    assert out.returncode == 1 and f"{bad}:2" in out.stderr and "not a batch endpoint of anthropic" in out.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("provider: anthropic\nmodel: gpt-4o-mini\ncustom_id: 'r-{id}'\n"
                     "body: {max_tokens: 5, messages: [{role: user, content: '{text}'}]}\n")
    out = cli("estimate", "examples/reviews/reviews.csv", "--template", wrong)
    assert out.returncode != 0 and "not one of anthropic's" in out.stderr and "Traceback" not in out.stderr


def test_pilot_sends_real_time_messages_and_prices_every_class(service, write_plan, cli):
    plan = write_plan([line(i, system="Answer briefly.") for i in range(6)])
    out = cli("pilot", plan, "--sample", "3", "--seed", "2", "--yes", "--budget", "1", "-f", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    sent = [p for m, p in service.calls if m == "POST" and p == "/v1/messages"]
    assert doc["requests"] == 3 and len(sent) == 3 and doc["calibration_recorded"] == 3
    price = load_prices([]).lookup("claude-sonnet-4-5")
    from batchcost.pricing.cost import price_tokens

    usages = [_bill(r["params"]) for r in [line(i, system="Answer briefly.") for i in range(6)]]
    billed = [u["input_tokens"] + 30 + 10 for u in usages]
    assert doc["input_tokens"]["billed"] in {sum(c) for c in __import__("itertools").combinations(billed, 3)}
    # three requests, each with a 5-minute write (20), a 1-hour write (10), a read (10) and 17 output tokens, at
    # real-time rates: costs are linear, so the sum prices in one call
    assert Decimal(doc["cost"]["realtime"]) == price_tokens(
        price, "realtime", input_tokens=doc["input_tokens"]["billed"], cached_input_tokens=30, cache_write_tokens=60,
        cache_write_1h_tokens=30, output_tokens=51)
    assert PLANTED_KEY not in out.stdout + out.stderr


def test_a_sampled_estimate_keeps_the_write_premium_in_its_high(write_plan, cli):
    manual = "Follow the style manual exactly. " * 400
    rows = [line(i, system=[{"type": "text", "text": manual, "cache_control": {"type": "ephemeral"}}])
            for i in range(10, 70)]  # ids of one length: every line the same bytes, so the sample is exact
    plan = write_plan(rows)
    full = json.loads(cli("estimate", plan, "--format", "json").stdout)
    sampled = json.loads(cli("estimate", plan, "--sample", "30", "--seed", "1", "--format", "json").stdout)
    assert "sample" in sampled
    assert abs(Decimal(sampled["cost"]["batch"]["high"]) - Decimal(full["cost"]["batch"]["high"])) < Decimal("1e-8")
