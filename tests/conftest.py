from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own BATCHCOST_HOME and no real API key."""
    monkeypatch.setenv("BATCHCOST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "batchcost", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_plan(tmp_path):
    """Write plan lines (dicts or raw strings) to a JSONL file and return its path."""
    import json

    def write(lines, name="plan.jsonl"):
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as fh:
            for item in lines:
                fh.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
        return path

    return write
