"""Every bad input gives one clear error line naming the file (and line), the DESIGN.md exit code, no traceback."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def _generate(kind: str, folder: Path) -> None:
    if kind == "fifty_mb_line":
        text = "word " * (10 * 1024 * 1024)  # 50 MB of text in one request
        line = json.dumps({"custom_id": "big", "method": "POST", "url": "/v1/chat/completions",
                           "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}})
        (folder / "plan.jsonl").write_text(line + "\n")


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case, tmp_path, cli):
    folder = tmp_path / case["name"]
    if (CORPUS / case["name"]).exists():
        shutil.copytree(CORPUS / case["name"], folder)
    else:
        folder.mkdir()
    if "generate" in case:
        _generate(case["generate"], folder)
    out = cli(*case["run"], cwd=folder)
    assert out.returncode == case["exit"], (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("batchcost: error: ") or line.startswith("Error:")]
    if case["exit"] == 2 and not errors:  # typer prints its usage box for option parsing errors
        assert case["error"].split()[0] in out.stderr
        return
    assert len(errors) == 1, out.stderr
    assert case["error"] in errors[0], errors[0]
    # nothing half-written is left behind
    assert not list(folder.glob(".*.tmp")) and not list(folder.glob(".batchcost-*"))
    if case["run"][0] == "plan":
        assert not (folder / "out.jsonl").exists()
