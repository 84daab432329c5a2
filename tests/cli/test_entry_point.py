"""The console entry point in a process of its own, against the in-process runner most tests use: the same exit
code, the same stdout and the same stderr for each exit code DESIGN.md lists (the signals' codes are
tests/core/test_interrupt.py's), so what the in-process tests assert is what a user's shell sees."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "reviews_sentiment.jsonl"


def _cases(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini"'
                   ', "messages": []}}\n{not json\n')
    return {
        "success": (["estimate", EXAMPLE, "--format", "json"], 0),
        "version": (["--version"], 0),
        "bad input": (["count", bad], 1),
        "usage": (["estimate", EXAMPLE, "--no-such-option"], 2),
        "unknown provider": (["count", EXAMPLE, "--provider", "nobody"], 2),
        "budget": (["estimate", EXAMPLE, "--budget", "0.000001"], 3),
        "remote": (["status", "batch_abc", "--base-url", "http://127.0.0.1:9/v1", "--max-retries", "0"], 4),
    }


@pytest.mark.parametrize("case", ["success", "version", "bad input", "usage", "unknown provider", "budget",
                                  "remote"])
def test_the_entry_point_and_the_in_process_runner_agree(case, cli, cli_process, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-entry-point")
    args, code = _cases(tmp_path)[case]
    alone, here = cli_process(*args), cli(*args)
    assert alone.returncode == code, alone.stderr
    assert (here.returncode, here.stdout, here.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    if code:
        assert "Traceback" not in alone.stderr and alone.stderr.count("\n") <= 4
    if case == "success":
        assert json.loads(alone.stdout)["plan"]["requests"] > 0
