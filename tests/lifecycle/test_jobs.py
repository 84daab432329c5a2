"""A job: one approved plan of any size, its waves created in order under the queue cap, followed, downloaded,
cancelled and reconciled as one thing, against a real local Batch API server (aimock) through the real SDK."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from batchcost.plans.counts import count_plan
from tests.conftest import ledger_rows


def _plan(write_plan, n=30, name="plan.jsonl"):
    rows = [{"custom_id": f"r{i:03d}", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "gpt-4o-mini", "max_tokens": 20,
                      "messages": [{"role": "user", "content": f"Classify review number {i:03d}: fine."}]}}
            for i in range(n)]
    plan = write_plan(rows, name=name)
    tokens = [r.input_tokens for r in count_plan(plan)]
    assert len(set(tokens)) == 1  # every request the same size: a cap of 10 requests' tokens makes waves of 10
    return plan, tokens[0]


def _approve(cli, plan, tmp_path, budget="5"):
    out = tmp_path / "approval.json"
    result = cli("approve", plan, "--budget", budget, "--by", "Alice", "-o", out)
    assert result.returncode == 0, result.stderr
    return out


def _rows(tmp_path, query="SELECT * FROM submissions ORDER BY wave"):
    return ledger_rows(query)


def _creates(aimock):
    return [c for c in aimock.calls("POST", "/v1/batches") if c["response"]["status"] == 200]


def test_waves_are_created_one_at_a_time_under_the_cap_and_reconciled_as_one(aimock, cli, write_plan, tmp_path):
    plan, per_request = _plan(write_plan)
    approval = _approve(cli, plan, tmp_path)
    cap = 10 * per_request
    out = cli("submit", plan, "--approval", approval, "--max-enqueued-tokens", str(cap), "--format", "json")
    assert out.returncode == 0, out.stderr
    submitted = json.loads(out.stdout)
    waves, job = submitted["batches"], submitted["job"]
    assert job.startswith("job-") and [w["waves"] for w in waves] == [3, 3, 3] and submitted["created"]
    assert [w["status"] for w in waves][1:] == ["held", "held"] and len(_creates(aimock)) == 1
    assert "2 held under the queue cap" in out.stderr
    status = cli("status", job, "--format", "json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["job"] == job and doc["total"]["requests"] == 30 and len(doc["batches"]) == 3
    assert doc["batches"][0]["id"] == waves[0]["id"] and doc["batches"][1]["id"] is None
    out = cli("wait", job, "--poll-interval", "0.01", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["total"] == {"requests": 30, "completed": 30, "failed": 0}
    assert [w["status"] for w in doc["batches"]] == ["completed"] * 3
    # the order on the server: wave k+1 was created only after a poll saw wave k completed
    journal = aimock.journal()
    rows = _rows(tmp_path)
    for earlier, later in zip(rows, rows[1:]):
        seen_done = [i for i, e in enumerate(journal) if e["method"] == "GET"
                     and e["path"] == f"/v1/batches/{earlier['batch_id']}"]
        created = [i for i, e in enumerate(journal) if e["method"] == "POST" and e["path"] == "/v1/batches"
                   and e["response"]["status"] == 200]
        assert created[later["wave"] - 1] > seen_done[0]
    events = _rows(tmp_path, "SELECT id, batch_id, status FROM events ORDER BY id")
    for earlier, later in zip(rows, rows[1:]):
        done = min(e["id"] for e in events if e["batch_id"] == earlier["batch_id"] and e["status"] == "completed")
        first = min(e["id"] for e in events if e["batch_id"] == later["batch_id"])
        assert done < first
    assert len(_creates(aimock)) == 3
    # every wave holds its share of the plan, in order, and never more than the cap
    assert [r["requests"] for r in rows] == [10, 10, 10] and all(r["input_tokens"] <= cap for r in rows)
    # one reconcile for the whole job: the sum of its waves
    out = cli("reconcile", "--job", job, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    whole = json.loads(out.stdout)
    assert whole["requests"]["succeeded"] == 30
    parts = []
    for row in rows:
        part = cli("reconcile", "--batch", row["batch_id"], "--format", "json", "--no-calibrate")
        assert part.returncode == 0, part.stderr
        parts.append(json.loads(part.stdout))
    assert Decimal(whole["actual"]["cost"]) == sum(Decimal(p["actual"]["cost"]) for p in parts)
    assert whole["actual"]["input_tokens"] == sum(p["actual"]["input_tokens"] for p in parts)
    # download fetches every wave's files
    out = cli("download", job, "--out", tmp_path / "all", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert sorted(f["kind"] for f in json.loads(out.stdout)).count("output") == 3


def test_a_plan_that_fits_one_batch_is_a_job_of_one_wave_and_a_resubmit_reports_it(aimock, cli, write_plan,
                                                                                    tmp_path):
    plan, _ = _plan(write_plan, n=7)
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    [wave] = doc["batches"]
    assert wave["waves"] == 1 and doc["job"].startswith("job-") and len(_creates(aimock)) == 1
    again = cli("submit", plan, "--approval", approval, "--format", "json")
    assert again.returncode == 0 and "already submitted" in again.stderr and len(_creates(aimock)) == 1
    assert json.loads(again.stdout)["job"] == doc["job"] and json.loads(again.stdout)["created"] is False


def test_a_configured_cap_per_model_paces_the_job(aimock, cli, write_plan, tmp_path):
    plan, per_request = _plan(write_plan, n=20)
    approval = _approve(cli, plan, tmp_path)
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "config.yaml").write_text(f"max_enqueued_tokens:\n  gpt-4o-mini: {10 * per_request}\n")
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert [w["status"] for w in json.loads(out.stdout)["batches"]][1:] == ["held"] and len(_creates(aimock)) == 1
    (tmp_path / "home" / "config.yaml").write_text("max_enqueued_tokens: [1, 2]\n")
    bad = cli("submit", plan, "--approval", approval, "--resubmit")
    assert bad.returncode == 2 and "config.yaml" in bad.stderr and "Traceback" not in bad.stderr


def test_cancel_a_job_cancels_running_waves_and_never_creates_the_held_ones(aimock, cli, write_plan, tmp_path):
    plan, per_request = _plan(write_plan)
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--max-enqueued-tokens", str(10 * per_request))
    assert out.returncode == 0, out.stderr
    job = _rows(tmp_path)[0]
    job_id = f"job-{job['plan_sha256'][:12]}-1"
    out = cli("cancel", job_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [w["status"] for w in doc["batches"]][1:] == ["cancelled", "cancelled"]
    out = cli("wait", job_id, "--poll-interval", "0.01")
    assert len(_creates(aimock)) == 1  # the held waves were never created
    assert out.returncode in (0, 4) and "Traceback" not in out.stderr


def test_a_wave_refused_for_the_queue_limit_is_held_and_made_again(aimock, cli, write_plan, tmp_path, monkeypatch):
    """The Batch API fails a batch over the enqueued-token cap at validation (token_limit_exceeded): the wave is
    made again when the queue drains, under a new tag, and is not reported failed."""
    from batchcost import providers

    openai_provider = providers.get("openai")

    assert openai_provider.queue_refused({"status": "failed", "errors": {"data": [
        {"code": "token_limit_exceeded", "message": "Enqueued token limit reached"}]}})
    assert not openai_provider.queue_refused({"status": "failed", "errors": {"data": [{"code": "invalid_json"}]}})
    assert not openai_provider.queue_refused({"status": "completed"})
    from batchcost.lifecycle import waves as lifecycle
    from batchcost.lifecycle.ledger import Ledger

    plan, per_request = _plan(write_plan, n=10)
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    refused_once = {"done": False}
    real = openai_provider.queue_refused

    def refuse_first(batch):
        if not refused_once["done"] and batch.get("status") == "completed":
            refused_once["done"] = True
            return True
        return real(batch)

    monkeypatch.setattr(type(openai_provider), "queue_refused", lambda self, batch: refuse_first(batch))
    monkeypatch.setenv("BATCHCOST_HOME", str(tmp_path / "home"))
    for key, value in aimock.env().items():
        monkeypatch.setenv(key, value)
    ledger = Ledger()
    job = ledger.job(json.loads(out.stdout)["job"])
    from batchcost.providers.openai.client import OpenAIBatchClient as BatchClient

    subs = lifecycle.wait_job(job, BatchClient(), ledger, poll_interval=0.01, sleep=lambda s: None)
    assert [s.status for s in subs] == ["completed"] and subs[0].tries == 1
    assert len(_creates(aimock)) == 2  # the refused batch, and the wave made again under a tag of its own
    import openai

    sdk = openai.OpenAI(api_key=aimock.env()["OPENAI_API_KEY"], base_url=aimock.base_url)
    tags = sorted(b.metadata["batchcost_submission"] for b in sdk.batches.list())
    assert tags[1] == f"{tags[0]}:1"


def _in_process(*args) -> int:
    from batchcost.cli.app import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def test_a_held_wave_killed_between_its_steps_is_resumed_never_made_twice(aimock, cli, write_plan, tmp_path,
                                                                           monkeypatch):
    from batchcost.lifecycle import ledger as ledger_module
    from batchcost.providers.openai import client as client_module

    plan, per_request = _plan(write_plan)
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--max-enqueued-tokens", str(10 * per_request), "--format",
              "json")
    job = json.loads(out.stdout)["job"]
    original_update, original_create = ledger_module.Ledger.update, client_module.OpenAIBatchClient.create_batch

    def dies_when_wave_2_is_created(self, submission, **fields):
        if fields.get("state") == "created" and submission.wave == 2:
            raise KeyboardInterrupt  # the batch exists; the ledger never hears of it
        return original_update(self, submission, **fields)

    monkeypatch.setattr(ledger_module.Ledger, "update", dies_when_wave_2_is_created)
    assert _in_process("wait", job, "--poll-interval", "0.01") == 130
    monkeypatch.setattr(ledger_module.Ledger, "update", original_update)

    def dies_before_wave_3_is_created(self, file_id, endpoint, metadata, **kw):
        if metadata["batchcost_submission"].endswith(":3:1"):
            raise KeyboardInterrupt  # uploaded and recorded; the create never sent
        return original_create(self, file_id, endpoint, metadata, **kw)

    monkeypatch.setattr(client_module.OpenAIBatchClient, "create_batch", dies_before_wave_3_is_created)
    assert _in_process("wait", job, "--poll-interval", "0.01") == 130
    assert [r["state"] for r in _rows(tmp_path)] == ["created", "created", "uploaded"]
    monkeypatch.setattr(client_module.OpenAIBatchClient, "create_batch", original_create)
    done = cli("wait", job, "--poll-interval", "0.01", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["completed"] == 30
    assert len(_creates(aimock)) == 3 and len(aimock.calls("POST", "/v1/files")) == 3


def test_sigkill_at_any_moment_of_the_schedule_then_a_rerun_makes_exactly_three_batches(aimock, write_plan,
                                                                                        tmp_path, cli):
    plan, per_request = _plan(write_plan)
    approval = _approve(cli, plan, tmp_path)
    env = {**os.environ, "BATCHCOST_HOME": str(tmp_path / "home"), **aimock.env()}
    command = [sys.executable, "-m", "batchcost"]
    out = subprocess.run([*command, "submit", plan, "--approval", approval, "--max-enqueued-tokens",
                          str(10 * per_request), "--format", "json"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)["job"]
    # killed as soon as the ledger shows each step of waves 2 and 3 begun (or at once, if it went by unseen)
    for wave, state in ((2, "new"), (2, "uploaded"), (2, "created"), (3, "new"), (3, "uploaded"), (3, "created")):
        proc = subprocess.Popen([*command, "wait", job, "--poll-interval", "0.05"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            rows = {r["wave"]: r["state"] for r in _rows(tmp_path)}
            order = ["held", "new", "uploaded", "created"]
            if order.index(rows.get(wave, "held")) >= order.index(state):
                break
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run([*command, "wait", job, "--poll-interval", "0.05", "--format", "json"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["completed"] == 30
    assert len(_creates(aimock)) == 3
    assert len({r["batch_id"] for r in _rows(tmp_path)}) == 3


def test_a_dataset_of_120000_rows_is_one_plan_one_approval_and_three_waves(aimock, cli, tmp_path, monkeypatch):
    import csv

    from batchcost.lifecycle.waves import plan_waves
    from batchcost.plans.reader import plan_sha256

    data = tmp_path / "reviews.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "product", "rating", "text"])
        writer.writerows([i, "Kettle", 4, f"Review {i}: boils fast."] for i in range(120_000))
    plan = tmp_path / "reviews.jsonl"
    out = cli("plan", data, "--template", "examples/reviews/sentiment.yaml", "-o", plan)
    assert out.returncode == 0, out.stderr
    assert "one job of 3 waves" in out.stderr and out.stdout.split() == [str(plan)]
    approval = _approve(cli, plan, tmp_path, budget="100")
    assert json.loads(approval.read_text())["plan"]["requests"] == 120_000
    monkeypatch.setenv("BATCHCOST_HOME", str(tmp_path / "home"))
    waves = plan_waves(plan, plan_sha256(plan))
    assert [w.requests for w in waves] == [50_000, 50_000, 20_000]
    ids = [json.loads(line)["custom_id"] for w in waves for line in w.path.read_text().splitlines()]
    assert ids == [f"review-{i}" for i in range(120_000)]  # every request once, in the plan's order
    # 120,000 small requests submitted under one approval: three uploads, three batches, one job. (aimock caps a
    # file at 10 MB, so the lines are tiny, and about 24,000 result lines, so these waves are not followed to the
    # end here; the paced tests follow theirs.)
    plan = tmp_path / "small.jsonl"
    plan.write_text("".join(json.dumps({"custom_id": f"q{i}", "method": "POST", "url": "/v1/embeddings", "body": {
        "model": "text-embedding-3-small", "input": "r"}}, separators=(",", ":")) + "\n" for i in range(120_000)))
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    submitted = json.loads(out.stdout)["batches"]
    assert [w["requests"] for w in submitted] == [50_000, 50_000, 20_000]
    assert len({w["id"] for w in submitted}) == 3
    assert len(_creates(aimock)) == 3 and len(aimock.calls("POST", "/v1/files")) == 3


@pytest.mark.parametrize("engine", [[], ["--jobs", "2"]])
def test_plan_over_the_limits_is_written_whole_and_both_engines_say_how_many_waves(cli, tmp_path, engine):
    data = tmp_path / "big.csv"
    data.write_text("id,text\n" + "".join(f"{i},row {i}\n" for i in range(50_001)))
    template = tmp_path / "t.yaml"
    template.write_text("endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: \"r-{id}\"\nbody:\n"
                        "  messages: [{role: user, content: \"{text}\"}]\n")
    out = cli("plan", data, "-t", template, "-o", tmp_path / "o.jsonl", *engine)
    assert out.returncode == 0, out.stderr
    assert "wrote 50,001 requests" in out.stderr and "one job of 2 waves" in out.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 50_001


# -- a job of several files, or a folder of waves -------------------------------------------------------------
def _file(tmp_path, name, start, n, model="gpt-4o-mini"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"custom_id": f"r{i:03d}", "method": "POST", "url": "/v1/chat/completions",
                                        "body": {"model": model, "max_tokens": 20, "messages": [
                                            {"role": "user", "content": f"Classify review number {i:03d}: fine."}]}})
                            + "\n" for i in range(start, start + n)))
    return path


def test_several_files_are_one_job_estimated_approved_and_submitted_once(aimock, cli, tmp_path):
    a, b = _file(tmp_path, "a.jsonl", 0, 4), _file(tmp_path, "b.jsonl", 4, 3)
    whole = _file(tmp_path, "whole.jsonl", 0, 7)
    one = json.loads(cli("estimate", whole, "--format", "json").stdout)
    out = cli("estimate", a, b, "--format", "json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["plan"]["requests"] == 7 and job["cost"] == one["cost"] and job["input_tokens"] == one["input_tokens"]
    assert job["plan"]["sha256"] == one["plan"]["sha256"]  # the job's bytes, in order, are the whole plan's
    assert [(f["path"], f["lines"]) for f in job["plan"]["files"]] == [(str(a), 4), (str(b), 3)]
    approval = tmp_path / "approval.json"
    out = cli("approve", a, b, "--budget", "1", "--by", "Alice", "-o", approval)
    assert out.returncode == 0, out.stderr
    listed = json.loads(approval.read_text())["plan"]["files"]
    assert [f["path"] for f in listed] == [str(a), str(b)] and all(len(f["sha256"]) == 64 for f in listed)
    out = cli("submit", a, b, "--approval", approval, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert len(_creates(aimock)) == 1 and json.loads(out.stdout)["batches"][0]["requests"] == 7
    b.write_text(b.read_text().replace("fine", "good"))
    out = cli("submit", a, b, "--approval", approval, "--resubmit")
    assert out.returncode == 3 and "b.jsonl has changed" in out.stderr and len(_creates(aimock)) == 1


def test_a_job_names_the_file_and_line_of_what_is_wrong(cli, tmp_path):
    a, b = _file(tmp_path, "a.jsonl", 0, 3), _file(tmp_path, "b.jsonl", 2, 3)  # r002 is in both
    out = cli("check", a, b, "--format", "json")
    assert out.returncode == 1
    [dup] = [f for f in json.loads(out.stdout)["findings"] if f["code"] == "duplicate-custom-id"]
    assert (dup["file"], dup["line"]) == (str(b), 1)
    text = cli("check", a, b)
    assert f"{b}:1: custom_id 'r002' was already used" in text.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(a.read_text() + "{not json\n")
    out = cli("estimate", b, bad)
    assert out.returncode == 1 and f"{bad}:4:" in out.stderr and "Traceback" not in out.stderr
    out = cli("estimate", a, a)
    assert out.returncode == 2 and "named twice" in out.stderr


def test_a_folder_of_waves_is_the_job_its_plan_was(cli, tmp_path):
    plan = _file(tmp_path, "plan.jsonl", 0, 9)
    assert cli("split", plan, "--max-requests", "4", "--out-dir", tmp_path / "waves").returncode == 0
    whole = json.loads(cli("estimate", plan, "--format", "json").stdout)
    out = cli("estimate", tmp_path / "waves", "--format", "json")
    assert out.returncode == 0, out.stderr
    folder = json.loads(out.stdout)
    assert folder["cost"] == whole["cost"] and len(folder["plan"]["files"]) == 3
    out = cli("count", tmp_path / "waves", "--format", "jsonl")
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["custom_id"] for r in records] == [f"r{i:03d}" for i in range(9)]
    waves = sorted((tmp_path / "waves").glob("*.jsonl"))
    assert [(r["file"], r["line"]) for r in records] == [(str(w), n) for w in waves
                                                         for n in range(1, len(w.read_text().splitlines()) + 1)]


def test_reconcile_takes_the_files_of_a_job_and_names_their_lines(aimock, cli, tmp_path):
    a, b = _file(tmp_path, "a.jsonl", 0, 3), _file(tmp_path, "b.jsonl", 3, 2)
    approval = tmp_path / "approval.json"
    assert cli("approve", a, b, "--budget", "1", "--by", "Alice", "-o", approval).returncode == 0
    batch_id = json.loads(cli("submit", a, b, "--approval", approval, "--format", "json").stdout)["batches"][0]["id"]
    assert cli("wait", batch_id, "--poll-interval", "0.01").returncode == 0
    assert cli("download", batch_id, "--out", tmp_path / "r").returncode == 0
    results = tmp_path / "r" / f"{batch_id}_output.jsonl"
    out = cli("reconcile", a, b, "--results", results, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["requests"]["succeeded"] == 5
    # a plan that is only part of the job: the other file's results are named, the rest reconciled
    out = cli("reconcile", a, "--results", results, "--format", "json", "--no-calibrate")
    assert out.returncode == 1 and "custom_id 'r003' is not in the plan" in out.stderr
    assert json.loads(out.stdout)["requests"]["succeeded"] == 3


def test_two_waits_on_one_job_at_once_make_each_wave_once(aimock, cli, write_plan, tmp_path):
    plan, per_request = _plan(write_plan)
    approval = _approve(cli, plan, tmp_path)
    out = cli("submit", plan, "--approval", approval, "--max-enqueued-tokens", str(10 * per_request), "--format",
              "json")
    job = json.loads(out.stdout)["job"]
    env = {**os.environ, "BATCHCOST_HOME": str(tmp_path / "home"), **aimock.env()}
    procs = [subprocess.Popen([sys.executable, "-m", "batchcost", "wait", job, "--poll-interval", "0.02"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert len(_creates(aimock)) == 3 and len(aimock.calls("POST", "/v1/files")) == 3


def test_cost_so_far_prices_the_usage_a_batch_object_reports_exactly():
    from openai.types import Batch

    from batchcost.cli.batch import cost_so_far

    batch = Batch.model_validate({
        "id": "batch_1", "completion_window": "24h", "created_at": 1, "endpoint": "/v1/chat/completions",
        "input_file_id": "file-1", "object": "batch", "status": "in_progress",
        "usage": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 200}, "output_tokens": 500,
                  "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 1500}}).model_dump()
    # gpt-4o-mini at batch prices: $0.075 input, $0.0375 cached input, $0.30 output per 1M
    assert cost_so_far(batch, "gpt-4o-mini") == (800 * Decimal("0.075") + 200 * Decimal("0.0375")
                                                 + 500 * Decimal("0.30")) / 10**6
    assert cost_so_far({**batch, "usage": None}, "gpt-4o-mini") is None  # no usage reported: no figure, not $0
    assert cost_so_far(batch, None) is None and cost_so_far(batch, "no-such-model") is None


def test_reconcile_compares_the_batch_objects_usage_with_the_result_lines():
    from batchcost.core.records import Usage
    from batchcost.lifecycle.reconcile import usage_crosscheck

    actual = {"input_tokens": 1200, "output_tokens": 300, "cached_input_tokens": 100}
    same = usage_crosscheck(Usage(input_tokens=1200, output_tokens=300, cached_tokens=100), actual)
    assert same.startswith("the batch's own usage agrees") and "1,200 input" in same
    off = usage_crosscheck(Usage(input_tokens=1500, output_tokens=300, cached_tokens=100), actual)
    assert "differs" in off and "input 1,500 reported, 1,200 in the lines (-300)" in off and "output" not in off


def test_reconcile_from_the_ledger_says_nothing_of_usage_a_batch_does_not_report(aimock, cli, write_plan,
                                                                                 tmp_path):
    plan, _ = _plan(write_plan, n=3)
    approval = _approve(cli, plan, tmp_path)
    batch_id = json.loads(cli("submit", plan, "--approval", approval, "--format", "json").stdout)["batches"][0]["id"]
    assert cli("wait", batch_id, "--poll-interval", "0.01").returncode == 0
    out = cli("reconcile", "--batch", batch_id, "--format", "json", "--no-calibrate")
    assert out.returncode == 0, out.stderr
    assert not any("batch's own usage" in e for e in json.loads(out.stdout)["explanations"])  # aimock reports none
