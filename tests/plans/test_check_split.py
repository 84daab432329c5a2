"""Each pre-flight finding is produced by a plan with exactly that fault; split output passes check."""
from __future__ import annotations

import json

import pytest

from batchcost.plans.check import check_plan
from batchcost.plans.split import split_plan
from batchcost.providers.openai import quotas as limits


def req(i, model="gpt-4o-mini", url="/v1/chat/completions", method="POST", **body):
    body = {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}], **body}
    if url == "/v1/embeddings":
        body = {"model": model, "input": body.pop("input", f"doc {i}")}
    return {"custom_id": f"r{i}", "method": method, "url": url, "body": body}


def codes(path):
    return [(f.code, f.line) for f in check_plan(path)]


def test_clean_plan(write_plan, cli):
    plan = write_plan([req(i) for i in range(1, 4)])
    assert codes(plan) == []
    assert cli("check", plan).returncode == 0


@pytest.mark.parametrize("fault, expected", [
    (lambda lines: lines.__setitem__(2, {**lines[2], "custom_id": "r1"}), [("duplicate-custom-id", 3)]),
    (lambda lines: lines.__setitem__(1, {**lines[1], "method": "GET"}), [("method", 2)]),
    (lambda lines: lines.__setitem__(1, {**lines[1], "url": "/v1/audio/speech"}), [("endpoint", 2)]),
    (lambda lines: lines.__setitem__(2, req(3, url="/v1/responses")), [("mixed-endpoints", 3), ("invalid-body", 3),
                                                                                ("unknown-parameter", 3)]),
    (lambda lines: lines.__setitem__(1, req(2, model="gpt-4o")), [("mixed-models", 2)]),
    (lambda lines: lines.__setitem__(1, {k: v for k, v in lines[1].items() if k != "body"}
                                     | {"body": {"messages": []}}),
     [("malformed", 2)]),
    (lambda lines: lines.__setitem__(0, req(1, model="gpt-4o-mimi")), [("mixed-models", 2), ("mixed-models", 3),
                                                                     ("unknown-model", 1)]),
    (lambda lines: lines.__setitem__(1, req(2, max_tokens=20_000)), [("max-output", 2)]),
])
def test_each_finding(write_plan, fault, expected):
    lines = [req(i) for i in range(1, 4)]
    fault(lines)
    assert sorted(codes(write_plan(lines)), key=str) == sorted(expected, key=str)


def test_context_window(write_plan):
    long = "hello " * 9000  # > 8,192 tokens for gpt-4
    plan = write_plan([req(1, model="gpt-4", messages=[{"role": "user", "content": long}])])
    assert codes(plan) == [("context-window", 1)]
    near = "hello " * 8000  # fits alone, but not with max_tokens 500
    plan = write_plan([req(1, model="gpt-4", messages=[{"role": "user", "content": near}], max_tokens=500)])
    assert codes(plan) == [("context-window", 1)]


def test_too_many_requests(write_plan):
    plan = write_plan([req(i) for i in range(limits.MAX_REQUESTS_PER_FILE + 1)])
    assert codes(plan) == [("too-many-requests", None)]


def test_file_too_large(write_plan, monkeypatch):
    plan = write_plan([req(i) for i in range(3)])
    monkeypatch.setattr(limits, "MAX_BYTES_PER_FILE", plan.stat().st_size - 1)
    assert codes(plan) == [("file-too-large", None)]


def test_embedding_limits(write_plan):
    many = write_plan([req(i, model="text-embedding-3-small", url="/v1/embeddings", input=["x"] * 2001)
                       for i in range(25)])
    assert codes(many) == [("too-many-embedding-inputs", None)]
    long = write_plan([req(1, model="text-embedding-3-small", url="/v1/embeddings", input=["hello " * 8200])],
                      name="long.jsonl")
    assert codes(long) == [("input-too-long", 1)]
    wide = write_plan([req(1, model="text-embedding-3-small", url="/v1/embeddings", input=["x"] * 2049)],
                      name="wide.jsonl")
    assert codes(wide) == [("too-many-inputs", 1)]


def test_check_cli_json_and_exit(write_plan, cli):
    plan = write_plan([req(1), req(1)])
    out = cli("check", plan, "--format", "json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["ok"] is False and report["findings"][0]["code"] == "duplicate-custom-id"
    text = cli("check", plan)
    assert f"{plan}:2: custom_id 'r1' was already used on line 1" in text.stdout


def test_split_waves_pass_check_and_keep_order(write_plan, tmp_path, cli):
    lines = [req(i) for i in range(10)] + [req(i, model="text-embedding-3-small", url="/v1/embeddings")
                                           for i in range(10, 14)]
    lines.insert(3, req(99, model="text-embedding-3-small", url="/v1/embeddings"))
    plan = write_plan(lines)
    out = cli("split", plan, "--out-dir", tmp_path / "waves", "--max-requests", "4")
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "waves").glob("*.jsonl"))
    assert [f.name for f in files] == [
        "plan.gpt-4o-mini.wave-001.jsonl", "plan.gpt-4o-mini.wave-002.jsonl", "plan.gpt-4o-mini.wave-003.jsonl",
        "plan.text-embedding-3-small.wave-001.jsonl", "plan.text-embedding-3-small.wave-002.jsonl"]
    ids = {}
    for f in files:
        assert list(check_plan(f)) == []
        ids[f.name] = [json.loads(x)["custom_id"] for x in f.read_text().splitlines()]
        assert len(ids[f.name]) <= 4
    chat_ids = sum((ids[n] for n in sorted(ids) if "gpt-4o-mini" in n), [])
    assert chat_ids == [f"r{i}" for i in range(10)]
    # lines are copied byte for byte
    assert files[0].read_text().splitlines()[0] == json.dumps(lines[0])
    assert not list((tmp_path / "waves").glob(".batchcost-split-*"))


def test_split_by_bytes_and_tokens(write_plan, tmp_path):
    plan = write_plan([req(i) for i in range(20)])
    size = plan.stat().st_size
    waves = split_plan(plan, tmp_path / "b", max_bytes=size // 3)
    assert len(waves) >= 3 and all(w.nbytes <= size // 3 for w in waves)
    waves = split_plan(plan, tmp_path / "t", max_enqueued_tokens=30)
    assert all(w.input_tokens <= 30 for w in waves) and sum(w.requests for w in waves) == 20


def test_split_is_whole_or_nothing(write_plan, tmp_path, cli):
    plan = write_plan([req(i) for i in range(6)] + ['{"broken": '])
    out = cli("split", plan, "--out-dir", tmp_path / "w", "--max-requests", "2")
    assert out.returncode == 1 and f"{plan}:7:" in out.stderr
    assert list((tmp_path / "w").iterdir()) == []
