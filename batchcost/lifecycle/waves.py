"""Submit, track, download and cancel, step by step through the ledger so any step can be resumed."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BatchcostError, RemoteError
from batchcost.core.home import home
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.lifecycle.ledger import Ledger, Submission
from batchcost.plans.reader import plan_provider, plan_sha256, read_plan
from batchcost.providers.base import SUBMISSION_TAG, BatchClient

TERMINAL = {"completed", "failed", "expired", "cancelled"}
METADATA_KEY = SUBMISSION_TAG


@dataclass
class Wave:
    path: Path
    endpoint: str
    requests: int
    input_tokens: int | None = None


class ProviderClients:
    """The clients of one job whose waves go to several providers (its files are of several providers, under one
    approval): each wave's client is its provider's, made once, with that provider's own key and base URL."""

    base_url = "(each provider's own)"

    def __init__(self, make: Callable[[str], BatchClient]):
        self._make = make
        self._made: dict[str, BatchClient] = {}

    def of(self, provider: str) -> BatchClient:
        if provider not in self._made:
            self._made[provider] = self._make(provider)
        return self._made[provider]


Clients = BatchClient | ProviderClients


def client_for(client: Clients, sub: Submission) -> BatchClient:
    """The client a wave is created, followed and downloaded through."""
    if isinstance(client, ProviderClients):
        return client.of(sub.provider or providers.default().name)
    return client


def plan_waves(plan: Path, plan_sha: str, *, max_enqueued_tokens: int | None = None,
               options: ReadOptions = PLAIN) -> list[Wave]:
    """The plan itself when it fits one batch, else its waves (deterministic, kept under BATCHCOST_HOME). Under a
    queue cap every wave also fits the cap, and each carries its input tokens (counted exactly, as estimated)."""
    from batchcost.plans.counts import PlanCounter

    requests, models, tokens = 0, set(), 0
    endpoint: str | None = None
    size = plan.stat().st_size
    provider = providers.default().name
    counter = PlanCounter(base_dir=plan.parent) if max_enqueued_tokens is not None else None
    for item in read_plan(plan, options=options):
        requests += 1
        endpoint = endpoint or item.url
        provider = item.provider
        models.add(item.model)
        if counter is not None:
            tokens += counter.count_line(item, plan).input_tokens
            if max_enqueued_tokens is not None and tokens > max_enqueued_tokens:
                counter = None  # it will be split, and split counts every line: no need to count them twice
    if requests == 0 or endpoint is None:
        raise BatchcostError("the plan has no requests", path=plan)
    bounds = providers.get(provider).limits()
    if (requests <= bounds.max_requests and size <= bounds.max_bytes and len(models) == 1
            and (max_enqueued_tokens is None or counter is not None)):
        return [Wave(plan, endpoint, requests, tokens if counter is not None else None)]
    from batchcost.plans.split import split_plan

    folder = home() / "waves" / (plan_sha if max_enqueued_tokens is None else f"{plan_sha}-t{max_enqueued_tokens}")
    if not folder.exists() or not any(folder.glob("*.jsonl")):
        split = split_plan(plan, folder, max_enqueued_tokens=max_enqueued_tokens)
        return [Wave(w.path, endpoint, w.requests, w.input_tokens) for w in split]
    waves = []
    counter = PlanCounter(base_dir=plan.parent) if max_enqueued_tokens is not None else None
    for path in sorted(folder.glob("*.jsonl")):  # written before: read back (the same bytes, counted again)
        items = list(read_plan(path, options=options))
        counted = None
        if counter is not None:
            counted = sum(counter.count_line(item, path).input_tokens for item in items)
        waves.append(Wave(path, items[0].url, len(items), counted))
    return waves


def submit_plan(plan: Path, plan_sha: str, client: Clients, ledger: Ledger, *, approval: str | None,
                resubmit: bool = False, max_enqueued_tokens: int | None = None, stop_on_failure: bool = False,
                on_step: Callable[[str], None] = lambda s: None,
                options: ReadOptions = PLAIN) -> tuple[list[Submission], bool]:
    """Submit the plan as one job: every wave once, in the plan's order. Returns (waves, created_now).

    Under the plan's lock: an existing submission is resumed or reported, never duplicated. ``resubmit`` starts
    a new attempt. With ``max_enqueued_tokens``, waves are created only while the input tokens of this job's waves
    in flight stay under it; the rest are held in the ledger until ``advance_job`` (``wait``) finds room."""
    with ledger.plan_lock(plan_sha):
        attempt = ledger.latest_attempt(plan_sha)
        existing = ledger.submissions(plan_sha, attempt) if attempt else []
        done = existing and all(s.state in ("created", "cancelled") for s in existing)
        if done and not resubmit:
            return existing, False
        if not attempt or (resubmit and done):
            attempt += 1
        job = ledger.add_job(plan_sha, attempt, max_enqueued_tokens=max_enqueued_tokens,
                             stop_on_failure=stop_on_failure)
        rows = ledger.submissions(plan_sha, attempt)
        if not rows:  # the whole schedule goes to the ledger before the first remote call
            schedule = _schedule(plan, plan_sha, client, job.max_enqueued_tokens, options)
            ledger.add_schedule([dict(
                provider=provider, plan_sha256=plan_sha, plan_path=str(plan), wave=index, waves=len(schedule),
                attempt=attempt, wave_path=str(wave.path), wave_sha256=plan_sha256(wave.path),
                endpoint=wave.endpoint, requests=wave.requests, base_url=base_url, approval=approval,
                input_tokens=wave.input_tokens) for index, (wave, provider, base_url) in enumerate(schedule, start=1)])
        return advance_job(job, client, ledger, on_step=on_step), True


def _schedule(plan: Path, plan_sha: str, client: Clients, cap: int | None,
              options: ReadOptions) -> list[tuple[Wave, str, str]]:
    """Every wave of the job with the provider it goes to and that provider's base URL: the plan's waves, or, for
    a job of several providers' files, each file's own waves (split by its provider's limits), in file order."""
    if not isinstance(client, ProviderClients):
        return [(w, plan_provider(plan, options), client.base_url)
                for w in plan_waves(plan, plan_sha, max_enqueued_tokens=cap, options=options)]
    from batchcost.core.errors import job_files

    schedule = []
    for listed in job_files(plan) or [{"path": str(plan), "sha256": plan_sha}]:
        path = Path(listed["path"])
        provider = plan_provider(path)
        base_url = client.of(provider).base_url
        schedule += [(w, provider, base_url) for w in plan_waves(path, listed["sha256"], max_enqueued_tokens=cap)]
    return schedule


def in_flight(sub: Submission) -> bool:
    """Whether the wave's tokens are enqueued (or may be: a step under way)."""
    return sub.state in ("new", "uploaded") or (sub.state == "created" and sub.status not in TERMINAL)


def advance_job(job, client: Clients, ledger: Ledger, *, on_step=lambda s: None) -> list[Submission]:
    """Create the job's held waves, in order, while they fit under its queue cap; resume any step an
    interrupted run left. Never creates a wave twice, never passes a held wave for a later one."""
    subs = ledger.job_waves(job)
    cap = job.max_enqueued_tokens
    for index, sub in enumerate(subs):
        if sub.state in ("new", "uploaded"):  # an interrupted run left this step: resume it
            subs[index] = _advance(sub, client_for(client, sub), ledger, on_step, resumed=True)
    stopped = job.stop_on_failure and any(s.status in ("failed", "expired", "cancelled") for s in subs)
    for index, sub in enumerate(subs):
        if sub.state != "held":
            continue
        if stopped:
            break
        enqueued = sum(s.input_tokens or 0 for s in subs if in_flight(s))
        if cap is not None and enqueued and enqueued + (sub.input_tokens or 0) > cap:
            on_step(f"wave {sub.wave}/{sub.waves} held: {enqueued:,} input tokens in flight + "
                    f"{sub.input_tokens or 0:,} would pass the cap of {cap:,}")
            break
        # recorded before the first remote call for it; a wave the queue refused keeps its uploaded file
        sub = ledger.update(sub, state="uploaded" if sub.file_id else "new")
        subs[index] = _advance(sub, client_for(client, sub), ledger, on_step, resumed=False)
    return subs


def job_summary(subs: list[Submission], ledger: Ledger) -> dict:
    """The job's waves together: per wave and in total, requests done / total and failed (from the ledger's
    last seen counts)."""
    waves: list[dict[str, Any]] = []
    total = {"requests": 0, "completed": 0, "failed": 0}
    for sub in subs:
        history = ledger.history(sub.batch_id) if sub.batch_id else []
        counts = history[-1] if history else {}
        waves.append({"id": sub.batch_id, "wave": sub.wave, "waves": sub.waves, "state": sub.state,
                      "status": sub.status or ("held" if sub.state == "held" else sub.state),
                      "requests": sub.requests, "completed": counts.get("completed") or 0,
                      "failed": counts.get("failed") or 0, "file_id": sub.file_id, "attempt": sub.attempt,
                      "input_tokens": sub.input_tokens, "tries": sub.tries})
        total["requests"] += sub.requests
        total["completed"] += waves[-1]["completed"]
        total["failed"] += waves[-1]["failed"]
    return {"batches": waves, "total": total}


def _finished(subs: list[Submission], stop_on_failure: bool) -> bool:
    if any(in_flight(s) for s in subs):
        return False
    held = [s for s in subs if s.state == "held"]
    return not held or (stop_on_failure and any(s.status in ("failed", "expired", "cancelled") for s in subs))


def wait_job(job, client: Clients, ledger: Ledger, *, poll_interval: float = 30.0, max_interval: float = 300.0,
             timeout: float | None = None, on_change: Callable[[dict], None] = lambda s: None,
             on_step: Callable[[str], None] = lambda s: None, sleep=time.sleep) -> list[Submission]:
    """Follow every wave of the job to its end, creating held waves as the queue makes room. A wave the server
    refused for the queue's token limit is held and made again later (never counted failed)."""
    interval, started = poll_interval, time.monotonic()
    last = None
    while True:
        with ledger.plan_lock(job.plan_sha256):  # one process advances a job at a time (wait, submit, cancel)
            for sub in ledger.job_waves(job):
                if sub.state == "created" and sub.status not in TERMINAL:
                    batch = remote_batch(client_for(client, sub).retrieve(sub.remote_id),
                                         f"retrieving batch {sub.batch_id}")
                    ledger.record_status(batch)
                    if providers.for_batch(batch["id"], sub.endpoint, sub.provider).queue_refused(batch):
                        on_step(f"wave {sub.wave}: {sub.batch_id} was refused for the queue's token limit; held "
                                "until the queue drains")
                        ledger.update(sub, state="held", batch_id=None, status=None, tries=sub.tries + 1)
            subs = advance_job(job, client, ledger, on_step=on_step)
        summary = job_summary(subs, ledger)
        if summary != last:
            on_change(summary)
            last = summary
        if _finished(subs, bool(job.stop_on_failure)):
            return subs
        interval = _pause(started, timeout, interval, max_interval, sleep, f"job {job.job_id} is still running",
                          job.job_id)


def cancel_job(job, client: Clients, ledger: Ledger) -> list[Submission]:
    """Cancel the job's unfinished waves; held waves are never created (under the plan's lock, so no other process
    is creating one meanwhile)."""
    with ledger.plan_lock(job.plan_sha256):
        for sub in ledger.job_waves(job):
            if sub.state == "held":
                ledger.update(sub, state="cancelled", status="cancelled")
            elif sub.state == "created" and sub.status not in TERMINAL:
                ledger.record_status(remote_batch(client_for(client, sub).cancel(sub.remote_id),
                                                  f"cancelling {sub.batch_id}"))
        return ledger.job_waves(job)


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


def remote_batch(batch, what: str) -> dict:
    """A batch object as a client returned it, checked before anything is recorded of it: an answer with no batch
    id, or a status outside our vocabulary, is ``RemoteError`` (exit 4). The wave then stays where it was (uploaded),
    so a rerun looks for the batch and makes it if it does not exist: never a "created" wave without a batch."""
    if not isinstance(batch, dict):
        raise RemoteError(f"{what} failed: the server's answer is not a batch object")
    if not isinstance(batch.get("id"), str) or not batch["id"].strip():
        raise RemoteError(f"{what} failed: the server answered without a batch id; nothing was recorded as created "
                          "(run the command again: it looks for the batch before making one)")
    if batch.get("status") not in providers.OUR_STATUSES:
        raise RemoteError(f"{what} failed: the server answered status {json.dumps(batch.get('status'))[:40]} for "
                          f"{batch['id']}, which is no batch status")
    return batch


def _create_once(sub: Submission, client: BatchClient, on_step, attempts: int = 6, sleep=time.sleep) -> dict:
    """Create the batch exactly once: after a transient failure, look for it before trying again."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return remote_batch(client.create_batch(sub.uploaded_id, sub.endpoint, {
                METADATA_KEY: sub.tag, "batchcost_plan": sub.plan_sha256[:64]}, wave_path=Path(sub.wave_path),
                model=sub.model or _wave_model(sub)), f"creating the batch for wave {sub.wave}")
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


def _wave_model(sub: Submission) -> str | None:
    """The model a wave's lines name (a wave holds one model), for a batch API that names it at create."""
    for item in read_plan(Path(sub.wave_path)):
        return item.model
    return None


def _find(client, sub: Submission) -> dict | None:
    """The batch an earlier, interrupted create made, if any: by our metadata tag where the provider keeps
    metadata, else by the wave's request count and creation time (the provider's client decides)."""
    found = client.find_batch(METADATA_KEY, sub.tag, requests=sub.requests, since=sub.updated_at)
    return None if found is None else remote_batch(found, f"looking for the batch of wave {sub.wave}")


def wait_batch(batch_id: str, client: BatchClient, ledger: Ledger, *, poll_interval: float = 30.0,
               max_interval: float = 300.0, timeout: float | None = None,
               on_status: Callable[[dict], None] = lambda b: None, sleep=time.sleep) -> dict:
    """Poll until the batch is terminal (backing off to ``max_interval``); every change goes to the ledger."""
    interval, started = poll_interval, time.monotonic()
    while True:
        batch = remote_batch(client.retrieve(batch_id), f"retrieving batch {batch_id}")
        ledger.record_status(batch)
        on_status(batch)
        if batch["status"] in TERMINAL:
            return batch
        interval = _pause(started, timeout, interval, max_interval, sleep,
                          f"batch {batch_id} is still {batch['status']}", batch_id)


def _pause(started: float, timeout: float | None, interval: float, max_interval: float, sleep, still: str,
           name: str) -> float:
    """One wait between polls, or ``RemoteError`` once ``timeout`` has passed; the next interval (backing off by
    1.5 to ``max_interval``)."""
    if timeout is not None and time.monotonic() - started > timeout:
        raise RemoteError(f"{still} after {timeout:.0f} s; run `batchcost wait {name}` again later")
    sleep(interval)
    return min(max_interval, interval * 1.5)


def file_stem(batch_id: str) -> str:
    """The name a batch's files get on disk: the id, with the ``/`` of resource names (Gemini's
    ``batches/ID``) as ``-``; an id that could name another folder is refused."""
    parts = batch_id.split("/")
    if not batch_id or any(c in batch_id for c in "\\\0") or any(p in ("", ".", "..") for p in parts):
        raise BatchcostError(f"{batch_id!r} is not a batch id")
    return "-".join(parts)


def download_batch(batch_id: str, out_dir: Path, client: BatchClient, ledger: Ledger) -> list[dict]:
    """Download the output and error files of a finished batch, whole then renamed. Safe to repeat."""
    return fetch_batch(batch_id, out_dir, client, ledger)[1]


def fetch_batch(batch_id: str, out_dir: Path, client: BatchClient, ledger: Ledger) -> tuple[dict, list[dict]]:
    """``download_batch``, also giving the batch object it read (its status and reported usage)."""
    from batchcost.core.atomic import check_output, check_output_dir

    stem = file_stem(batch_id)
    check_output_dir(out_dir, what="download folder")
    for kind in ("output", "error"):  # refused before anything is fetched
        check_output(out_dir / f"{stem}_{kind}.jsonl", what="download")
    batch = remote_batch(client.retrieve(batch_id), f"retrieving batch {batch_id}")
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
    return batch, results
