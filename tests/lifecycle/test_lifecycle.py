"""Approve -> submit -> wait -> download against a real local Batch API server (aimock) and the real SDK."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import openai
import pytest

from batchcost.cli.app import main
from tests.conftest import PLANTED_KEY
from tests.conftest import ledger_rows as conftest_rows

CHAT = Path("examples/reviews_sentiment.jsonl")
EMBED = Path("examples/docs_embeddings.jsonl")


def approve(cli, plan, tmp_path, budget="1"):
    out = tmp_path / f"{Path(plan).stem}.approval.json"
    result = cli("approve", plan, "--budget", budget, "--by", "Alice Example", "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def submit(cli, plan, approval, *extra):
    return cli("submit", plan, "--approval", approval, "--format", "json", *extra)


def ledger_rows(tmp_path, table="submissions"):
    return conftest_rows(f"SELECT * FROM {table} ORDER BY id")


def everything_written(tmp_path, *outputs) -> str:
    text = "".join(o.stdout + o.stderr for o in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text += path.read_bytes().decode("utf-8", "replace")
    return text


@pytest.mark.parametrize("plan, lines", [(CHAT, 8), (EMBED, 3)])
def test_whole_lifecycle(aimock, cli, tmp_path, plan, lines):
    approval = approve(cli, plan, tmp_path)
    sub = submit(cli, plan, approval)
    assert sub.returncode == 0, sub.stderr
    [wave] = json.loads(sub.stdout)["batches"]
    batch_id = wave["id"]
    assert wave["requests"] == lines and json.loads(sub.stdout)["created"] is True

    waited = cli("wait", batch_id, "--poll-interval", "0.05", "--format", "json")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "completed"

    out_dir = tmp_path / "results"
    got = cli("download", batch_id, "--out", out_dir, "--format", "json")
    assert got.returncode == 0, got.stderr
    [output] = json.loads(got.stdout)
    results = [json.loads(x) for x in Path(output["path"]).read_text().splitlines()]
    planned = [json.loads(x)["custom_id"] for x in plan.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in results) == sorted(planned)
    assert not list(out_dir.glob(".*.tmp"))

    again = cli("download", batch_id, "--out", out_dir, "--format", "json")  # re-downloading is safe
    assert again.returncode == 0 and json.loads(again.stdout)[0]["sha256"] == output["sha256"]

    # the ledger recorded every step; the server saw exactly one upload and one create
    [row] = ledger_rows(tmp_path)
    assert row["batch_id"] == batch_id and row["state"] == "created" and row["status"] == "completed"
    statuses = [e["status"] for e in ledger_rows(tmp_path, "events")]
    assert statuses[0] == "validating" and statuses[-1] == "completed" and "in_progress" in statuses
    assert len(ledger_rows(tmp_path, "downloads")) == 2
    assert len(aimock.calls("POST", "/v1/files")) == 1 and len(aimock.calls("POST", "/v1/batches")) == 1
    # the uploaded bytes are the approved plan's bytes
    approved = json.loads(approval.read_text())
    assert approved["plan"]["sha256"] == row["plan_sha256"] == row["wave_sha256"]

    status = cli("status", batch_id)
    assert status.returncode == 0 and "completed" in status.stdout
    listed = cli("list")
    assert f"* {batch_id}" in listed.stdout
    assert PLANTED_KEY not in everything_written(tmp_path, sub, waited, got, again, status, listed)


def test_refusals_send_nothing(aimock, cli, tmp_path):
    plan = tmp_path / "plan.jsonl"
    plan.write_bytes(CHAT.read_bytes())
    none = cli("submit", plan)
    assert none.returncode == 3 and "no approval" in none.stderr
    approval = approve(cli, plan, tmp_path)
    plan.write_bytes(CHAT.read_bytes().replace(b"Would buy again", b"Would buy twice"))  # tampered after approval
    tampered = submit(cli, plan, approval)
    assert tampered.returncode == 3 and "has changed since it was approved" in tampered.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"batchcost_approval": 1, "plan": {}}')
    malformed = submit(cli, plan, bad)
    assert malformed.returncode == 3 and "malformed" in malformed.stderr
    yes_no_tty = cli("submit", plan, "--yes", "--budget", "1")
    assert yes_no_tty.returncode == 3 and "terminal" in yes_no_tty.stderr
    over = cli("approve", CHAT, "--budget", "0.0001", "--by", "Bob", "-o", tmp_path / "over.json")
    assert over.returncode == 3 and not (tmp_path / "over.json").exists()
    assert aimock.journal() == []
    for out in (none, tampered, malformed, yes_no_tty, over):
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_second_submit_reports_the_existing_batch(aimock, cli, tmp_path):
    approval = approve(cli, CHAT, tmp_path)
    first = json.loads(submit(cli, CHAT, approval).stdout)["batches"]
    second = submit(cli, CHAT, approval)
    assert second.returncode == 0 and "already submitted" in second.stderr
    assert json.loads(second.stdout)["batches"][0]["id"] == first[0]["id"]
    assert len(aimock.calls("POST", "/v1/batches")) == 1
    third = json.loads(submit(cli, CHAT, approval, "--resubmit").stdout)["batches"]
    assert third[0]["id"] != first[0]["id"] and third[0]["attempt"] == 2
    assert len(aimock.calls("POST", "/v1/batches")) == 2


def _run_in_process(*args) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:  # typer turns an interrupt into exit 130
        return exc.code


def test_resume_after_kill_between_upload_and_create(aimock, cli, tmp_path, monkeypatch):
    approval = approve(cli, CHAT, tmp_path)
    from batchcost.providers.openai import client as client_module

    def killed(*a, **k):
        raise KeyboardInterrupt  # the process dies right after the upload was recorded

    monkeypatch.setattr(client_module.OpenAIBatchClient, "create_batch", killed)
    assert _run_in_process("submit", CHAT, "--approval", approval) == 130
    [row] = ledger_rows(tmp_path)
    assert row["state"] == "uploaded" and row["file_id"] and row["batch_id"] is None
    import os

    ledger_url = os.environ.get("BATCHCOST_LEDGER_URL")
    monkeypatch.undo()
    for key, value in aimock.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BATCHCOST_HOME", str(tmp_path / "home"))
    if ledger_url:  # the PostgreSQL run: the same team ledger
        monkeypatch.setenv("BATCHCOST_LEDGER_URL", ledger_url)
    resumed = submit(cli, CHAT, approval)
    assert resumed.returncode == 0, resumed.stderr
    assert len(aimock.calls("POST", "/v1/files")) == 1 and len(aimock.calls("POST", "/v1/batches")) == 1
    assert json.loads(resumed.stdout)["batches"][0]["file_id"] == row["file_id"]


def test_resume_after_kill_between_create_and_ledger(aimock, cli, tmp_path, monkeypatch):
    """The batch was created but the process died before the ledger heard: it is found, not created again."""
    approval = approve(cli, CHAT, tmp_path)
    from batchcost.lifecycle import ledger as ledger_module

    original = ledger_module.Ledger.update

    def dies_on_created(self, submission, **fields):
        if fields.get("state") == "created":
            raise KeyboardInterrupt
        return original(self, submission, **fields)

    monkeypatch.setattr(ledger_module.Ledger, "update", dies_on_created)
    assert _run_in_process("submit", CHAT, "--approval", approval) == 130
    monkeypatch.setattr(ledger_module.Ledger, "update", original)
    resumed = submit(cli, CHAT, approval)
    assert resumed.returncode == 0, resumed.stderr
    assert "found the batch created before" in resumed.stderr
    assert len(aimock.calls("POST", "/v1/batches")) == 1


def _create_with_outcome(aimock, outcome: str) -> str:
    sdk = openai.OpenAI(api_key=PLANTED_KEY, base_url=aimock.base_url)
    uploaded = sdk.files.create(file=("p.jsonl", CHAT.read_bytes()), purpose="batch")
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                               extra_headers={"X-AIMock-Batch-Outcome": outcome})
    return batch.id


@pytest.mark.parametrize("outcome", ["failed", "expired", "cancelled"])
def test_unhappy_endings_are_reported_and_results_still_downloaded(aimock, cli, tmp_path, outcome):
    batch_id = _create_with_outcome(aimock, outcome)
    waited = cli("wait", batch_id, "--poll-interval", "0.05")
    assert waited.returncode == 4
    assert f"batch {batch_id} ended {outcome}" in waited.stderr and "Traceback" not in waited.stderr
    got = cli("download", batch_id, "--out", tmp_path / "r", "--format", "json")
    assert got.returncode == 0, got.stderr
    files = json.loads(got.stdout)
    if outcome == "failed":  # aimock writes the failed lines to an error file
        [error_file] = files
        assert error_file["kind"] == "error"
        assert len(Path(error_file["path"]).read_text().splitlines()) == 8


def _clear_chaos_after_first(aimock, status: int, path: str, stop: threading.Event):
    while not stop.is_set():
        if any(e["path"] == path and e.get("response", {}).get("status") == status for e in aimock.journal()):
            aimock.calm()
            return
        time.sleep(0.02)


@pytest.mark.parametrize("fault, status, path", [
    ({"rateLimitRate": 1}, 429, "/v1/files"),
    ({"dropRate": 1}, 500, "/v1/files"),
])
def test_transient_faults_are_retried(aimock, cli, tmp_path, fault, status, path):
    approval = approve(cli, CHAT, tmp_path)
    aimock.chaos(**fault)
    stop = threading.Event()
    watcher = threading.Thread(target=_clear_chaos_after_first, args=(aimock, status, path, stop))
    watcher.start()
    try:
        result = submit(cli, CHAT, approval)
    finally:
        stop.set()
        watcher.join()
    assert result.returncode == 0, result.stderr
    uploads = aimock.calls("POST", "/v1/files")
    assert uploads[0]["response"]["status"] == status and uploads[-1]["response"]["status"] == 200
    assert len([c for c in aimock.calls("POST", "/v1/batches") if c["response"]["status"] == 200]) == 1


def test_transient_fault_on_create_is_retried_once(aimock, cli, tmp_path, monkeypatch):
    """429 on the create itself: batchcost looks for the batch, then creates it once."""
    approval = approve(cli, CHAT, tmp_path)
    from batchcost.providers.openai import client as client_module

    real_upload = client_module.OpenAIBatchClient.upload
    stop = threading.Event()
    watcher = threading.Thread(target=_clear_chaos_after_first, args=(aimock, 429, "/v1/batches", stop))

    def upload_then_arm(self, path, filename):
        file_id = real_upload(self, path, filename)
        aimock.chaos(rateLimitRate=1)  # the next call, the create, meets a 429
        watcher.start()
        return file_id

    monkeypatch.setattr(client_module.OpenAIBatchClient, "upload", upload_then_arm)
    try:
        assert _run_in_process("submit", CHAT, "--approval", approval) == 0
    finally:
        stop.set()
        watcher.join()
    creates = aimock.calls("POST", "/v1/batches")
    assert [c["response"]["status"] for c in creates] == [429, 200]


def test_create_whose_answer_was_lost_is_not_repeated(aimock, cli, tmp_path, monkeypatch):
    """The server created the batch but the answer never arrived: it is found, not created a second time."""
    approval = approve(cli, CHAT, tmp_path)
    from batchcost.core.errors import RemoteError
    from batchcost.providers.openai import client as client_module

    real_create = client_module.OpenAIBatchClient.create_batch

    def create_then_lose_answer(self, *args, **kwargs):
        real_create(self, *args, **kwargs)
        error = RemoteError("creating the batch failed: connection dropped")
        error.transient = True
        raise error

    monkeypatch.setattr(client_module.OpenAIBatchClient, "create_batch", create_then_lose_answer)
    assert _run_in_process("submit", CHAT, "--approval", approval) == 0
    assert len(aimock.calls("POST", "/v1/batches")) == 1
    [row] = ledger_rows(tmp_path)
    assert row["state"] == "created" and row["batch_id"]


def test_persistent_failure_exits_4_with_one_line(aimock, cli, tmp_path):
    approval = approve(cli, CHAT, tmp_path)
    aimock.chaos(dropRate=1)
    result = cli("submit", CHAT, "--approval", approval, "--max-retries", "1")
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("batchcost: error: uploading") and "HTTP 500" in lines[-1]
    assert "Traceback" not in result.stderr and PLANTED_KEY not in result.stderr
    [row] = ledger_rows(tmp_path)
    assert row["state"] == "new"  # recorded, not uploaded: a rerun continues from here
    aimock.calm()
    rerun = submit(cli, CHAT, approval)
    assert rerun.returncode == 0, rerun.stderr
    assert len([c for c in aimock.calls("POST", "/v1/batches") if c["response"]["status"] == 200]) == 1


def test_missing_key_is_a_usage_error(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = cli("status")
    assert result.returncode == 0  # the ledger needs no key
    result = cli("list")
    assert result.returncode == 2 and "OPENAI_API_KEY is not set" in result.stderr


def test_scrub_removes_keys():
    from batchcost.providers.sdk import scrub

    text = f"Incorrect API key provided: {PLANTED_KEY}. Authorization: Bearer {PLANTED_KEY}"
    cleaned = scrub(text, PLANTED_KEY)
    assert PLANTED_KEY not in cleaned and "PLANTED" not in cleaned
    assert "sk-abc***" in scrub("key sk-abcdefghijklmnop", None)


def test_plan_over_the_limits_is_submitted_in_waves(aimock, cli, tmp_path, monkeypatch):
    from batchcost.providers.openai import quotas

    approval = approve(cli, CHAT, tmp_path)
    monkeypatch.setattr(quotas, "MAX_REQUESTS_PER_FILE", 3)  # 8 requests -> waves of 3, 3, 2
    assert _run_in_process("submit", CHAT, "--approval", approval) == 0
    rows = ledger_rows(tmp_path)
    assert [(r["wave"], r["waves"], r["requests"]) for r in rows] == [(1, 3, 3), (2, 3, 3), (3, 3, 2)]
    assert all(r["state"] == "created" for r in rows) and len({r["batch_id"] for r in rows}) == 3
    uploads = aimock.calls("POST", "/v1/files")
    assert len(uploads) == 3
    # every planned request went into exactly one wave, in order
    ids = []
    for r in rows:
        ids += [json.loads(x)["custom_id"] for x in Path(r["wave_path"]).read_text().splitlines()]
    assert ids == [json.loads(x)["custom_id"] for x in CHAT.read_text().splitlines()]


def _run_on_a_terminal(args: list[str], answer: str, env: dict) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, answer its question, return (exit code, everything it showed)."""
    import os
    import pty
    import sys

    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command line, on a terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "batchcost", *args], {**os.environ, **env})
    seen, answered = b"", False
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"Type yes to submit" in seen:
            os.write(fd, answer.encode() + b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")


def test_yes_without_approval_needs_budget_and_a_typed_confirmation(aimock, tmp_path):
    env = {"BATCHCOST_HOME": str(tmp_path / "home"), **aimock.env()}
    code, shown = _run_on_a_terminal(["submit", str(CHAT), "--yes", "--budget", "1"], "no", env)
    assert code == 3 and "not confirmed" in shown and aimock.journal() == []
    code, shown = _run_on_a_terminal(["submit", str(CHAT), "--yes"], "yes", env)
    assert code == 3 and "needs --budget" in shown and aimock.journal() == []
    code, shown = _run_on_a_terminal(["submit", str(CHAT), "--yes", "--budget", "0.00001"], "yes", env)
    assert code == 3 and "exceeds the budget" in shown
    code, shown = _run_on_a_terminal(["submit", str(CHAT), "--yes", "--budget", "1"], "yes", env)
    assert code == 0, shown
    assert len(aimock.calls("POST", "/v1/batches")) == 1


def test_credentials_in_the_base_url_are_never_shown(monkeypatch):
    from batchcost.providers.openai.client import OpenAIBatchClient as BatchClient

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    client = BatchClient(base_url=f"http://user:{PLANTED_KEY}@127.0.0.1:1/v1")
    assert client.base_url == "http://127.0.0.1:1/v1"
