"""Submit, track, download and cancel, step by step through the ledger so any step can be resumed."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from batchcost.batch.client import BatchClient
from batchcost.batch.ledger import Ledger, Submission
from batchcost.errors import BatchcostError, RemoteError
from batchcost.home import home
from batchcost import providers
from batchcost.plans.reader import plan_sha256, read_plan

TERMINAL = {"completed", "failed", "expired", "cancelled"}
METADATA_KEY = "batchcost_submission"


@dataclass
class Wave:
    path: Path
    endpoint: str
    requests: int


def plan_waves(plan: Path, plan_sha: str) -> list[Wave]:
    """The plan itself when it fits one batch, else its waves (deterministic, kept under BATCHCOST_HOME)."""
    requests, endpoint, models = 0, None, set()
    size = plan.stat().st_size
    provider = "openai"
    for item in read_plan(plan):
        requests += 1
        endpoint = endpoint or item.url
        provider = item.provider
        models.add(item.model)
    if requests == 0:
        raise BatchcostError("the plan has no requests", path=plan)
    bounds = providers.get(provider).limits()
    if requests <= bounds.max_requests and size <= bounds.max_bytes and len(models) == 1:
        return [Wave(plan, endpoint, requests)]
    from batchcost.plans.split import split_plan

    folder = home() / "waves" / plan_sha
    if not folder.exists() or not any(folder.glob("*.jsonl")):
        split_plan(plan, folder)
    waves = []
    for path in sorted(folder.glob("*.jsonl")):
        items = list(read_plan(path))
        waves.append(Wave(path, items[0].url, len(items)))
    return waves


def submit_plan(plan: Path, plan_sha: str, client: BatchClient, ledger: Ledger, *, approval: str | None,
                resubmit: bool = False, on_step: Callable[[str], None] = lambda s: None) -> tuple[list[Submission], bool]:
    """Submit every wave of the plan once. Returns (submissions, created_now).

    Under the plan's lock: an existing submission is resumed or reported, never duplicated. ``resubmit`` starts
    a new attempt."""
    with ledger.plan_lock(plan_sha):
        attempt = ledger.latest_attempt(plan_sha)
        existing = ledger.submissions(plan_sha, attempt) if attempt else []
        done = existing and all(s.state == "created" for s in existing)
        if done and not resubmit:
            return existing, False
        if not attempt or (resubmit and done):
            attempt += 1
        waves = plan_waves(plan, plan_sha)
        subs = []
        for index, wave in enumerate(waves, start=1):
            sub, fresh = ledger.add_submission(
                plan_sha256=plan_sha, plan_path=str(plan), wave=index, waves=len(waves), attempt=attempt,
                wave_path=str(wave.path), wave_sha256=plan_sha256(wave.path), endpoint=wave.endpoint,
                requests=wave.requests, base_url=client.base_url, approval=approval)
            subs.append(_advance(sub, client, ledger, on_step, resumed=not fresh))
        return subs, True


def _advance(sub: Submission, client: BatchClient, ledger: Ledger, on_step, *, resumed: bool) -> Submission:
    """Take one wave from where the ledger says it is to a created batch. Only a resumed step (a row an earlier,
    interrupted run left) asks the API whether the upload or the batch already happened."""
    wave_path = Path(sub.wave_path)
    if sub.state == "new":
        if plan_sha256(wave_path) != sub.wave_sha256:
            raise BatchcostError(f"wave {sub.wave} changed on disk since it was recorded", path=wave_path)
        file_id = client.find_file(sub.upload_name, wave_path.stat().st_size) if resumed else None
        if file_id is None:
            on_step(f"uploading wave {sub.wave}/{sub.waves} ({sub.requests:,} requests)")
            file_id = client.upload(wave_path, sub.upload_name)
        else:
            on_step(f"wave {sub.wave}: found the file uploaded before ({file_id})")
        sub = ledger.update(sub, state="uploaded", file_id=file_id)
        resumed = False  # uploaded just now: no batch can exist for it yet
    if sub.state == "uploaded":
        batch = _find(client, sub) if resumed else None
        if batch is None:
            on_step(f"creating the batch for wave {sub.wave}/{sub.waves}")
            batch = _create_once(sub, client, on_step)
        else:
            on_step(f"wave {sub.wave}: found the batch created before ({batch['id']})")
        sub = ledger.update(sub, state="created", batch_id=batch["id"], status=batch["status"])
        ledger.record_status(batch)
    return sub


def _create_once(sub: Submission, client: BatchClient, on_step, attempts: int = 6, sleep=time.sleep) -> dict:
    """Create the batch exactly once: after a transient failure, look for it before trying again."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return client.create_batch(sub.file_id, sub.endpoint, {METADATA_KEY: sub.tag,
                                                                    "batchcost_plan": sub.plan_sha256[:64]},
                                       wave_path=Path(sub.wave_path))
        except RemoteError as exc:
            if not getattr(exc, "transient", False) or attempt == attempts:
                raise
            on_step(f"{exc.message}; checking whether the batch exists before retrying")
            sleep(delay)
            delay = min(8.0, delay * 2)
            found = _find(client, sub)
            if found is not None:
                return found
    raise AssertionError("unreachable")


def _find(client, sub: Submission) -> dict | None:
    """The batch an earlier, interrupted create made, if any: by our metadata tag where the provider keeps
    metadata, else by the wave's request count and creation time (the provider's client decides)."""
    return client.find_batch(METADATA_KEY, sub.tag, requests=sub.requests, since=sub.updated_at)


def wait_batch(batch_id: str, client: BatchClient, ledger: Ledger, *, poll_interval: float = 30.0,
               max_interval: float = 300.0, timeout: float | None = None,
               on_status: Callable[[dict], None] = lambda b: None, sleep=time.sleep) -> dict:
    """Poll until the batch is terminal (backing off to ``max_interval``); every change goes to the ledger."""
    interval, started = poll_interval, time.monotonic()
    while True:
        batch = client.retrieve(batch_id)
        ledger.record_status(batch)
        on_status(batch)
        if batch["status"] in TERMINAL:
            return batch
        if timeout is not None and time.monotonic() - started > timeout:
            raise RemoteError(f"batch {batch_id} is still {batch['status']} after {timeout:.0f} s; "
                              f"run `batchcost wait {batch_id}` again later")
        sleep(interval)
        interval = min(max_interval, interval * 1.5)


def file_stem(batch_id: str) -> str:
    """The name a batch's files get on disk: the id, with the ``/`` of resource names (Gemini's
    ``batches/ID``) as ``-``; an id that could name another folder is refused."""
    parts = batch_id.split("/")
    if not batch_id or any(c in batch_id for c in "\\\0") or any(p in ("", ".", "..") for p in parts):
        raise BatchcostError(f"{batch_id!r} is not a batch id")
    return "-".join(parts)


def download_batch(batch_id: str, out_dir: Path, client: BatchClient, ledger: Ledger) -> list[dict]:
    """Download the output and error files of a finished batch, whole then renamed. Safe to repeat."""
    from batchcost.atomic import check_output, check_output_dir

    stem = file_stem(batch_id)
    check_output_dir(out_dir, what="download folder")
    for kind in ("output", "error"):  # refused before anything is fetched
        check_output(out_dir / f"{stem}_{kind}.jsonl", what="download")
    batch = client.retrieve(batch_id)
    ledger.record_status(batch)
    if batch["status"] not in TERMINAL:
        raise BatchcostError(f"batch {batch_id} is {batch['status']}; its results are not ready "
                             f"(run `batchcost wait {batch_id}` first)")
    results = []
    for kind in ("output", "error"):
        file_id = batch.get(f"{kind}_file_id")
        if not file_id:
            continue
        dest = out_dir / f"{stem}_{kind}.jsonl"
        sha, size = client.download(file_id, dest)
        ledger.record_download(batch_id, kind, file_id, dest, sha, size)
        results.append({"kind": kind, "file_id": file_id, "path": str(dest), "bytes": size, "sha256": sha})
    return results
