"""Where batchcost keeps its state: BATCHCOST_HOME (default ~/.batchcost), and its SQLite state files."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from batchcost.core.errors import BadInput


class StateError(BadInput):
    """BATCHCOST_HOME or a state database in it cannot be used; batchcost never changes such a file."""


LEDGER_FILE, CALIBRATION_FILE = "ledger.sqlite3", "calibration.sqlite3"


def home_path() -> Path:
    """BATCHCOST_HOME (default ~/.batchcost), without creating it."""
    return Path(os.environ.get("BATCHCOST_HOME") or Path.home() / ".batchcost")


def state_files() -> list[Path]:
    """The state databases under BATCHCOST_HOME that exist (nothing is created to find them)."""
    root = home_path()
    return [p for p in (root / LEDGER_FILE, root / CALIBRATION_FILE) if p.exists()]


def home() -> Path:
    path = home_path()
    if path.exists() and not path.is_dir():
        raise StateError("BATCHCOST_HOME is not a directory; point BATCHCOST_HOME at a folder", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create BATCHCOST_HOME: {exc.strerror}; point BATCHCOST_HOME at a writable folder",
                         path=path) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateError("BATCHCOST_HOME is not writable; point BATCHCOST_HOME at a writable folder", path=path)
    return path


def _damaged(path: Path, what: str, exc: Exception) -> StateError:
    return StateError(f"the {what} cannot be used ({exc}); batchcost has not changed it. Move it aside to start a "
                      f"new one, or restore it from a backup", path=path)


class _StateConnection(sqlite3.Connection):
    """A connection whose every failure of the database file names that file and how to recover."""

    state_path: Path
    state_what: str

    def _run(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise  # busy, not damaged: the caller's timeout and retries apply
            raise _damaged(self.state_path, self.state_what, exc) from None

    def execute(self, *args, **kwargs):
        return self._run(super().execute, *args, **kwargs)

    def executemany(self, *args, **kwargs):
        return self._run(super().executemany, *args, **kwargs)


def open_state_db(path: Path, schema: str, main_table: str, what: str) -> sqlite3.Connection:
    """Open (or create) a state database: WAL journal, synchronous writes, ``schema`` applied. A file that is not
    a database, is damaged, or is some other program's database is a ``StateError``, and is left untouched."""
    from batchcost.core.atomic import register_input

    register_input(path)  # no output of the command may replace it
    if path.exists() and not path.is_file():
        raise StateError(f"the {what} is not a regular file", path=path)
    try:
        db = sqlite3.connect(path, timeout=60, isolation_level=None, factory=_StateConnection)
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, what, exc) from None
    db.state_path, db.state_what = path, what
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and main_table not in tables:
        db.close()
        raise StateError(f"the {what} is an SQLite database of something else (tables: "
                         f"{', '.join(sorted(tables))[:80]}); batchcost has not changed it. Point BATCHCOST_HOME "
                         "elsewhere, or move it aside", path=path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    try:
        db.executescript(schema)
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, what, exc) from None
    return db
