"""count|estimate --online for OpenAI plans: the free responses.input_tokens.count endpoint, through the real
openai SDK, against a loopback server of it (tests/openai_count_server.py); chat requests sent in the Responses
shape."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.conftest import PLANTED_KEY
from tests.openai_count_server import InputTokensServer


def _count(body):
    """What the test server says a request counts: a function of what was sent, so a wrong shape shows."""
    return 11 + len(json.dumps(body["input"], sort_keys=True)) // 7 + len(body.get("tools") or []) * 50


@pytest.fixture
def counting(monkeypatch):
    server = InputTokensServer(_count).start()
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    yield server
    server.stop()


def chat(i, **body):
    return {"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "max_tokens": 50, "temperature": 0,
                     "messages": [{"role": "system", "content": "Classify."},
                                  {"role": "user", "content": f"review {i}"}], **body}}


TOOL = {"type": "function", "function": {"name": "record", "description": "Record it.", "parameters": {
    "type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}}}


def test_nothing_is_sent_without_online(counting, write_plan, cli):
    plan = write_plan([chat(i) for i in range(3)])
    assert cli("count", plan).returncode == 0 and cli("estimate", plan).returncode == 0
    assert counting.bodies == []


def test_count_online_sends_chat_in_the_responses_shape_and_asks_each_distinct_request_once(counting, write_plan,
                                                                                            cli):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    rows = [chat(0), chat(1, tools=[TOOL], tool_choice={"type": "function", "function": {"name": "record"}}),
            chat(2, response_format={"type": "json_schema", "json_schema": {
                "name": "label", "schema": {"type": "object"}, "strict": True}}),
            chat(3, messages=[{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}]),
            {**chat(0), "custom_id": "again"}]
    plan = write_plan(rows)
    out = cli("count", plan, "--online", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert all(r["count_basis"] == "online" and r["approximate"] is False for r in records)
    assert len(counting.bodies) == 4  # the repeat of request 0 was asked once
    # asked four at a time, so in any order: each body is known by what it carries
    def one(predicate):
        [body] = [b for b in counting.bodies if predicate(b)]
        return body

    tooled, schema = one(lambda b: "tools" in b), one(lambda b: "text" in b)
    pictured = one(lambda b: isinstance(b["input"][0]["content"], list))
    plain = one(lambda b: b not in (tooled, schema, pictured))
    assert [r["input_tokens"] for r in records] == [_count(b) for b in (plain, tooled, schema, pictured, plain)]
    assert plain == {"model": "gpt-4o-mini", "input": [{"role": "system", "content": "Classify."},
                                                       {"role": "user", "content": "review 0"}]}
    assert tooled["tools"] == [{"type": "function", "name": "record", "description": "Record it.",
                                "parameters": TOOL["function"]["parameters"]}]
    assert tooled["tool_choice"] == {"type": "function", "name": "record"}
    assert schema["text"] == {"format": {"type": "json_schema", "name": "label", "schema": {"type": "object"},
                                         "strict": True}}
    assert pictured["input"][0]["content"] == [{"type": "input_text", "text": "what is it?"},
                                               {"type": "input_image", "image_url": "https://example.com/cat.png",
                                                "detail": "low"}]
    assert PLANTED_KEY not in out.stdout + out.stderr and counting.keys_seen == {PLANTED_KEY}


def test_estimate_online_prices_the_endpoints_counts(counting, write_plan, cli):
    rows = [chat(i) for i in range(4)]
    plan = write_plan(rows)
    out = cli("estimate", plan, "--online", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    total = sum(_count(b) for b in counting.bodies)
    assert doc["input_tokens"] == total and doc["online"]["provider"] == "openai" and doc["online"]["asked"] == 4
    # gpt-4o-mini batch: $0.075 input, $0.30 output per 1M; 4 requests bounded at 50 output tokens
    assert Decimal(doc["cost"]["batch"]["high"]) == (total * Decimal("0.075") + 200 * Decimal("0.30")) / 10**6


def test_a_sample_is_verified_and_its_interval_holds_the_endpoints_total(counting, write_plan, cli):
    rows = [chat(i, messages=[{"role": "user", "content": "word " * (i % 9 + 1)}]) for i in range(40)]
    plan = write_plan(rows)
    out = cli("count", plan, "--online", "--sample", "10", "--seed", "2", "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    assert sum(json.loads(x)["count_basis"] == "online" for x in out.stdout.splitlines()) == 10
    assert "95% interval" in out.stderr and len(counting.bodies) <= 10


def test_embeddings_and_unreachable_servers_are_one_clear_line(counting, write_plan, cli, monkeypatch):
    embed = write_plan([{"custom_id": "e", "method": "POST", "url": "/v1/embeddings",
                         "body": {"model": "text-embedding-3-small", "input": "hello"}}], name="e.jsonl")
    out = cli("count", embed, "--online")
    assert out.returncode == 2 and "counted exactly offline" in out.stderr and counting.bodies == []
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    out = cli("count", write_plan([chat(1)]), "--online")
    assert out.returncode == 4 and "Traceback" not in out.stderr and PLANTED_KEY not in out.stderr
