"""Calibration: observed output lengths and cache hits, keyed by model and template fingerprint.

Every reconcile records, per succeeded request, its output, reasoning, input and cached tokens under
(model family, fingerprint) in BATCHCOST_HOME/calibration.sqlite3: numbers only, never the texts. The estimate's
``--output-tokens calibrated`` basis and its prompt-cache forecast read them back.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from batchcost.home import CALIBRATION_FILE, home, open_state_db

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
"""


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
