from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# Modules whose tests run twice: on the embedded SQLite ledger and on the team ledger in a real PostgreSQL server
# (tests/postgres_server.py, started once per session on 127.0.0.1): the same tests, the same answers.
LEDGER_MODULES = {f"tests.lifecycle.{name}" for name in ("test_lifecycle", "test_jobs", "test_spend", "test_reconcile",
                                                             "test_mixed_jobs")}


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__ in LEDGER_MODULES and "_ledger_backend" in metafunc.fixturenames:
        metafunc.parametrize("_ledger_backend", ["sqlite", "postgresql"], indirect=True)


# The real servers a test starts, as markers (registered in pyproject.toml): ``-m "not postgres"`` and the like
# choose by what a machine has. Set from the fixtures the test uses, so no test can forget its marker.
MARKER_OF_FIXTURE = {"aimock": "aimock", "postgres_server": "postgres", "keys": "sshkeygen"}


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in used:
                item.add_marker(marker)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("_ledger_backend") == "postgresql":
            item.add_marker("postgres")


@pytest.fixture(scope="session")
def postgres_server():
    from tests.postgres_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _ledger_backend(request, monkeypatch):
    """sqlite (the default), or a fresh database of the session's PostgreSQL server as BATCHCOST_LEDGER_URL."""
    backend = getattr(request, "param", "sqlite")
    monkeypatch.delenv("BATCHCOST_LEDGER_URL", raising=False)
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("BATCHCOST_LEDGER_URL", server.new_database())
    return backend


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own BATCHCOST_HOME and no real API key."""
    monkeypatch.setenv("BATCHCOST_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def ledger_rows(query: str) -> list[dict]:
    """Rows of the ledger this test uses (SQLite under BATCHCOST_HOME, or the PostgreSQL one)."""
    from batchcost.lifecycle.ledger import Ledger

    ledger = Ledger()
    try:
        return [dict(r) for r in ledger.db.execute(query)]
    finally:
        ledger.close()


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would (``python -m batchcost``: the console entry
    point, its exit, its signals)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "batchcost", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT)


NEEDS_A_PROCESS = ("PYTHONPATH",)  # what only a new interpreter sees (an import path: another package installed)


def run_in_process(*args: str, env: dict | None = None, cwd: Path | None = None,
                   input: str | None = None) -> subprocess.CompletedProcess:
    """The same command line as ``run_cli``, run by ``batchcost.cli.app.main`` in this process (typer's runner
    isolation: its own stdin, stdout, stderr and environment; the working folder changed for the call). Warnings
    (under a fresh interpreter's filters) and log records reach stderr as they would in a process of its own
    (nothing of pytest's in between), so a test of what a user sees (a key in a log line) still sees it."""
    if env and any(key in env for key in NEEDS_A_PROCESS):
        return run_cli(*args, env=env, cwd=cwd)
    import logging
    import warnings

    from typer.testing import CliRunner

    from batchcost.cli.app import main

    argv = [str(a) for a in args]
    here = os.getcwd()
    root = logging.getLogger()
    handlers, root.handlers = root.handlers, []  # no handler: Python's last resort prints warnings to stderr
    os.chdir(cwd or ROOT)
    try:
        with CliRunner().isolation(input=input, env=env) as (out, err, _), warnings.catch_warnings():
            warnings.resetwarnings()  # the filters of a fresh interpreter, not pytest's
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            warnings.showwarning = _warning_to_stderr
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            stdout, stderr = _text(out.getvalue()), _text(err.getvalue())
    finally:
        os.chdir(here)
        root.handlers = handlers
    return subprocess.CompletedProcess(["batchcost", *argv], code, stdout, stderr)


def _warning_to_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    import warnings

    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _text(data: bytes) -> str:
    """Bytes as ``subprocess.run(text=True)`` gives them: decoded, universal newlines."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture
def cli():
    """The command line, in process (fast: no interpreter start-up and no imports per call)."""
    return run_in_process


@pytest.fixture
def cli_process():
    """The command line in a process of its own, for what only a process has: the entry point's exit, signals."""
    return run_cli


@pytest.fixture
def write_plan(tmp_path):
    """Write plan lines (dicts or raw strings) to a JSONL file and return its path."""

    def write(lines, name="plan.jsonl"):
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as fh:
            for item in lines:
                fh.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
        return path

    return write


# --- a real local Batch API server (aimock), driven through the real openai SDK ------------------------------

AIMOCK_BIN = ROOT / "tests" / "aimock" / "node_modules" / ".bin" / "llmock"
PLANTED_KEY = "sk-batchcost-PLANTED-key-0123456789abcdefXYZ"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Aimock:
    def __init__(self, url: str):
        self.url = url
        self.base_url = f"{url}/v1"

    def _request(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    CHAT_FIXTURES = {"fixtures": [{"match": {}, "response": {"content": "positive, confidence 0.9"}}]}

    def reset(self) -> None:
        """Forget every file, batch and journal entry; keep one catch-all real-time chat answer (for the pilot;
        its usage is aimock's own estimate, about 4 characters a token)."""
        self._request("POST", "/__aimock/reset")
        self._request("DELETE", "/__aimock/chaos")
        self._request("POST", "/__aimock/fixtures", self.CHAT_FIXTURES)

    def chaos(self, **rates) -> None:
        self._request("POST", "/__aimock/chaos", rates)

    def calm(self) -> None:
        self._request("DELETE", "/__aimock/chaos")

    def journal(self) -> list[dict]:
        return self._request("GET", "/__aimock/journal")

    def calls(self, method: str, path: str) -> list[dict]:
        return [e for e in self.journal() if e["method"] == method and e["path"] == path]

    def env(self) -> dict:
        return {"OPENAI_API_KEY": PLANTED_KEY, "OPENAI_BASE_URL": self.base_url}


@pytest.fixture(scope="session")
def aimock_server(tmp_path_factory):
    if not AIMOCK_BIN.exists():
        pytest.fail(f"aimock is not installed: run `npm ci --prefix tests/aimock` ({AIMOCK_BIN} missing)")
    fixtures = tmp_path_factory.mktemp("aimock-fixtures")
    port = _free_port()
    log = (tmp_path_factory.mktemp("aimock-log") / "aimock.log").open("w")
    proc = subprocess.Popen([str(AIMOCK_BIN), "--host", "127.0.0.1", "--port", str(port), "--fixtures",
                             str(fixtures), "--log-level", "warn", "--journal-max", "0"], stdout=log, stderr=log)
    server = Aimock(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            server._request("GET", "/__aimock/health")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"aimock did not start (exit {proc.poll()})")
            time.sleep(0.1)
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def aimock(aimock_server, monkeypatch):
    """A clean aimock for this test, with OPENAI_* pointing at it and a recognisable key planted."""
    aimock_server.reset()
    for key, value in aimock_server.env().items():
        monkeypatch.setenv(key, value)
    yield aimock_server
    aimock_server.calm()
