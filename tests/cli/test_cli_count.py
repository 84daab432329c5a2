"""`batchcost count` end to end, through the real command line."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.providers.openai.test_counting import COOKBOOK_MESSAGES, COOKBOOK_TOOL_MESSAGES, COOKBOOK_TOOLS


def _line(i, body, url="/v1/chat/completions"):
    return {"custom_id": f"request-{i}", "method": "POST", "url": url, "body": body}


def test_jsonl_contract(cli, write_plan):
    plan = write_plan([
        _line(1, {"model": "gpt-4o", "messages": COOKBOOK_MESSAGES, "max_tokens": 1}),
        _line(2, {"model": "gpt-4o-mini", "messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS}),
        _line(3, {"model": "gpt-4o-mini-2024-07-18", "messages": COOKBOOK_MESSAGES, "max_tokens": 100, "n": 2}),
    ])
    out = cli("count", plan, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [records[0]["input_tokens"], records[2]["input_tokens"]] == [124, 124]
    tools = records[1]  # tools: OpenAI does not document their rendering; the API's 101 lies in the band
    assert tools["count_basis"] == "approximation" and tools["input_tokens_low"] <= 101 <= tools["input_tokens_high"]
    assert [r["max_output_tokens"] for r in records] == [1, None, 200]
    assert records[0] == {"line": 1, "custom_id": "request-1", "model": "gpt-4o",
                          "endpoint": "/v1/chat/completions", "input_tokens": 124, "max_output_tokens": 1,
                          "approximate": False, "provider": "openai", "count_basis": "tokenizer"}


def test_csv_and_table_agree(cli, write_plan):
    plan = write_plan([_line(i, {"model": "gpt-4", "messages": COOKBOOK_MESSAGES}) for i in range(1, 4)])
    rows = list(csv.DictReader(io.StringIO(cli("count", plan, "-f", "csv").stdout)))
    assert [int(r["input_tokens"]) for r in rows] == [129, 129, 129]
    table = cli("count", plan)
    assert table.returncode == 0
    assert "387" in table.stdout  # 3 x 129 in the totals


def test_blank_lines_bom_and_crlf_are_tolerated(cli, tmp_path):
    line = json.dumps(_line(1, {"model": "gpt-4o", "messages": COOKBOOK_MESSAGES}))
    plan = tmp_path / "crlf.jsonl"
    plan.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\r\n\r\n" + line.replace("request-1", "request-2").encode())
    out = cli("count", plan, "-f", "jsonl")
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["line"] for x in out.stdout.splitlines()] == [1, 3]


GOOD = json.dumps(_line(1, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))


@pytest.mark.parametrize("bad, message", [
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {', "invalid JSON"),
    ('["not", "an", "object"]', "must be a JSON object"),
    ('{"method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o"}}', "custom_id is missing"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}', "body is missing"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": "x"}', "body must be an object"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}',
     "body.model is missing"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
     '"body": {"model": "gpt-4o", "messages": "hello"}}', "body.messages must be a list"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
     '"body": {"model": "gpt-4o", "messages": [{"role": "user", "content": 7}]}}', "content must be"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", '
     '"body": {"model": "gpt-4o-mimi", "messages": []}}', "unknown model 'gpt-4o-mimi'; closest known: gpt-4o-mini"),
    ('{"custom_id": "a", "method": "POST", "url": "/v1/images", "body": {"model": "gpt-4o"}}', "not a batch endpoint"),
])
def test_malformed_line_one_clear_error(cli, write_plan, bad, message):
    plan = write_plan([GOOD, bad])
    out = cli("count", plan, "-f", "jsonl")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    err = out.stderr.strip().splitlines()
    assert len(err) == 1
    assert f"{plan}:2: " in err[0] and message in err[0]


def test_non_utf8_line(cli, tmp_path):
    plan = tmp_path / "latin1.jsonl"
    plan.write_bytes(GOOD.encode() + b"\n" + GOOD.replace("hi", "caf\xe9").encode("latin-1") + b"\n")
    out = cli("count", plan)
    assert out.returncode == 1 and f"{plan}:2: not valid UTF-8" in out.stderr


def test_missing_file_and_usage_errors(cli, tmp_path):
    missing = cli("count", tmp_path / "nope.jsonl")
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    bad_format = cli("count", tmp_path / "nope.jsonl", "--format", "yaml")
    assert bad_format.returncode == 2
    bad_size = cli("count", tmp_path / "nope.jsonl", "--image-size", "big")
    assert bad_size.returncode == 2 and "--image-size" in bad_size.stderr


def test_encoding_option_for_private_model(cli, write_plan):
    plan = write_plan([_line(1, {"model": "acme-private", "messages": COOKBOOK_MESSAGES})])
    assert cli("count", plan).returncode == 1
    out = cli("count", plan, "--encoding", "o200k_base", "-f", "jsonl")
    assert out.returncode == 0 and json.loads(out.stdout)["input_tokens"] == 124
    assert cli("count", plan, "--encoding", "p99k").returncode == 2


def test_approximate_is_flagged(cli, write_plan):
    plan = write_plan([_line(1, {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]})])
    record = json.loads(cli("count", plan, "-f", "jsonl").stdout)
    assert record["approximate"] is True and record["notes"]
    assert "approximate" in cli("count", plan).stdout


def test_bundled_example_counts(cli):
    out = cli("count", "examples/reviews_sentiment.jsonl", "-f", "jsonl")
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == 8


def test_help_explains(cli):
    out = cli("count", "--help")
    assert out.returncode == 0 and "usage.prompt_tokens" in out.stdout
