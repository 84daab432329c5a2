"""Gemini API Batch Mode end to end through the real google-genai SDK, against a loopback server of the documented
endpoints (tests/gemini_server.py): approve, submit (Files API upload + batches.create), status, wait, download,
cancel, list, reconcile from the ledger, embedding batches, and --online through countTokens."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.gemini_server import GeminiBatchServer

PLANTED_KEY = "AIzaSyPLANTEDkeyPLANTEDkey0123456789abc"


def gline(key, text, **request):
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


def _bill(request):
    text = request["contents"][0]["parts"][0]["text"] if "contents" in request else request["content"]["parts"][0][
        "text"]
    return {"promptTokenCount": 10 + len(text), "candidatesTokenCount": 5, "thoughtsTokenCount": 3}


@pytest.fixture
def service(monkeypatch):
    server = GeminiBatchServer(bill=_bill).start()
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    yield server
    server.stop()


def _approve(cli, plan, tmp_path, model="gemini-2.5-flash", name="approval.json"):
    out = cli("--model", model, "approve", plan, "--budget", "1", "--by", "ana", "-o", tmp_path / name)
    assert out.returncode == 0, out.stderr
    return tmp_path / name


def test_approve_submit_wait_download_reconcile_through_google_genai(service, write_plan, cli, tmp_path):
    plan = write_plan([gline(f"k{i}", "Say hello " * (i + 1), generationConfig={"maxOutputTokens": 50})
                       for i in range(4)])
    approval = _approve(cli, plan, tmp_path)
    # no --model: the batch's model is the approval's
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    [sub] = json.loads(out.stdout)["batches"]
    batch_id = sub["id"]
    assert batch_id.startswith("batches/") and service.created() == 1
    assert ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent") in service.calls
    [entry] = service.batches.values()
    assert entry["batch"]["displayName"].count(":") == 2  # the wave's tag: how a lost create is found again
    assert [line["key"] for line in entry["lines"]] == ["k0", "k1", "k2", "k3"]  # the plan's bytes, uploaded
    again = cli("submit", plan, "--approval", approval)
    assert again.returncode == 0 and service.created() == 1  # the same plan again: reported, never re-created
    out = cli("wait", batch_id, "--poll-interval", "0.01", "--format", "json")
    assert out.returncode == 0, out.stderr
    batch = json.loads(out.stdout)
    assert batch["status"] == "completed" and batch["request_counts"] == {"total": 4, "completed": 4, "failed": 0}
    out = cli("download", batch_id, "--out", tmp_path / "results", "--format", "json")
    assert out.returncode == 0, out.stderr
    results = tmp_path / "results" / f"{batch_id.replace('/', '-')}_output.jsonl"
    assert [json.loads(x)["key"] for x in results.read_text().splitlines()] == ["k0", "k1", "k2", "k3"]
    # exact to the Decimal: Gemini 2.5 Flash batch prices, $0.15 input and $1.25 output (thinking included) per 1M
    expected = Decimal(0)
    for result in map(json.loads, results.read_text().splitlines()):
        u = result["response"]["usageMetadata"]
        expected += (u["promptTokenCount"] * Decimal("0.15")
                     + (u["candidatesTokenCount"] + u["thoughtsTokenCount"]) * Decimal("1.25")) / 10**6
    out = cli("--model", "gemini-2.5-flash", "reconcile", plan, "--results", results, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["requests"]["succeeded"] == 4 and Decimal(doc["actual"]["cost"]) == expected
    assert doc["actual"]["reasoning_tokens"] == 4 * 3
    # from the ledger, with no --model: the approved model, the batch's own client, the same cost
    out = cli("reconcile", "--batch", batch_id, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    assert Decimal(json.loads(out.stdout)["actual"]["cost"]) == expected
    out = cli("status", batch_id, "--format", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["batch"]["status"] == "completed"
    out = cli("--provider", "gemini", "list", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [(b["id"], b["batchcost"]) for b in json.loads(out.stdout)] == [(batch_id, True)]
    # the key never reaches an output, the ledger, the approval or the results
    for path in [approval, results, *(tmp_path / "home").rglob("*")]:
        if path.is_file():
            assert PLANTED_KEY.encode() not in path.read_bytes()
    assert PLANTED_KEY in service.keys_seen


def test_submit_refuses_another_model_than_the_approved_one(service, write_plan, cli, tmp_path):
    plan = write_plan([gline("a", "hi")])
    approval = _approve(cli, plan, tmp_path, model="gemini-2.5-flash-lite")
    out = cli("--model", "gemini-2.5-pro", "submit", plan, "--approval", approval)
    assert out.returncode == 3 and "gemini-2.5-flash-lite" in out.stderr and "gemini-2.5-pro" in out.stderr
    assert service.calls == []  # refused before anything was sent


def test_a_create_whose_answer_was_lost_is_found_by_its_display_name(service, write_plan, cli, tmp_path):
    plan = write_plan([gline(f"k{i}", "hello") for i in range(3)])
    approval = _approve(cli, plan, tmp_path)
    service.fail("create", "drop")  # the batch is created, the answer never arrives
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert service.created() == 1
    assert json.loads(out.stdout)["batches"][0]["id"] == service.order[0]


def test_transient_errors_are_retried_and_a_lasting_one_is_one_line(service, write_plan, cli, tmp_path):
    plan = write_plan([gline("a", "hello")])
    approval = _approve(cli, plan, tmp_path)
    batch_id = json.loads(cli("submit", plan, "--approval", approval, "--format", "json").stdout)["batches"][0]["id"]
    service.fail("get", 429, 503)
    out = cli("status", batch_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    service.fail("get", *([500] * 10))
    out = cli("status", batch_id, "--max-retries", "1")
    assert out.returncode == 4 and "HTTP 500" in out.stderr and "Traceback" not in out.stderr
    assert PLANTED_KEY not in out.stderr


def test_cancel_then_reconcile_the_cancelled_requests_into_the_retry_file(service, write_plan, cli, tmp_path):
    service.polls_to_end = 99
    plan = write_plan([gline(f"k{i}", "hello") for i in range(2)])
    approval = _approve(cli, plan, tmp_path)
    batch_id = json.loads(cli("submit", plan, "--approval", approval, "--format", "json").stdout)["batches"][0]["id"]
    out = cli("cancel", batch_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "cancelled"
    out = cli("wait", batch_id, "--poll-interval", "0.01")
    assert out.returncode == 4 and "cancelled" in out.stderr
    out = cli("download", batch_id, "--out", tmp_path / "r", "--format", "json")
    assert out.returncode == 0 and json.loads(out.stdout) == []  # a batch cancelled before it ran has no results
    out = cli("reconcile", "--batch", batch_id, "--retry-file", tmp_path / "retry.jsonl", "--format", "json",
              "--no-calibrate")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["requests"]["succeeded"] == 0 and Decimal(doc["actual"]["cost"]) == 0
    assert doc["retry"]["requests"] == 2 and (tmp_path / "retry.jsonl").read_bytes() == plan.read_bytes()


def test_embedding_batches_are_created_with_create_embeddings_and_billed_by_token_count(service, write_plan, cli,
                                                                                         tmp_path):
    rows = [{"key": f"e{i}", "request": {"content": {"parts": [{"text": "a passage " * (i + 1)}]},
                                         "taskType": "RETRIEVAL_DOCUMENT"}} for i in range(3)]
    plan = write_plan(rows)
    approval = _approve(cli, plan, tmp_path, model="gemini-embedding-001")
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    batch_id = json.loads(out.stdout)["batches"][0]["id"]
    assert ("POST", "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent") in service.calls
    assert cli("wait", batch_id, "--poll-interval", "0.01").returncode == 0
    out = cli("reconcile", "--batch", batch_id, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    billed = sum(_bill(r["request"])["promptTokenCount"] for r in rows)
    assert doc["actual"]["input_tokens"] == billed and doc["actual"]["output_tokens"] == 0
    assert Decimal(doc["actual"]["cost"]) == billed * Decimal("0.075") / 10**6  # batch: half of $0.15 per 1M


def test_an_embedding_line_for_a_generation_model_is_one_clear_line(write_plan, cli):
    plan = write_plan([{"key": "e", "request": {"content": {"parts": [{"text": "x"}]}}}])
    out = cli("--model", "gemini-2.5-flash", "count", plan)
    assert out.returncode == 1 and ":1:" in out.stderr and "embedding" in out.stderr.lower()
    assert "Traceback" not in out.stderr


def test_without_a_key_submit_says_which_variables(monkeypatch, write_plan, cli, tmp_path):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    plan = write_plan([gline("a", "hi")])
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval)
    assert out.returncode == 2 and "GEMINI_API_KEY" in out.stderr and "Traceback" not in out.stderr


# -- --online through countTokens ---------------------------------------------------------------------------------
def _contents_count(body):
    """What the test server's countTokens answers: one per content more than our offline count of it."""
    from batchcost.tokens.encodings import token_counter

    count = token_counter("gemma3")
    return sum(1 + sum(count(p.get("text", "")) + (258 if "inlineData" in p or "inline_data" in p else 0)
                       for p in c["parts"]) for c in body["contents"])


@pytest.fixture
def counting(monkeypatch):
    server = GeminiBatchServer(count=_contents_count).start()
    monkeypatch.setenv("GEMINI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    yield server
    server.stop()


def test_count_online_asks_count_tokens_and_agrees_with_the_exact_offline_text_count(counting, write_plan, cli):
    rows = [gline(f"t{i}", "Tell me about cats. " * (i + 1), systemInstruction={"parts": [{"text": "Be brief."}]})
            for i in range(3)]
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    rows.append({"key": "img", "request": {"contents": [{"role": "user", "parts": [
        {"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": png}}]}]}})
    plan = write_plan(rows)
    offline = [json.loads(x) for x in cli("--model", "gemini-2.5-flash", "count", plan, "--format",
                                          "jsonl").stdout.splitlines()]
    assert counting.calls == []  # nothing is sent without --online
    out = cli("--model", "gemini-2.5-flash", "count", plan, "--online", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    online = [json.loads(x) for x in out.stdout.splitlines()]
    assert all(r["count_basis"] == "online" and r["approximate"] is False for r in online)
    # text: the endpoint's answer less its one token per content, plus the system instruction counted offline,
    # is exactly the offline count; the image: the endpoint's 258 where offline had a band
    assert [r["input_tokens"] for r in online[:3]] == [r["input_tokens"] for r in offline[:3]]
    assert offline[3]["approximate"] is True and online[3]["input_tokens"] == offline[3]["input_tokens"]
    asked = [p for m, p in counting.calls if p.endswith(":countTokens")]
    assert asked == ["/v1beta/models/gemini-2.5-flash:countTokens"] * 4
    assert PLANTED_KEY not in out.stdout + out.stderr


def test_pilot_sends_real_time_generate_content_and_prices_it(service, write_plan, cli):
    plan = write_plan([gline(f"k{i}", "Say hello " * (i + 1), generationConfig={"maxOutputTokens": 20})
                       for i in range(5)])
    out = cli("--model", "gemini-2.5-flash", "pilot", plan, "--sample", "2", "--seed", "1", "--yes", "--budget",
              "1", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    sent = [p for m, p in service.calls if p.endswith(":generateContent")]
    assert sent == ["/v1beta/models/gemini-2.5-flash:generateContent"] * 2 and service.created() == 0
    assert doc["requests"] == 2 and doc["output_tokens"]["total"] == 16  # candidates + thoughts, 8 each
    embed = write_plan([{"key": "e", "request": {"content": {"parts": [{"text": "x"}]}}}], name="e.jsonl")
    out = cli("--model", "gemini-embedding-001", "pilot", embed, "--sample", "1", "--yes", "--budget", "1")
    assert out.returncode == 1 and "embeddings" in out.stderr and len(sent) == 2
