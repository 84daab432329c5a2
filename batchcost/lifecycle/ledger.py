"""The durable ledger: every step of every submission, in SQLite under BATCHCOST_HOME, or in PostgreSQL for a
team (``BATCHCOST_LEDGER_URL``, ``batchcost.lifecycle.pgstate``).

Each step is committed before the next remote call, so a process killed at any point can be resumed from the
ledger: nothing is uploaded or created twice, nothing is lost. WAL journal with synchronous=FULL survives a kill
mid-write. The API key is never stored.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcost.core.home import LEDGER_FILE, home, open_state_db
from batchcost.core.records import Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    plan_sha256 TEXT NOT NULL,
    plan_path TEXT NOT NULL,
    wave INTEGER NOT NULL,
    waves INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    wave_path TEXT NOT NULL,
    wave_sha256 TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    requests INTEGER NOT NULL,
    base_url TEXT,
    approval TEXT,
    state TEXT NOT NULL,          -- held -> new -> uploaded -> created (or cancelled while held)
    file_id TEXT,
    batch_id TEXT,
    status TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (plan_sha256, wave, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER, completed INTEGER, failed INTEGER,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS downloads (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,      -- job-<plan sha256, 12>-<attempt>: every wave of one approved plan
    plan_sha256 TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    max_enqueued_tokens INTEGER,  -- the queue cap the waves are paced under (NULL: every wave at once)
    stop_on_failure INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY,
    plan_sha256 TEXT NOT NULL,
    project TEXT,                 -- NULL: no project (only "*" budgets apply)
    approved_by TEXT NOT NULL,
    principal TEXT,               -- the verified-at-sign-time principal of a signed approval
    approved_at TEXT NOT NULL,
    provider TEXT,
    models TEXT,                  -- comma-separated
    batch_high TEXT,              -- exact decimal strings (NULL: no upper bound)
    batch_expected TEXT,
    realtime_expected TEXT,
    budget TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reconciliations (
    id INTEGER PRIMARY KEY,
    plan_sha256 TEXT NOT NULL,
    scope TEXT NOT NULL,          -- the batch id, job id, or "results" (files given by hand)
    actual_cost TEXT NOT NULL,    -- exact decimal strings
    estimated_expected TEXT,
    succeeded INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_projects (  -- the project a template books its plans to (approve's default)
    plan_sha256 TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    template TEXT,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (  -- the schema version: a ledger of a newer batchcost is refused, never written
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_plan ON approvals (plan_sha256);
CREATE INDEX IF NOT EXISTS reconciliations_plan ON reconciliations (plan_sha256);
CREATE INDEX IF NOT EXISTS submissions_batch ON submissions (batch_id);
CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id);
"""


SCHEMA_VERSION = 1  # what this batchcost writes; a later version that changes the tables raises it


ADDED_COLUMNS = (("input_tokens", "INTEGER"),  # the wave's input tokens, counted exactly: what it enqueues
                 ("tries", "INTEGER NOT NULL DEFAULT 0"),  # batches refused for the queue cap, then made again
                 ("usage", "TEXT"),  # the usage the batch object last reported (neutral counts, JSON), if any
                 ("project", "TEXT"),  # the approval's project: every wave carries the project it is booked to
                 ("provider", "TEXT"))  # the provider the wave went to (NULL in older ledgers: told by its endpoint)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Submission:
    id: int
    plan_sha256: str
    plan_path: str
    wave: int
    waves: int
    attempt: int
    wave_path: str
    wave_sha256: str
    endpoint: str
    requests: int
    base_url: str | None
    approval: str | None
    state: str
    file_id: str | None
    batch_id: str | None
    status: str | None
    created_at: str
    updated_at: str
    input_tokens: int | None = None
    tries: int = 0
    usage: str | None = None
    project: str | None = None
    provider: str | None = None

    @property
    def tag(self) -> str:
        """What the batch's metadata carries, to find it again after a crash (a wave made again after the queue
        refused it has a tag of its own, so the refused batch is never taken for it)."""
        base = f"{self.plan_sha256[:32]}:{self.wave}:{self.attempt}"
        return f"{base}:{self.tries}" if self.tries else base

    @property
    def job_id(self) -> str:
        return job_id(self.plan_sha256, self.attempt)

    @property
    def remote_id(self) -> str:
        """The batch id of a created wave (the ledger has it from the create on)."""
        return self._recorded(self.batch_id, "batch id")

    @property
    def uploaded_id(self) -> str:
        """The file id of an uploaded wave."""
        return self._recorded(self.file_id, "uploaded file id")

    def _recorded(self, value: str | None, what: str) -> str:
        if value is None:
            from batchcost.core.home import StateError

            raise StateError(f"wave {self.wave} of plan {self.plan_sha256[:12]} ({self.state}) has no {what} in "
                             "the ledger")
        return value

    @property
    def model(self) -> str | None:
        """The approved model when the approval names one (Gemini lines carry none: the batch's model is it)."""
        import json

        try:
            models = (json.loads(self.approval or "{}").get("plan") or {}).get("models") or []
        except (ValueError, AttributeError):
            return None
        return models[0] if len(models) == 1 else None

    @property
    def upload_name(self) -> str:
        return f"batchcost-{self.plan_sha256[:12]}-w{self.wave}-a{self.attempt}.jsonl"


def _project(approval: str | None) -> str | None:
    try:
        project = json.loads(approval or "{}").get("project")
    except (ValueError, AttributeError):
        return None
    return project if isinstance(project, str) else None


def job_id(plan_sha256: str, attempt: int) -> str:
    return f"job-{plan_sha256[:12]}-{attempt}"


def _attempt_of(name: str) -> int:
    try:
        return int(name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


@dataclass
class Job:
    job_id: str
    plan_sha256: str
    attempt: int
    max_enqueued_tokens: int | None
    stop_on_failure: int
    created_at: str


class Ledger:
    def __init__(self, path: str | Path | None = None):
        from batchcost.lifecycle.pgstate import ledger_url, open_pg

        url = None if path else ledger_url()
        self.shared = url is not None  # the team's PostgreSQL ledger: locks are the database's, not files
        self.path: Path | None
        self.db: Any  # sqlite3.Connection or PgConnection, used through the calls both have
        if url is not None:
            self.path = None
            self.db = open_pg(url, SCHEMA, "ledger")
            columns = self.db.columns("submissions")
        else:
            self.path = Path(path) if path else home() / LEDGER_FILE
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = open_state_db(self.path, SCHEMA, "submissions", "ledger")
            self.db.row_factory = sqlite3.Row
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(submissions)")}
        self._check_version()
        for name, kind in ADDED_COLUMNS:
            if name not in columns:
                self.db.execute(f"ALTER TABLE submissions ADD COLUMN {'IF NOT EXISTS ' if self.shared else ''}"
                                f"{name} {kind}")

    def _check_version(self) -> None:
        """Refuse a ledger that a newer batchcost made (it may hold what this one would misread or break)."""
        from batchcost.core.home import StateError

        self.db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            version = None
        if version is None or version > SCHEMA_VERSION:
            where = self.path if self.path is not None else self.db.state_path
            self.close()
            raise StateError(f"the ledger has schema version {row[0] if row else '?'}, newer than this batchcost's "
                             f"({SCHEMA_VERSION}); batchcost has not changed it. Upgrade batchcost, or point "
                             "BATCHCOST_HOME (or BATCHCOST_LEDGER_URL) at another ledger", path=where)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def plan_lock(self, plan_sha256: str) -> Iterator[None]:
        """One submitter per plan at a time, across processes (and, with the PostgreSQL ledger, machines: an
        advisory lock); released by the OS, or the database server, if the process dies."""
        if self.shared:
            with self.db.advisory_lock(f"batchcost-plan:{plan_sha256}"):
                yield
            return
        assert self.path is not None  # a local ledger
        locks = self.path.parent / "locks"
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / f"{plan_sha256}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- submissions --------------------------------------------------------------------------------------
    def submissions(self, plan_sha256: str, attempt: int | None = None) -> list[Submission]:
        query = "SELECT * FROM submissions WHERE plan_sha256 = ?"
        args: list = [plan_sha256]
        if attempt is not None:
            query += " AND attempt = ?"
            args.append(attempt)
        return [Submission(**dict(r)) for r in self.db.execute(query + " ORDER BY attempt, wave", args)]

    def latest_attempt(self, plan_sha256: str) -> int:
        row = self.db.execute("SELECT MAX(attempt) FROM submissions WHERE plan_sha256 = ?", (plan_sha256,)).fetchone()
        return row[0] or 0

    def add_schedule(self, rows: list[dict]) -> None:
        """A job's waves, all in one transaction (a kill leaves the whole schedule or none of it), held until
        they are created."""
        stamp = now()
        with self.transaction() as db:
            for fields in rows:
                fields = {"state": "held", "project": _project(fields.get("approval")), **fields,
                          "created_at": stamp, "updated_at": stamp}
                db.execute(f"INSERT OR IGNORE INTO submissions ({', '.join(fields)}) VALUES "
                           f"({', '.join('?' * len(fields))})", list(fields.values()))

    def update(self, submission: Submission, **fields) -> Submission:
        fields["updated_at"] = now()
        with self.transaction() as db:
            db.execute(f"UPDATE submissions SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                       [*fields.values(), submission.id])
        for key, value in fields.items():
            setattr(submission, key, value)
        return submission

    # -- jobs ---------------------------------------------------------------------------------------------
    def add_job(self, plan_sha256: str, attempt: int, *, max_enqueued_tokens: int | None,
                stop_on_failure: bool) -> Job:
        """The job of (plan, attempt): recorded once; a later submit of it keeps the first settings unless it
        names a cap of its own."""
        name = job_id(plan_sha256, attempt)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO jobs (job_id, plan_sha256, attempt, max_enqueued_tokens, "
                       "stop_on_failure, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, plan_sha256, attempt, max_enqueued_tokens, int(stop_on_failure), now()))
            if max_enqueued_tokens is not None:
                db.execute("UPDATE jobs SET max_enqueued_tokens = ? WHERE job_id = ?", (max_enqueued_tokens, name))
        job = self.job(name)
        assert job is not None  # just recorded
        return job

    def job(self, name: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE job_id = ?", (name,)).fetchone()
        if row is not None:
            return Job(**dict(row))
        # a job submitted before jobs were recorded: its waves are still in the ledger
        for sub in self.db.execute("SELECT plan_sha256, attempt, created_at FROM submissions WHERE plan_sha256 "
                                   "LIKE ? AND attempt = ? LIMIT 1", (name[4:16] + "%", _attempt_of(name))):
            return Job(name, sub["plan_sha256"], sub["attempt"], None, 0, sub["created_at"])
        return None

    def job_waves(self, job: Job) -> list[Submission]:
        return self.submissions(job.plan_sha256, job.attempt)

    def by_batch(self, batch_id: str) -> Submission | None:
        row = self.db.execute("SELECT * FROM submissions WHERE batch_id = ?", (batch_id,)).fetchone()
        return Submission(**dict(row)) if row else None

    def all_submissions(self, limit: int = 50) -> list[Submission]:
        rows = self.db.execute("SELECT * FROM submissions ORDER BY id DESC LIMIT ?", (limit,))
        return [Submission(**dict(r)) for r in rows]

    # -- events and downloads -------------------------------------------------------------------------------
    def record_status(self, batch: dict) -> bool:
        """Record a status seen for a batch (and the usage it reports, for `spend`); True when the status or its
        counts changed since the last one recorded."""
        from batchcost import providers

        sub = self.by_batch(batch.get("id") or "")
        usage = providers.for_batch(batch.get("id") or "", batch.get("endpoint"),
                                    sub.provider if sub is not None else None).batch_usage(batch)
        if usage is not None:  # written only when it moved: a poll that changes nothing writes nothing
            text = json.dumps(usage.as_dict(), sort_keys=True)
            stored = self.db.execute("SELECT usage FROM submissions WHERE batch_id = ?", (batch["id"],)).fetchone()
            if stored is not None and stored["usage"] != text:
                with self.transaction() as db:
                    db.execute("UPDATE submissions SET usage = ? WHERE batch_id = ?", (text, batch["id"]))
        counts = batch.get("request_counts") or {}
        last = self.db.execute("SELECT status, completed, failed FROM events WHERE batch_id = ? ORDER BY id DESC "
                               "LIMIT 1", (batch["id"],)).fetchone()
        current = (batch["status"], counts.get("completed"), counts.get("failed"))
        if last is not None and tuple(last) == current:
            return False
        with self.transaction() as db:
            db.execute("INSERT INTO events (batch_id, at, status, total, completed, failed, detail) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (batch["id"], now(), batch["status"], counts.get("total"), counts.get("completed"),
                        counts.get("failed"), json.dumps(batch.get("errors")) if batch.get("errors") else None))
            db.execute("UPDATE submissions SET status = ?, updated_at = ? WHERE batch_id = ?",
                       (batch["status"], now(), batch["id"]))
        return True

    def history(self, batch_id: str) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT at, status, total, completed, failed FROM events "
                                                 "WHERE batch_id = ? ORDER BY id", (batch_id,))]

    # -- spend: approvals and reconciliations --------------------------------------------------------------
    def add_approval(self, approval: dict) -> int:
        """An approval as ``approve`` writes it: the spend it books (its project, batch high and expected). Returns
        the booking's id (``remove_approval`` takes it back when the approval file cannot be written)."""
        plan, cost = approval.get("plan") or {}, ((approval.get("estimate") or {}).get("cost") or {})
        batch, realtime = cost.get("batch") or {}, cost.get("realtime") or {}
        signature = approval.get("signature") or {}
        with self.transaction() as db:
            db.execute("INSERT INTO approvals (plan_sha256, project, approved_by, principal, approved_at, provider, "
                       "models, batch_high, batch_expected, realtime_expected, budget) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (plan.get("sha256"), approval.get("project"), approval.get("approved_by"),
                        signature.get("principal"), approval.get("approved_at"), plan.get("provider"),
                        ",".join(plan.get("models") or []), batch.get("high"), batch.get("expected"),
                        realtime.get("expected"), approval.get("budget")))
            row = db.execute("SELECT MAX(id) FROM approvals WHERE plan_sha256 = ?", (plan.get("sha256"),)).fetchone()
        return row[0]

    def remove_approval(self, booking: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM approvals WHERE id = ?", (booking,))

    def set_plan_project(self, shas: list[str], project: str, template: str) -> None:
        with self.transaction() as db:
            for sha in shas:
                db.execute("DELETE FROM plan_projects WHERE plan_sha256 = ?", (sha,))
                db.execute("INSERT INTO plan_projects (plan_sha256, project, template, at) VALUES (?, ?, ?, ?)",
                           (sha, project, template, now()))

    def plan_project(self, shas: list[str]) -> str | None:
        """The project a template booked these plan files to, when they all name the same one."""
        found = set()
        for sha in shas:
            row = self.db.execute("SELECT project FROM plan_projects WHERE plan_sha256 = ?", (sha,)).fetchone()
            if row is None:
                return None
            found.add(row["project"])
        return found.pop() if len(found) == 1 else None

    def approvals(self) -> list[dict]:
        """The latest approval of each plan (approving a plan again replaces its booking)."""
        rows = self.db.execute("SELECT * FROM approvals a WHERE id = (SELECT MAX(id) FROM approvals b WHERE "
                               "b.plan_sha256 = a.plan_sha256) ORDER BY approved_at, id")
        return [dict(r) for r in rows]

    def add_reconciliation(self, plan_sha256: str, scope: str, actual_cost: str, estimated_expected: str | None,
                           succeeded: int) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO reconciliations (plan_sha256, scope, actual_cost, estimated_expected, succeeded, "
                       "at) VALUES (?, ?, ?, ?, ?, ?)",
                       (plan_sha256, scope, actual_cost, estimated_expected, succeeded, now()))

    def reconciliations(self) -> dict[str, dict]:
        """plan sha256 -> its latest reconciliation."""
        rows = self.db.execute("SELECT * FROM reconciliations r WHERE id = (SELECT MAX(id) FROM reconciliations s "
                               "WHERE s.plan_sha256 = r.plan_sha256)")
        return {r["plan_sha256"]: dict(r) for r in rows}

    def submitted_plans(self) -> dict[str, dict]:
        """plan sha256 -> what its waves are doing: {"waves", "created", "finished", "usage": [each created wave's
        reported usage, or None], "endpoint"} (the latest attempt of each plan)."""
        out: dict[str, dict] = {}
        for r in self.db.execute("SELECT plan_sha256, attempt, state, status, usage, endpoint FROM submissions s "
                                 "WHERE attempt = (SELECT MAX(attempt) FROM submissions t WHERE t.plan_sha256 = "
                                 "s.plan_sha256)"):
            entry = out.setdefault(r["plan_sha256"], {"waves": 0, "created": 0, "finished": 0, "usage": [],
                                                      "endpoint": r["endpoint"]})
            entry["waves"] += 1
            if r["state"] == "created":
                entry["created"] += 1
                entry["finished"] += r["status"] in ("completed", "failed", "expired", "cancelled")
                entry["usage"].append(Usage.from_dict(json.loads(r["usage"])) if r["usage"] else None)
        return out

    def record_download(self, batch_id: str, kind: str, file_id: str, path: Path, sha256: str, size: int) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO downloads (batch_id, kind, file_id, path, sha256, bytes, at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (batch_id, kind, file_id, str(path), sha256, size, now()))

    def downloads(self, batch_id: str) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT kind, file_id, path, sha256, bytes, at FROM downloads "
                                                 "WHERE batch_id = ? ORDER BY id", (batch_id,))]
