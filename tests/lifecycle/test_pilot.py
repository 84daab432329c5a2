"""The pilot: a few real-time requests, their measured cost, and calibration recorded for the next estimate."""
from __future__ import annotations

import json
from decimal import Decimal

from tests.lifecycle.test_lifecycle import CHAT


def test_pilot_measures_and_calibrates(aimock, cli):
    before = json.loads(cli("estimate", CHAT, "--output-tokens", "calibrated", "-f", "json").stdout)
    assert before["output_tokens"]["requests_without_history"] == 8
    out = cli("pilot", CHAT, "--sample", "3", "--seed", "4", "--yes", "--budget", "1", "-f", "json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["requests"] == 3 and result["calibration_recorded"] == 3
    sent = aimock.calls("POST", "/v1/chat/completions")
    assert len(sent) == 3
    # cost from the usage the server reported, at gpt-4o-mini's real-time prices (0.15 in, 0.60 out per 1M)
    billed_in, billed_out = result["input_tokens"]["billed"], result["output_tokens"]["total"]
    assert Decimal(result["cost"]["realtime"]) == (billed_in * Decimal("0.15") + billed_out * Decimal("0.60")) / 10**6
    after = json.loads(cli("estimate", CHAT, "--output-tokens", "calibrated", "-f", "json").stdout)
    assert after["output_tokens"]["observations"] == 3 and after["output_tokens"]["requests_calibrated"] == 8
    assert after["output_tokens"]["expected"] == 8 * result["output_tokens"]["p50"]


def test_pilot_refuses_without_consent(aimock, cli):
    no_budget = cli("pilot", CHAT, "--sample", "2", "--yes")
    assert no_budget.returncode == 3 and "--yes needs --budget" in no_budget.stderr
    no_tty = cli("pilot", CHAT, "--sample", "2")
    assert no_tty.returncode == 3 and "confirm at a terminal" in no_tty.stderr
    over = cli("pilot", CHAT, "--sample", "2", "--yes", "--budget", "0.0000001")
    assert over.returncode == 3 and "over the budget" in over.stderr
    embeddings = cli("pilot", "examples/docs_embeddings.jsonl", "--sample", "1", "--yes", "--budget", "1")
    assert embeddings.returncode == 1 and "embeddings" in embeddings.stderr
    assert aimock.calls("POST", "/v1/chat/completions") == []
