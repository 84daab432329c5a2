"""Reconcile result files in the exact shape the API returns; every figure against a hand-computed Decimal."""
from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from batchcost import count_request
from batchcost.lifecycle.reconcile import reconcile
from batchcost.pricing import load_prices
from tests.pricing.test_pricing import TEST_PRICES

SYSTEM = "You are a careful annotator. Answer in one short sentence."


def chat_line(i, text=None, max_tokens=100):
    return {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "max_tokens": max_tokens,
                     "messages": [{"role": "system", "content": SYSTEM},
                                  {"role": "user", "content": text or f"Question number {i}?"}]}}


def ok(cid, prompt, completion, cached=0, reasoning=0):
    """An output line exactly as the Batch API writes it."""
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": {
        "status_code": 200, "request_id": f"req_{cid}",
        "body": {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion,
                           "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                           "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0}}}},
            "error": None}


def failed(cid):
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": {
        "status_code": 400, "request_id": f"req_{cid}",
        "body": {"error": {"message": "bad", "type": "invalid_request_error", "code": "invalid_value"}}},
            "error": None}


def expired(cid):
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": None,
            "error": {"code": "batch_expired", "message": "This request could not be executed before the completion "
                                                          "window expired."}}


@pytest.fixture
def prices(tmp_path, monkeypatch):
    monkeypatch.delenv("BATCHCOST_PRICES", raising=False)
    path = tmp_path / "p.yaml"
    path.write_text(TEST_PRICES.format(date="2026-11-20"))
    return load_prices([path])


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_hand_computed_reconciliation(tmp_path, write_plan, prices):
    plan = write_plan([chat_line(i) for i in range(1, 6)])
    n = [count_request(chat_line(i)["body"]).input_tokens for i in range(1, 6)]
    # out of order; req-2 with cache hits; req-3 failed; req-4 expired (in the error file); req-5 missing
    results = _jsonl(tmp_path / "out.jsonl", [ok("req-2", n[1], 30, cached=8), failed("req-3"),
                                               ok("req-1", n[0], 12, reasoning=4)])
    errors = _jsonl(tmp_path / "err.jsonl", [expired("req-4")])
    r = reconcile(plan, results, prices, errors=errors, retry_file=tmp_path / "retry.jsonl")
    assert r.counts == {"planned": 5, "succeeded": 2, "failed": 1, "expired": 1, "missing": 1}
    assert r.actual["input_tokens"] == n[0] + n[1]
    assert r.actual["cached_input_tokens"] == 8 and r.actual["output_tokens"] == 42
    assert r.actual["reasoning_tokens"] == 4  # inside completion_tokens: not added again
    # batch: input 0.075, cached 0.0375, output 0.30 per 1M
    actual = ((n[0] + n[1] - 8) * Decimal("0.075") + 8 * Decimal("0.0375") + 42 * Decimal("0.30")) / 1_000_000
    assert Decimal(r.actual["cost"]) == actual
    # estimated for the same two succeeded lines, at max output (100 each)
    estimated = ((n[0] + n[1]) * Decimal("0.075") + 200 * Decimal("0.30")) / 1_000_000
    assert Decimal(r.estimated["cost"]["expected"]) == estimated
    assert r.estimated["output_tokens"] == {"low": 0, "expected": 200, "high": 200}
    assert Decimal(r.delta["cost"]) == actual - estimated
    assert r.delta["input_tokens"] == 0 and r.delta["output_tokens"] == 42 - 200
    assert r.delta["cost_percent"] == format(((actual - estimated) / estimated * 100).quantize(Decimal("0.1")), "f")
    assert any(x.startswith("cache: 8 input tokens") for x in r.explanations)
    assert any("billed exactly" in x for x in r.explanations)
    # the retry plan holds the three unfinished plan lines, byte for byte, with its own estimate
    retry_lines = (tmp_path / "retry.jsonl").read_text().splitlines()
    plan_lines = plan.read_text().splitlines()
    assert retry_lines == [plan_lines[2], plan_lines[3], plan_lines[4]]
    assert r.retry["requests"] == 3 and Decimal(r.retry["estimate"]["batch"]["high"]) == \
        ((n[2] + n[3] + n[4]) * Decimal("0.075") + 300 * Decimal("0.30")) / 1_000_000


def test_input_mismatch_is_flagged_loudly(tmp_path, write_plan, prices):
    plan = write_plan([chat_line(1)])
    n = count_request(chat_line(1)["body"]).input_tokens
    r = reconcile(plan, _jsonl(tmp_path / "o.jsonl", [ok("req-1", n + 3, 5)]), prices)
    assert r.input_mismatches == 1 and r.delta["input_tokens"] == 3
    assert any(x.startswith("INPUT COUNT MISMATCH") and f"estimated {n}" in x for x in r.explanations)


def test_bad_result_lines_are_listed_and_the_rest_reconciled(tmp_path, write_plan, prices, cli):
    plan = write_plan([chat_line(i) for i in range(1, 4)])
    n = count_request(chat_line(1)["body"]).input_tokens
    results = _jsonl(tmp_path / "o.jsonl", [ok("req-1", n, 5), "{not json", ok("req-9", 10, 1), ok("req-1", n, 5),
                                            '["no custom id"]'])
    out = cli("reconcile", plan, "--results", results, "--format", "json", "--no-calibrate")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["requests"]["succeeded"] == 1 and report["requests"]["missing"] == 2
    [err] = out.stderr.strip().splitlines()  # one line on stderr: the first problem and how many more
    assert f"{results}:2: not a JSON line" in err and "and 3 more" in err and "Traceback" not in out.stderr
    issues = [(i["line"], i["message"]) for i in report["issues"]]
    assert issues[0][0] == 2 and issues[1] == (3, "custom_id 'req-9' is not in the plan")
    assert issues[2] == (4, f"custom_id 'req-1' already appeared at {results}:1") and issues[3][0] == 5


def test_results_of_another_plan(tmp_path, write_plan, prices, cli):
    plan = write_plan([chat_line(1)])
    results = _jsonl(tmp_path / "o.jsonl", [ok("other-1", 10, 1), ok("other-2", 10, 1)])
    out = cli("reconcile", plan, "--results", results)
    assert out.returncode == 1 and "belong to another plan" in out.stderr


def test_estimate_for_another_plan(tmp_path, write_plan, cli):
    plan = write_plan([chat_line(1)])
    other = write_plan([chat_line(2)], name="other.jsonl")
    estimate = tmp_path / "e.json"
    estimate.write_text(cli("estimate", other, "-f", "json").stdout)
    results = _jsonl(tmp_path / "o.jsonl", [ok("req-1", 10, 1)])
    out = cli("reconcile", plan, "--results", results, "--estimate", estimate)
    assert out.returncode == 1 and "estimate is for another plan" in out.stderr


def test_responses_and_embeddings_usage(tmp_path, write_plan, prices):
    plan = write_plan([{"custom_id": "e1", "method": "POST", "url": "/v1/embeddings",
                        "body": {"model": "text-embedding-3-small", "input": "hello world"}}])
    line = {"id": "x", "custom_id": "e1", "error": None, "response": {"status_code": 200, "request_id": "r", "body": {
        "object": "list", "data": [], "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 2, "total_tokens": 2}}}}
    r = reconcile(plan, _jsonl(tmp_path / "o.jsonl", [line]), prices, calibrate=False)
    assert r.actual["input_tokens"] == 2 and r.actual["output_tokens"] == 0
    assert Decimal(r.actual["cost"]) == Decimal(2) * Decimal("0.01") / 1_000_000
    assert r.delta["input_tokens"] == 0


def test_report_files(tmp_path, write_plan, prices, cli):
    plan = write_plan([chat_line(i) for i in range(1, 4)])
    n = [count_request(chat_line(i)["body"]).input_tokens for i in range(1, 4)]
    results = _jsonl(tmp_path / "o.jsonl", [ok(f"req-{i}", n[i - 1], 10 * i) for i in range(1, 4)])
    out = cli("reconcile", plan, "--results", results, "--report", tmp_path / "rep", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    for name in ("reconcile.html", "reconcile.md", "reconcile.json", "charts/reconcile_cost.png",
                 "charts/reconcile_output_tokens.svg", "charts/reconcile_input_error.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    html_text = (tmp_path / "rep" / "reconcile.html").read_text()
    assert "src=" not in html_text and "<link" not in html_text


def test_calibration_predicts_the_rest(tmp_path, write_plan, cli):
    """Calibrate on 500 requests of a template; predict the total output of 500 others made from it."""
    rng = random.Random(7)
    lines = [chat_line(i, text=f"Review {i}: " + "good " * rng.randint(1, 30), max_tokens=400) for i in range(1000)]
    outputs = {f"req-{i}": max(1, round(rng.gauss(80, 20))) for i in range(1000)}
    first, rest = write_plan(lines[:500], "first.jsonl"), write_plan(lines[500:], "rest.jsonl")
    results = _jsonl(tmp_path / "first.out.jsonl", [
        ok(f"req-{i}", count_request(lines[i]["body"]).input_tokens, outputs[f"req-{i}"]) for i in range(500)])
    assert cli("reconcile", first, "--results", results, "--format", "json").returncode == 0

    before = json.loads(cli("estimate", rest, "-f", "json").stdout)["output_tokens"]
    calibrated = json.loads(cli("estimate", rest, "--output-tokens", "calibrated", "-f", "json").stdout)
    out = calibrated["output_tokens"]
    assert out["basis"] == "calibrated" and out["observations"] == 500 and out["requests_calibrated"] == 500
    truth = sum(outputs[f"req-{i}"] for i in range(500, 1000))
    error = abs(out["expected"] - truth) / truth
    print(f"calibrated forecast {out['expected']:,} vs actual {truth:,}: error {error:.1%} "
          f"(the max basis said {before['expected']:,})")
    assert error < 0.05  # measured: 40,500 forecast vs 39,699 actual, 2.0% (the max basis: 200,000)
    assert out["high"] == 500 * 400 and out["expected"] <= out["p90"] <= out["high"]

    # no history for another template: falls back to the bound and says so
    other = write_plan([{**chat_line(1), "body": {**chat_line(1)["body"], "messages": [
        {"role": "system", "content": "A different template."}, {"role": "user", "content": "hi"}]}}], "other.jsonl")
    fallback = json.loads(cli("estimate", other, "--output-tokens", "calibrated", "-f", "json").stdout)
    assert fallback["output_tokens"]["expected"] == 100 and fallback["output_tokens"]["requests_without_history"] == 1
    assert any("no calibration history" in w for w in fallback["warnings"])

    # reconciling the same results again does not count them twice
    assert cli("reconcile", first, "--results", results, "-f", "json").returncode == 0
    again = json.loads(cli("estimate", rest, "--output-tokens", "calibrated", "-f", "json").stdout)
    assert again["output_tokens"]["observations"] == 500


def test_cache_forecast_range(write_plan, cli):
    long_system = "Rules of the task. " * 400  # a shared prefix well over 1,024 tokens
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "max_tokens": 10, "messages": [
                  {"role": "system", "content": long_system}, {"role": "user", "content": f"item {i}"}]}}
             for i in range(4)]
    plan = write_plan(lines)
    cache = json.loads(cli("estimate", plan, "-f", "json").stdout)["cache"]
    prefix = count_request({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": long_system}]})
    prefix_tokens = prefix.input_tokens - 3  # without the reply primer
    cacheable = 1024 + (prefix_tokens - 1024) // 128 * 128
    assert cache["cached_input_tokens"] == {"low": 0, "high": 3 * cacheable, "observed": None}
    # batch: input 0.075 vs cached 0.0375 per 1M (bundled prices)
    assert Decimal(cache["savings_if_cached"]["batch"]) == 3 * cacheable * (Decimal("0.075") - Decimal("0.0375")) \
        / 1_000_000
