"""Every bad input gives one clear error line naming the file (and line), the DESIGN.md exit code, no traceback,
no half-written file, and no change to any file that was there before.

Two corpora: ``bad_inputs/cases.yaml`` (a folder per case) and ``bad_inputs/hardening.yaml`` (files written inline,
plus set-up steps for what a folder cannot hold: FIFOs, links, devices, generated huge or deep files).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())
HARDENING = yaml.safe_load((CORPUS / "hardening.yaml").read_text())
HARDENING3 = yaml.safe_load((CORPUS / "hardening3.yaml").read_text())

LINE = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}}
BASE = {  # good files a case can ask for with `base:`, then break one of them
    "plan.jsonl": json.dumps(LINE) + "\n" + json.dumps({**LINE, "custom_id": "r2"}) + "\n",
    "data.csv": "id,text\n1,hello\n2,world\n",
    "t.yaml": "endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: \"r-{id}\"\nbody:\n  messages:\n"
              "    - {role: user, content: \"{text}\"}\n  max_tokens: 5\n",
    "prices.yaml": "currency: USD\nsource: test\nchecked_on: 2026-11-01\nmodels:\n  gpt-4o-mini: {input: 0.15, "
                   "output: 0.6}\n",
    "out.jsonl": "\n".join(json.dumps({"id": f"b{i}", "custom_id": f"r{i}", "error": None, "response": {
        "status_code": 200, "request_id": "q", "body": {"usage": {"prompt_tokens": 8, "completion_tokens": 3}}}})
        for i in (1, 2)) + "\n",
}


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


GENERATORS = {  # name -> text of a file that is too big or too odd to keep in the corpus
    "deep_plan": lambda: json.dumps({**LINE, "body": {**LINE["body"], "metadata": "X"}}).replace('"X"', _deep(5000)),
    "deep_dataset": lambda: '{"id": 1, "text": "a"}\n{"id": 2, "text": ' + _deep(3000) + "}\n",
    "deep_results": lambda: BASE["out.jsonl"] + '{"custom_id": "r2", "response": ' + _deep(3000) + "}\n",
    "deep_json": lambda: '{"plan": ' + _deep(4000) + "}",
    "digits_plan": lambda: json.dumps(LINE).replace('"max_tokens": 10', '"max_tokens": 1' + "0" * 5000),
    "digits_results": lambda: BASE["out.jsonl"].replace('"prompt_tokens": 8', '"prompt_tokens": ' + "9" * 6000, 1),
    "alias_bomb": lambda: _alias_bomb(),
    "deep_budgets": lambda: "budgets: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep_config": lambda: "project: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep_yaml_template": lambda: BASE["t.yaml"] + "  metadata: " + "[" * 300 + "]" * 300 + "\n",
    "many_rows": lambda: "id,text\n" + "".join(f"{i},row {i}\n" for i in range(50_001)),
    "fifty_mb_line": lambda: json.dumps({"custom_id": "big", "method": "POST", "url": "/v1/chat/completions",
                                         "body": {"model": "gpt-4o-mini", "messages": [
                                             {"role": "user", "content": "word " * (10 * 1024 * 1024)}]}}) + "\n",
}


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _setup(folder: Path, case: dict) -> None:
    for name in case.get("base", []):
        (folder / name).write_text(BASE[name])
    for name, text in (case.get("files") or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for name, generator in (case.get("generated") or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(GENERATORS[generator]())
    for step in case.get("setup", []):
        kind, *args = step
        if kind == "fifo":
            os.mkfifo(folder / args[0])
        elif kind == "symlink":
            (folder / args[0]).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(args[1], folder / args[0])
        elif kind == "hardlink":
            os.link(folder / args[1], folder / args[0])
        elif kind == "mkdir":
            (folder / args[0]).mkdir(parents=True)
        elif kind == "approval":  # a real approval of plan.jsonl, then one field set to a bad value
            _approval(folder, *args)
        elif kind == "sqlite":  # a real, empty SQLite database
            import sqlite3

            sqlite3.connect(folder / args[0]).execute("CREATE TABLE observations (x)").connection.commit()
        else:  # pragma: no cover - a typo in the corpus
            raise AssertionError(f"unknown set-up step {kind}")
    if case.get("generate") == "fifty_mb_line":  # the first corpus's generated case
        (folder / "plan.jsonl").write_text(GENERATORS["fifty_mb_line"]())


def _approval(folder: Path, dotted: str, value) -> None:
    from decimal import Decimal

    from batchcost.estimation.estimate import estimate_plan
    from batchcost.lifecycle.approval import make_approval
    from batchcost.pricing.tables import load_prices

    approval = make_approval(estimate_plan(folder / "plan.jsonl", load_prices()), budget=Decimal(1), by="tester")
    approval = json.loads(json.dumps(approval))
    *parents, last = dotted.split(".")
    target = approval
    for key in parents:
        target = target[key]
    target[last] = value
    (folder / "approval.json").write_text(json.dumps(approval))


def _snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every regular file (links and FIFOs by what they are), to prove nothing was changed."""
    seen = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            seen[rel] = "link:" + os.readlink(path)
        elif path.is_fifo():
            seen[rel] = "fifo"
        elif path.is_file():
            seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            seen[rel] = "dir"
    return seen


ALL = CASES + HARDENING + HARDENING3


def test_corpus_is_large_enough():
    assert len(CASES) >= 30 and len(HARDENING) >= 50 and len(HARDENING3) >= 25
    names = [c["name"] for c in ALL]
    assert len(set(names)) == len(names)


def _env(case: dict, folder: Path) -> dict:
    env = {}
    for key, value in (case.get("env") or {}).items():
        env[key] = str(folder / value) if key == "BATCHCOST_HOME" else value
    return env


@pytest.mark.parametrize("case", ALL, ids=[c["name"] for c in ALL])
def test_bad_input(case, tmp_path, cli):
    folder = tmp_path / case["name"]
    if (CORPUS / case["name"]).exists():
        shutil.copytree(CORPUS / case["name"], folder)
    else:
        folder.mkdir()
    _setup(folder, case)
    before = _snapshot(folder)
    devices = {p: os.stat(p).st_mode for p in ("/dev/null",)}
    out = cli(*case["run"], cwd=folder, env=_env(case, folder))
    assert out.returncode == case["exit"], (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert "internal error" not in out.stderr
    for secret in case.get("absent", []):
        assert secret not in out.stdout + out.stderr, secret
    lines = out.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("batchcost: error: ") or line.startswith("Error:")]
    if case["exit"] == 2 and not errors:  # typer prints its usage box for option parsing errors
        assert case["error"].split()[0] in out.stderr
        return
    assert len(errors) == 1, out.stderr
    assert case["error"] in errors[0], errors[0]
    assert case.get("stdout", "") in out.stdout
    # nothing half-written is left behind, and nothing that was there has changed
    assert not list(folder.rglob(".*.tmp")) and not list(folder.rglob(".batchcost-*"))
    after = _snapshot(folder)
    assert {k: v for k, v in after.items() if k in before} == before
    if case["run"][0] == "plan":
        assert not (folder / "out.jsonl").exists() or "out.jsonl" in before
    for path, mode in devices.items():
        assert os.stat(path).st_mode == mode  # a device named as an output is still that device
