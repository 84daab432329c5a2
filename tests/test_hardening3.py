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
