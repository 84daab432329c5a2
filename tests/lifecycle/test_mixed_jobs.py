"""One approval for a job whose files are of two providers: approve books their sum, submit sends each file to its
own provider (aimock for OpenAI, the loopback Message Batches server for Anthropic, each through its real SDK),
and wait, status and download follow every wave through its own provider's client."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.anthropic_server import MessageBatchesServer
from tests.conftest import PLANTED_KEY, ROOT, ledger_rows

EMAILS = ROOT / "examples" / "compare" / "support_emails.jsonl"


@pytest.fixture
def claude_service(monkeypatch):
    server = MessageBatchesServer().start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    yield server
    server.stop()


@pytest.fixture
def two_files(cli, tmp_path):
    """The email task cut in two: the first half for OpenAI, the rest written for Claude."""
    lines = EMAILS.read_text().splitlines(keepends=True)
    openai_half, rest = tmp_path / "a_openai.jsonl", tmp_path / "rest.jsonl"
    openai_half.write_text("".join(lines[: len(lines) // 2]))
    rest.write_text("".join(lines[len(lines) // 2:]))
    claude_half = tmp_path / "b_claude.jsonl"
    made = cli("convert", rest, "--to", "anthropic", "--model", "claude-haiku-4-5", "-o", claude_half)
    assert made.returncode == 0, made.stderr
    return openai_half, claude_half


def test_one_approval_covers_a_job_whose_waves_go_to_two_providers(aimock, claude_service, cli, two_files,
                                                                    tmp_path):
    a, b = two_files
    approval = tmp_path / "approval.json"
    made = cli("approve", a, b, "--budget", "1", "--by", "Alice Example", "-o", approval)
    assert made.returncode == 0, made.stderr
    record = json.loads(approval.read_text())
    assert record["plan"]["providers"] == ["openai", "anthropic"]
    assert [f["provider"] for f in record["plan"]["files"]] == ["openai", "anthropic"]
    alone = [json.loads(cli("estimate", f, "--format", "json").stdout)["cost"]["batch"]["high"] for f in (a, b)]
    assert Decimal(record["estimate"]["cost"]["batch"]["high"]) == sum(map(Decimal, alone))

    sub = cli("submit", a, b, "--approval", approval, "--format", "json")
    assert sub.returncode == 0, sub.stderr
    job = json.loads(sub.stdout)["job"]
    rows = ledger_rows("SELECT * FROM submissions ORDER BY wave")
    assert [r["provider"] for r in rows] == ["openai", "anthropic"] and all(r["state"] == "created" for r in rows)
    assert rows[0]["base_url"] == aimock.base_url and rows[1]["base_url"] != aimock.base_url
    assert len(aimock.calls("POST", "/v1/batches")) == 1 and len(claude_service.batches) == 1

    waited = cli("wait", job, "--poll-interval", "0.05", "--format", "json")
    assert waited.returncode == 0, waited.stderr
    assert {w["status"] for w in json.loads(waited.stdout)["batches"]} == {"completed"}
    status = cli("status", job, "--format", "json")
    assert status.returncode == 0 and len(json.loads(status.stdout)["batches"]) == 2
    got = cli("download", job, "--out", tmp_path / "out", "--format", "json")
    assert got.returncode == 0, got.stderr
    outputs = [Path(f["path"]) for f in json.loads(got.stdout) if f["kind"] == "output"]
    assert len(outputs) == 2
    for plan, output in zip((a, b), outputs):  # each file reconciles against its own provider's results
        rec = cli("reconcile", plan, "--results", output, "--format", "json")
        assert rec.returncode == 0, rec.stderr
        assert json.loads(rec.stdout)["requests"]["succeeded"] == len(plan.read_text().splitlines())
    whole = cli("reconcile", "--job", job)
    assert whole.returncode == 2 and "--batch" in whole.stderr  # each file with its own wave, said how
    by_batch = cli("reconcile", b, "--batch", rows[1]["batch_id"], "--format", "json")
    assert by_batch.returncode == 0, by_batch.stderr
    again = cli("submit", a, b, "--approval", approval, "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False  # never twice
    assert PLANTED_KEY not in "".join(o.stdout + o.stderr for o in (made, sub, waited, status, got, again))


def test_a_changed_file_of_a_two_provider_job_is_refused_by_name(aimock, claude_service, cli, two_files, tmp_path):
    a, b = two_files
    approval = tmp_path / "approval.json"
    assert cli("approve", a, b, "--budget", "1", "--by", "Alice", "-o", approval).returncode == 0
    b.write_text(b.read_text() + "\n")  # one byte more: the same requests, not the approved bytes
    out = cli("submit", a, b, "--approval", approval)
    assert out.returncode == 3 and "b_claude.jsonl" in out.stderr
    assert aimock.journal() == [] and claude_service.batches == {}
    base = cli("submit", a, b, "--approval", approval, "--base-url", aimock.base_url)
    assert base.returncode in (2, 3)
