"""Calibration: observed output lengths and cache hits, keyed by model and template fingerprint.

Every reconcile records, per succeeded request, its output, reasoning, input and cached tokens under
(model family, fingerprint) in BATCHCOST_HOME/calibration.sqlite3: numbers only, never the texts. The estimate's
``--output-tokens calibrated`` basis and its prompt-cache forecast read them back.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcost.core.home import CALIBRATION_FILE, home, open_state_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    request TEXT NOT NULL,            -- sha256 of the custom_id, so a reconcile run twice counts once
    input_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (plan_sha256, request)
);
CREATE INDEX IF NOT EXISTS observations_key ON observations (model, fingerprint);
CREATE TABLE IF NOT EXISTS input_counts (   -- approximate counts against what was billed, per model family
    model TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    request TEXT NOT NULL,
    estimated INTEGER NOT NULL,
    billed INTEGER NOT NULL,
    UNIQUE (plan_sha256, request)
);
"""
MIN_COUNT_OBSERVATIONS = 20  # fewer: the stated band stays as it is


@dataclass(frozen=True)
class Observation:
    model: str
    fingerprint: str
    custom_id: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True)
class Stats:
    n: int
    p50: int
    p90: int
    cache_rate: float  # cached / input tokens observed


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, math.ceil(q / 100 * len(values)))
    return values[rank - 1]


class Calibration:
    def __init__(self, path: str | Path | None = None):
        from batchcost.lifecycle.pgstate import ledger_url, open_pg

        url = None if path else ledger_url()
        self.path: Path | None
        self.db: Any  # sqlite3.Connection or PgConnection, used through the calls both have
        if url is not None:  # the team ledger's database holds the calibration store too
            self.path = None
            self.db = open_pg(url, SCHEMA, "calibration store")
        else:
            self.path = Path(path) if path else home() / CALIBRATION_FILE
            self.db = open_state_db(self.path, SCHEMA, "observations", "calibration store")
        self._memo: dict[tuple[str, str], Stats | None] = {}

    def record(self, plan_sha256: str, observations: Iterable[Observation], at: str) -> int:
        """Store observations (once per plan and request); return how many were new."""
        rows = [(o.model, o.fingerprint, plan_sha256, hashlib.sha256(o.custom_id.encode()).hexdigest(),
                 o.input_tokens, o.cached_tokens, o.output_tokens, o.reasoning_tokens, at) for o in observations]
        self.db.execute("BEGIN IMMEDIATE")
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO observations (model, fingerprint, plan_sha256, request, "
                            "input_tokens, cached_tokens, output_tokens, reasoning_tokens, at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.db.execute("COMMIT")
        self._memo.clear()
        return self.db.total_changes - before

    def record_counts(self, plan_sha256: str, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """(family, custom_id, estimated, billed) of approximate counts, once per plan and request."""
        data = [(m, plan_sha256, hashlib.sha256(c.encode()).hexdigest(), e, b) for m, c, e, b in rows if e > 0]
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany("INSERT OR IGNORE INTO input_counts VALUES (?, ?, ?, ?, ?)", data)
        self.db.execute("COMMIT")

    def count_corrections(self) -> dict:
        """family -> (low, central, high) multipliers of an approximate count, from billed / estimated: the
        median, and the smallest and largest seen with a 3% margin; only with MIN_COUNT_OBSERVATIONS or more."""
        from decimal import Decimal

        out = {}
        rows = self.db.execute("SELECT model, billed * 1.0 / estimated FROM input_counts ORDER BY model").fetchall()
        by_model: dict[str, list[float]] = {}
        for model, ratio in rows:
            by_model.setdefault(model, []).append(ratio)
        for model, ratios in by_model.items():
            if len(ratios) >= MIN_COUNT_OBSERVATIONS:
                ratios.sort()
                out[model] = tuple(Decimal(str(round(v, 4))) for v in
                                   (ratios[0] * 0.97, ratios[len(ratios) // 2], ratios[-1] * 1.03))
        return out

    def stats(self, model: str, fingerprint: str) -> Stats | None:
        key = (model, fingerprint)
        if key not in self._memo:
            rows = self.db.execute("SELECT output_tokens, input_tokens, cached_tokens FROM observations "
                                   "WHERE model = ? AND fingerprint = ?", key).fetchall()
            if not rows:
                self._memo[key] = None
            else:
                outputs = sorted(r[0] for r in rows)
                inputs = sum(r[1] for r in rows)
                self._memo[key] = Stats(len(rows), percentile(outputs, 50), percentile(outputs, 90),
                                        (sum(r[2] for r in rows) / inputs) if inputs else 0.0)
        return self._memo[key]


def count_corrections() -> dict:
    """What reconciles learned about approximate counts; {} when there is no calibration store (nothing is made)."""
    from batchcost.lifecycle.pgstate import ledger_url

    if ledger_url() is not None:
        return Calibration().count_corrections()
    path = home() / CALIBRATION_FILE
    if not path.exists():
        return {}
    return Calibration(path).count_corrections()
