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
        raise AssertionError(f"{name}: still counting 30 s after Ctrl-C")
    assert proc.returncode == 130 and "interrupted" in rest and "Traceback" not in rest, rest
