"""Hardening III: the surfaces added last (online counting, ledgers, approvals, jobs, prices at a date) under bad
input and faults. Each test is one kind of problem, on every path that meets it; the bad-input corpus
``bad_inputs/hardening3.yaml`` holds the cases that need no server."""
from __future__ import annotations

import json

import pytest

from tests.conftest import PLANTED_KEY

LINE = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}}


def clean(out) -> None:
    """No traceback, no internal error, no key: what every failure must look like."""
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "internal error" not in text and PLANTED_KEY not in text, text


# -- crashes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["estimate", "report"])
def test_a_calibrated_forecast_is_described_not_a_crash(command, write_plan, cli, tmp_path):
    plan = write_plan([LINE, {**LINE, "custom_id": "r2"}])
    extra = ["--out", str(tmp_path / "rep")] if command == "report" else []
    out = cli(command, plan, "--output-tokens", "calibrated", *extra)
    assert out.returncode == 0, out.stderr
    clean(out)
    text = out.stdout if command == "estimate" else (tmp_path / "rep" / "report.html").read_text()
    text = " ".join(text.split())  # the terminal table wraps
    assert "calibrated" in text and "2 without history" in text


# -- --online: every answer that is not a token count is one line, exit 4; an interrupt stops the workers --------
GEMINI_KEY = "AIzaSyPLANTEDkeyPLANTEDkey0123456789abc"


def _openai_online(monkeypatch):
    from tests.openai_count_server import InputTokensServer

    server = InputTokensServer(lambda body: 11).start()
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    return server, [LINE, {**LINE, "custom_id": "r2"}], "input_tokens", ()


def _anthropic_online(monkeypatch):
    from tests.anthropic_server import MessageBatchesServer

    server = MessageBatchesServer(count=lambda body: 11).start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    lines = [{"custom_id": f"q{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [
        {"role": "user", "content": f"hello {i}"}]}} for i in (1, 2)]
    return server, lines, "input_tokens", ()


def _gemini_online(monkeypatch):
    from tests.gemini_server import GeminiBatchServer

    server = GeminiBatchServer(count=lambda body: 11).start()
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    lines = [{"key": f"g{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"hello {i}"}]}]}}
             for i in (1, 2)]
    return server, lines, "totalTokens", ("--model", "gemini-2.5-flash")


ONLINE = {"openai": _openai_online, "anthropic": _anthropic_online, "gemini": _gemini_online}


@pytest.fixture(params=sorted(ONLINE))
def online(request, monkeypatch):
    server, lines, field, args = ONLINE[request.param](monkeypatch)
    yield request.param, server, lines, field, args
    server.stop()


def _malformed(field: str) -> dict:
    from tests.loopback import Raw

    return {"html": Raw("<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
            "empty-object": Raw({}), "a-string": Raw(json.dumps("eleven")), "negative": Raw({field: -7}),
            "fraction": Raw({field: 7.5}), "true": Raw({field: True}), "huge": Raw({field: 10 ** 30})}


@pytest.mark.parametrize("answer", ["html", "empty-object", "a-string", "negative", "fraction", "true", "huge"])
def test_an_online_answer_that_is_not_a_token_count_is_one_line_exit_4(answer, online, write_plan, cli):
    name, server, lines, field, args = online
    server.fail("count", *[_malformed(field)[answer]] * 20)  # every answer, retries included
    plan = write_plan(lines)
    commands = [["count", plan, "--online"]]
    if answer in ("html", "negative"):  # the estimate's paths read the same answers through the same check
        commands += [["estimate", plan, "--online", "--format", "json"],
                     ["estimate", plan, "--online", "--sample", "1", "--format", "json"]]
    for command in commands:
        out = cli(*args, *command)
        assert out.returncode == 4, (name, answer, command[0], out.stdout, out.stderr)
        clean(out)
        errors = [x for x in out.stderr.splitlines() if x.startswith("batchcost: error:")]
        assert len(errors) == 1 and "count" in errors[0], out.stderr
        assert out.stdout == "" or command[0] == "count", out.stdout  # no estimate printed from a bad count


def test_an_interrupt_stops_online_counting_within_seconds_while_it_waits_out_rate_limits(online, write_plan,
                                                                                          tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    name, server, lines, field, args = online
    server.fail("count", *[429] * 10_000)  # a rate limit that never ends
    plan = write_plan(lines * 1 + [dict(x) for x in lines])
    proc = subprocess.Popen([sys.executable, "-m", "batchcost", *args, "count", str(plan), "--online"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while "resuming in" not in (line := proc.stderr.readline()):  # the workers are pausing now
        assert line and time.monotonic() < deadline, f"{name}: no pause was announced"
    proc.send_signal(signal.SIGINT)
    try:
        _, rest = proc.communicate(timeout=30)  # before the fix: minutes, until every pause ran out
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"{name}: still counting 30 s after Ctrl-C") from None
    assert proc.returncode == 130 and "interrupted" in rest and "Traceback" not in rest, rest


# -- lone surrogates in a dataset: written as their escapes on every path, never a crash ------------------------
@pytest.mark.parametrize("engine", [[], ["--jobs", "2"], ["--engine", "dask", "--jobs", "2"]])
def test_a_lone_surrogate_in_a_dataset_is_planned_and_estimated_on_every_path(engine, cli, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": 1, "text": "bad \\ud800 here"}\n{"id": 2, "text": "fine"}\n')
    template = tmp_path / "t.yaml"
    template.write_text('endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: "r-{id}"\nbody:\n'
                        '  messages: [{role: user, content: "{text}"}]\n  max_tokens: 5\n')
    plan = tmp_path / "plan.jsonl"
    out = cli("plan", data, "-t", template, "-o", plan, *engine)
    assert out.returncode == 0, out.stderr
    clean(out)
    lines = plan.read_bytes().decode("utf-8").splitlines()  # UTF-8 throughout
    assert json.loads(lines[0])["body"]["messages"][0]["content"] == "bad \ud800 here"
    direct = cli("estimate", data, "-t", template, "--format", "json", *engine)
    written = cli("estimate", plan, "--format", "json")
    assert direct.returncode == 0 and written.returncode == 0, direct.stderr + written.stderr
    if not engine:  # partitions counted apart know no sha256 of the whole (the estimate says so)
        assert json.loads(direct.stdout)["plan"]["sha256"] == json.loads(written.stdout)["plan"]["sha256"]
    assert json.loads(direct.stdout)["input_tokens"] == json.loads(written.stdout)["input_tokens"]


# -- approve books first and writes last ---------------------------------------------------------------------
def _newer_ledger(home):
    import sqlite3

    from batchcost.lifecycle.ledger import Ledger

    Ledger(home / "ledger.sqlite3").close()
    db = sqlite3.connect(home / "ledger.sqlite3")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()


def _other_schema_ledger(home):
    import sqlite3

    from batchcost.lifecycle.ledger import Ledger

    Ledger(home / "ledger.sqlite3").close()
    db = sqlite3.connect(home / "ledger.sqlite3")
    db.execute("DROP TABLE approvals")
    db.execute("CREATE TABLE approvals (id INTEGER PRIMARY KEY, plan_sha256 TEXT NOT NULL, v2 TEXT NOT NULL)")
    db.commit()
    db.close()


@pytest.mark.parametrize("ledger", [_newer_ledger, _other_schema_ledger])
def test_an_approval_the_ledger_cannot_book_is_never_written(ledger, write_plan, cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    ledger(home)
    out = cli("approve", write_plan([LINE]), "--budget", "1", "--by", "me", "-o", tmp_path / "approval.json")
    assert out.returncode == 1 and "ledger" in out.stderr, out.stderr
    clean(out)
    assert not (tmp_path / "approval.json").exists()  # no approval that bypasses the budgets


def test_an_approval_that_cannot_be_written_is_not_booked(write_plan, tmp_path, monkeypatch, capsys):
    from batchcost.cli.app import main
    from batchcost.lifecycle import approval
    from tests.conftest import ledger_rows

    def disk_full(record, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(approval, "write_approval", disk_full)
    code = main(["approve", str(write_plan([LINE])), "--budget", "1", "--by", "me", "-o",
                 str(tmp_path / "approval.json")])
    assert code == 1 and "No space left on device" in capsys.readouterr().err
    assert ledger_rows("SELECT * FROM approvals") == []  # booked, then taken back


# -- budgets: decimals read exactly ---------------------------------------------------------------------------
def test_an_unquoted_decimal_budget_is_read_exactly(cli, tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("currency: USD\nbudgets:\n  - {project: search, period: month, limit: 500.10}\n"
                       "  - {project: \"*\", period: quarter, limit: 0.30000000000000000001}\n")
    out = cli("spend", "--budgets", budgets, "--format", "json")
    assert out.returncode == 0, out.stderr
    from decimal import Decimal

    limits = [Decimal(b["limit"]) for b in json.loads(out.stdout)["budgets"]]
    assert limits == [Decimal("500.10"), Decimal("0.30000000000000000001")]  # no float ever held them


# -- machine-readable output: one JSON document on stdout --------------------------------------------------
def test_submit_wait_format_json_prints_one_document_the_final_state(aimock, write_plan, cli, tmp_path):
    plan = write_plan([LINE, {**LINE, "custom_id": "r2"}])
    approval = tmp_path / "approval.json"
    assert cli("approve", plan, "--budget", "1", "--by", "me", "-o", approval).returncode == 0
    out = cli("submit", plan, "--approval", approval, "--wait", "--poll-interval", "0.2", "--format", "json")
    assert out.returncode == 0, out.stderr
    clean(out)
    doc = json.loads(out.stdout)  # the whole of stdout is one document: no text line after it
    assert doc["job"].startswith("job-") and doc["created"] is True
    assert [w["status"] for w in doc["batches"]] == ["completed"] and doc["total"]["completed"] == 2
    assert "wave 1/1" in out.stderr  # what was created is progress, on stderr


# -- a malformed remote answer never leaves a wave in a wrong state ---------------------------------------------
@pytest.mark.parametrize("answer", ["{}", '{"id": null, "type": "message_batch"}', '"accepted"',
                                    '{"id": "msgbatch_x", "processing_status": "sleeping"}'])
def test_a_create_answered_without_a_batch_is_exit_4_and_the_wave_can_be_made_again(answer, monkeypatch, write_plan,
                                                                                      cli, tmp_path):
    from tests.anthropic_server import MessageBatchesServer
    from tests.conftest import ledger_rows
    from tests.loopback import Raw

    server = MessageBatchesServer().start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    try:
        plan = write_plan([{"custom_id": f"q{i}", "params": {"model": "claude-haiku-4-5", "max_tokens": 20,
                                                             "messages": [{"role": "user", "content": "hi"}]}}
                           for i in (1, 2)])
        approval = tmp_path / "approval.json"
        assert cli("approve", plan, "--budget", "1", "--by", "me", "-o", approval).returncode == 0
        server.fail("create", Raw(answer))  # the batch is made; its answer is garbled
        out = cli("submit", plan, "--approval", approval)
        assert out.returncode == 4, out.stderr
        clean(out)
        assert "batch" in out.stderr and "damaged" not in out.stderr
        [row] = ledger_rows("SELECT state, batch_id FROM submissions")
        assert row["state"] != "created" and row["batch_id"] is None  # never recorded as made
        again = cli("submit", plan, "--approval", approval, "--format", "json")
        assert again.returncode == 0, again.stderr
        made = json.loads(again.stdout)["batches"]
        # the garbled create did happen: the rerun looked for it and adopted it, and made nothing more
        assert [m["id"] for m in made] == list(server.batches) and server.created() == 1
    finally:
        server.stop()


# -- prices with a date they take effect ------------------------------------------------------------------------
def _future_prices(tmp_path, **fields):
    path = tmp_path / "future.yaml"
    path.write_text("currency: USD\nsource: test\nchecked_on: 2026-11-01\nmodels:\n  gpt-4o-mini:\n"
                    "    input: 100\n    output: 400\n    effective_from: 2099-01-01\n"
                    "  my-model:\n    input: 1\n    output: 2\n    effective_from: 2099-01-01\n")
    return path


@pytest.mark.parametrize("at", [None, "2026-12-01", "2098-12-31"])
def test_a_price_that_takes_effect_later_does_not_price_an_earlier_day(at, write_plan, cli, tmp_path):
    from decimal import Decimal

    plan = write_plan([LINE])
    dated = ["--prices-at", at] if at else []
    base = json.loads(cli("estimate", plan, "--format", "json", *dated).stdout)
    out = cli("estimate", plan, "--prices", _future_prices(tmp_path), "--format", "json", *dated)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["cost"] == base["cost"]  # today's (or that day's) price, not the one of 2099
    assert any("takes effect on 2099-01-01" in w for w in doc["warnings"])
    later = json.loads(cli("estimate", plan, "--prices", _future_prices(tmp_path), "--format", "json",
                           "--prices-at", "2099-06-01").stdout)
    assert Decimal(later["cost"]["realtime"]["high"]) == (Decimal(later["input_tokens"]) * 100 + 10 * 400) / 10**6


def test_a_model_priced_only_from_a_later_day_is_no_price_today(write_plan, cli, tmp_path):
    plan = write_plan([{**LINE, "body": {**LINE["body"], "model": "my-model"}}])
    out = cli("estimate", plan, "--prices", _future_prices(tmp_path), "--encoding", "o200k_base")
    assert out.returncode == 1, out.stderr
    clean(out)
    assert "takes effect on 2099-01-01" in out.stderr


def test_effective_from_must_be_a_date(write_plan, cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("currency: USD\nsource: x\nchecked_on: 2026-11-01\nmodels:\n  gpt-4o-mini:\n    input: 1\n"
                   "    output: 2\n    effective_from: soon\n")
    out = cli("estimate", write_plan([LINE]), "--prices", bad)
    assert out.returncode == 1 and "bad.yaml:8: models.gpt-4o-mini.effective_from must be a date" in out.stderr


# -- a job changed since its approval: the message says how ------------------------------------------------------
@pytest.mark.parametrize("change, said", [
    ("remove", "waves/02.jsonl was removed from the job"), ("remove-two", "waves/02.jsonl was removed from the job"),
    ("add", "waves/04.jsonl was added to the job"), ("edit", "waves/03.jsonl has changed since the job was approved"),
    ("order", "the job's files are in another order than approved")])
def test_a_changed_job_is_refused_naming_what_changed(change, said, write_plan, cli, tmp_path):
    folder = tmp_path / "waves"
    folder.mkdir()
    for i in (1, 2, 3):
        write_plan([{**LINE, "custom_id": f"r{i}"}], name=f"waves/0{i}.jsonl")
    approval = tmp_path / "approval.json"
    assert cli("approve", "waves", "--budget", "1", "--by", "me", "-o", approval, cwd=tmp_path).returncode == 0
    given = ["waves"]
    if change.startswith("remove"):
        (folder / "02.jsonl").unlink()
        if change == "remove-two":  # one file left: the job is that file alone
            (folder / "03.jsonl").unlink()
    elif change == "add":
        write_plan([{**LINE, "custom_id": "r4"}], name="waves/04.jsonl")
    elif change == "edit":
        write_plan([{**LINE, "custom_id": "r3x"}], name="waves/03.jsonl")
    else:
        given = ["waves/02.jsonl", "waves/01.jsonl", "waves/03.jsonl"]
    out = cli("submit", *given, "--approval", approval, cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    clean(out)
    assert said in out.stderr and "job-" not in out.stderr, out.stderr


# -- media the counter cannot read: a band whose high is a ceiling --------------------------------------------
GEMINI_PDF = {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/report.pdf"}}
GEMINI_AUDIO = {"fileData": {"mimeType": "audio/mp3", "fileUri": "gs://bucket/call.mp3"}}
CLAUDE_PDF = {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf"}}


@pytest.mark.parametrize("part, ceiling", [(GEMINI_PDF, 1000 * 258), (GEMINI_AUDIO, 1_048_576)])
def test_a_gemini_file_by_uri_is_a_band_up_to_what_the_api_takes(part, ceiling, write_plan, cli):
    plan = write_plan([{"key": "g1", "request": {"contents": [{"role": "user", "parts": [{"text": "Sum it up."},
                                                                                          part]}]}}])
    out = cli("--model", "gemini-2.5-flash", "count", plan, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    [record] = [json.loads(x) for x in out.stdout.splitlines()]
    assert record["count_basis"] == "approximation"
    assert record["input_tokens_low"] < record["input_tokens_high"]
    assert record["input_tokens_high"] >= ceiling  # a 1,000-page PDF, or an hour of audio, is inside the band


def test_a_claude_pdf_by_url_is_a_band_up_to_the_apis_page_limit(write_plan, cli):
    plan = write_plan([{"custom_id": "c1", "params": {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [
        {"role": "user", "content": [CLAUDE_PDF, {"type": "text", "text": "Sum it up."}]}]}}])
    out = cli("count", plan, "--format", "jsonl")
    assert out.returncode == 0, out.stderr
    [record] = [json.loads(x) for x in out.stdout.splitlines()]
    assert record["input_tokens_low"] <= 1600 and record["input_tokens_high"] >= 100 * 1500  # 100 text-heavy pages
