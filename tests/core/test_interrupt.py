"""Ctrl-C and SIGTERM in the middle of writing: 'interrupted' on stderr, the signal's exit code, and no temporary
file left behind, on the serial path and with --jobs. The signal is sent once the temporary output exists (so the
run is caught mid-write whatever the machine's speed), not after a guessed delay."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TEMPLATE = ('endpoint: /v1/chat/completions\nmodel: gpt-4o-mini\ncustom_id: "r-{id}"\nbody:\n'
            '  messages: [{role: user, content: "{text}"}]\n  max_tokens: 5\n')


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".")]


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupt")
    path = folder / "big.csv"
    with path.open("w") as fh:
        fh.write("id,text\n")
        for i in range(400_000):
            fh.write(f"{i},review number {i} with a few more words to tokenize and render\n")
    (folder / "t.yaml").write_text(TEMPLATE)
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_interrupted_plan_leaves_nothing_behind(big_dataset, tmp_path, sig, jobs):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "batchcost", "plan", str(big_dataset), "-t",
                             str(big_dataset.parent / "t.yaml"), "-o", str(out_dir / "plan.jsonl"), "--split",
                             "--jobs", jobs], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _leftovers(out_dir):  # the temporary plan (or the parts folder) is being written
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the plan never started writing"
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == "batchcost: error: interrupted"
    assert "Traceback" not in err
    assert _leftovers(out_dir) == [] and list(out_dir.iterdir()) == []


def _estimate_with_workers(tmp_path: Path, **popen) -> tuple[subprocess.Popen, list[str]]:
    """`estimate --jobs 2` on a plan of 300,000 requests, returned once its forked workers are counting."""
    plan = tmp_path / "plan.jsonl"
    line = ('{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
            '"messages": [{"role": "user", "content": "%s"}], "max_tokens": 5}}\n')
    with plan.open("w") as fh:
        for i in range(300_000):
            fh.write(line % (i, f"text {i} " * 20))
    proc = subprocess.Popen([sys.executable, "-m", "batchcost", "estimate", str(plan), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 120
    while not (pids := children.read_text().split()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no worker was started"
        time.sleep(0.01)
    return proc, pids


def test_an_interrupted_estimate_with_workers_says_so_once(tmp_path):
    proc, _ = _estimate_with_workers(tmp_path, start_new_session=True)
    os.killpg(proc.pid, signal.SIGTERM)  # the whole process group: the command and its workers
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.strip().splitlines() == ["batchcost: error: interrupted"], err


def test_a_worker_killed_on_its_own_is_one_clear_line(tmp_path):
    proc, pids = _estimate_with_workers(tmp_path)
    os.kill(int(pids[0]), signal.SIGKILL)  # the OOM killer, say: the worker's part is lost
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    assert err.strip().splitlines() == ["batchcost: error: a worker process died (killed by a signal, or out of "
                                        "memory); nothing was written: run again, or with fewer --jobs"], err
    assert out == ""


def _signal_arrives_through_another_thread(sig: int) -> list[str]:
    """Inside ``signals_held``, ``sig`` is sent to the process while a second thread that does not block it runs
    (pyarrow's native threads are such threads): the kernel hands it to that thread and Python would run the
    handler in the main thread at once. Returns what happened, in order."""
    import threading

    from batchcost.core.atomic import signals_held

    events: list[str] = []
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)  # started outside the hold: signals not blocked
    helper.start()

    def handler(signum, frame):
        events.append(f"handler {signum}")
        raise KeyboardInterrupt

    old = signal.signal(sig, handler)
    try:
        try:
            with signals_held():
                os.kill(os.getpid(), sig)
                for _ in range(50):  # ample bytecode and time for the handler to run, were it going to
                    time.sleep(0.002)
                events.append("held region finished")
        except KeyboardInterrupt:
            events.append("interrupted on leaving")
    finally:
        signal.signal(sig, old)
        stop.set()
        helper.join()
    return events


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_taken_by_another_thread_still_waits_for_the_end_of_the_hold(sig):
    assert _signal_arrives_through_another_thread(sig) == ["held region finished", f"handler {sig}",
                                                           "interrupted on leaving"]


def test_the_hold_hands_an_ignored_signal_to_nobody():
    from batchcost.core.atomic import signals_held

    old = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.02)
        time.sleep(0.02)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # put back as it was
    finally:
        signal.signal(signal.SIGTERM, old)
