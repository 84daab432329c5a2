"""Faults in the lifecycle, for real: SIGKILL at any moment of submit and download, concurrent submits,
transient errors during wait and download, and the key never leaking - not even from the SDK's error messages."""
from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import PLANTED_KEY, ROOT
from tests.lifecycle.test_lifecycle import CHAT, _clear_chaos_after_first, approve


def start(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "batchcost", *map(str, args)], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def successful_creates(aimock) -> list[dict]:
    return [c for c in aimock.calls("POST", "/v1/batches") if c["response"]["status"] == 200]


def _ledger_state(home: Path) -> str | None:
    """The first wave's state in the ledger, read only (never making the file), or None before there is one."""
    try:
        row = sqlite3.connect(f"file:{home / 'ledger.sqlite3'}?mode=ro", uri=True, timeout=0.05).execute(
            "SELECT state FROM submissions").fetchone()
    except sqlite3.Error:  # not made yet, or locked by the writer this moment
        return None
    return row[0] if row else None


def test_sigkill_during_submit_then_rerun_gives_exactly_one_batch(aimock, cli, tmp_path, monkeypatch):
    """Kill `submit` at several moments (every API call takes 0.4 s); each rerun ends with exactly one batch.
    The moments are counted from when the wave is first recorded, so a slow machine's start-up does not move
    every kill before it: one kill lands at start-up, the others during the upload and the create."""
    approval = approve(cli, CHAT, tmp_path)
    states = []
    for i, kill_after in enumerate((None, 0.0, 0.3, 0.6, 0.9, 1.3)):
        home = tmp_path / f"home-{i}"
        monkeypatch.setenv("BATCHCOST_HOME", str(home))
        aimock.reset()
        aimock.chaos(latencyMs=400)
        proc = start("submit", CHAT, "--approval", approval)
        if kill_after is None:
            time.sleep(0.2)  # still starting: nothing recorded yet
        else:
            deadline = time.monotonic() + 60
            while _ledger_state(home) is None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        aimock.calm()
        if proc.returncode != -signal.SIGKILL:
            states.append("finished")
        else:
            states.append(_ledger_state(home) or "nothing recorded")
        rerun = cli("submit", CHAT, "--approval", approval, "--format", "json")
        assert rerun.returncode == 0, rerun.stderr
        [wave] = json.loads(rerun.stdout)["batches"]
        assert len(successful_creates(aimock)) == 1, (kill_after, states)
        db = sqlite3.connect(home / "ledger.sqlite3")
        assert db.execute("SELECT state, batch_id FROM submissions").fetchall() == [("created", wave["id"])]
    print("states after each kill:", states)
    # the kills really landed at different steps of the submit
    assert len(set(states) - {"finished"}) >= 2, states


def test_sigkill_during_download_leaves_no_partial_file(aimock, cli, tmp_path):
    approval = approve(cli, CHAT, tmp_path)
    [wave] = json.loads(cli("submit", CHAT, "--approval", approval, "-f", "json").stdout)["batches"]
    batch_id = wave["id"]
    assert cli("wait", batch_id, "--poll-interval", "0.05").returncode == 0
    out = tmp_path / "results"
    aimock.chaos(latencyMs=800)
    proc = start("download", batch_id, "--out", out)
    time.sleep(1.2)  # inside the slow calls
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    aimock.calm()
    final = out / f"{batch_id}_output.jsonl"
    if final.exists():  # if it got there at all, it is whole
        assert len(final.read_text().splitlines()) == 8
    got = cli("download", batch_id, "--out", out, "-f", "json")
    assert got.returncode == 0, got.stderr
    assert len(final.read_text().splitlines()) == 8
    assert all(json.loads(x)["response"]["status_code"] == 200 for x in final.read_text().splitlines())


def test_concurrent_submits_create_one_batch(aimock, cli, tmp_path):
    approval = approve(cli, CHAT, tmp_path)
    aimock.chaos(latencyMs=200)
    procs = [start("submit", CHAT, "--approval", approval, "--format", "json") for _ in range(3)]
    outs = [p.communicate() for p in procs]
    aimock.calm()
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = {json.loads(o[0])["batches"][0]["id"] for o in outs}
    assert len(ids) == 1 and len(successful_creates(aimock)) == 1
    assert len([c for c in aimock.calls("POST", "/v1/files") if c["response"]["status"] == 200]) == 1


@pytest.mark.parametrize("fault, status", [({"rateLimitRate": 1}, 429), ({"dropRate": 1}, 500),
                                           ({"disconnectRate": 1}, None)])
def test_transient_faults_during_wait_and_download(aimock, cli, tmp_path, fault, status):
    approval = approve(cli, CHAT, tmp_path)
    [wave] = json.loads(cli("submit", CHAT, "--approval", approval, "-f", "json").stdout)["batches"]
    batch_id = wave["id"]
    path = f"/v1/batches/{batch_id}"
    stop = threading.Event()

    def clear_soon():  # a disconnect leaves no status in the journal: clear after a short while instead
        if status is None:
            time.sleep(0.6)
            aimock.calm()
        else:
            _clear_chaos_after_first(aimock, status, path, stop)

    aimock.chaos(**fault)
    watcher = threading.Thread(target=clear_soon)
    watcher.start()
    try:
        waited = cli("wait", batch_id, "--poll-interval", "0.05")
    finally:
        stop.set()
        watcher.join()
    assert waited.returncode == 0, waited.stderr

    aimock.chaos(**fault)
    stop = threading.Event()
    path = "/v1/batches/" + batch_id
    watcher = threading.Thread(target=clear_soon)
    watcher.start()
    try:
        got = cli("download", batch_id, "--out", tmp_path / "r", "-f", "json")
    finally:
        stop.set()
        watcher.join()
    assert got.returncode == 0, got.stderr
    assert len(Path(json.loads(got.stdout)[0]["path"]).read_text().splitlines()) == 8


def test_persistent_faults_during_wait_exit_4_and_resume(aimock, cli, tmp_path):
    approval = approve(cli, CHAT, tmp_path)
    [wave] = json.loads(cli("submit", CHAT, "--approval", approval, "-f", "json").stdout)["batches"]
    aimock.chaos(dropRate=1)
    failed = cli("wait", wave["id"], "--poll-interval", "0.05", "--max-retries", "1")
    assert failed.returncode == 4 and "HTTP 500" in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    aimock.calm()
    resumed = cli("wait", wave["id"], "--poll-interval", "0.05")
    assert resumed.returncode == 0


class _LeakyAuthServer(http.server.BaseHTTPRequestHandler):
    """Answers like OpenAI does to a bad key: a 401 whose message quotes the key back."""

    def _reply(self):
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}. You can find your API key at "
                                                f"https://platform.openai.com/account/api-keys.",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


def test_key_never_leaks_even_from_sdk_errors(cli, tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LeakyAuthServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        approval = approve(cli, CHAT, tmp_path)
        outputs = [cli("submit", CHAT, "--approval", approval, "--base-url", base),
                   cli("status", "batch_x", "--base-url", base), cli("list", "--base-url", base),
                   cli("download", "batch_x", "--out", tmp_path / "r", "--base-url", base)]
    finally:
        server.shutdown()
    for out in outputs:
        assert out.returncode == 4 and "HTTP 401" in out.stderr, out.stderr
        assert "Incorrect API key provided: ***" in out.stderr
    written = "".join(o.stdout + o.stderr for o in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            written += path.read_bytes().decode("utf-8", "replace")
    assert PLANTED_KEY not in written and PLANTED_KEY[:20] not in written
