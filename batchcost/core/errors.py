"""One error tree for batchcost.

Every failure a user can cause or meet is a ``BatchcostError`` subclass carrying the exit code that
../shared/DESIGN.md assigns to it. The CLI maps these to one clear line and the exit code in one place
(``batchcost.cli.app.main``); library callers catch the class they care about.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

JOB_FILES = ".files.json"  # beside a job plan (``plans.jobs``): the files it joined, each with its first line


def job_files(plan: str | Path) -> list[dict] | None:
    """The files a job plan joined (path, sha256, lines, first line), from the record written beside it; None for a
    plain plan. Read from disk, so a worker process or another command sees the same."""
    sidecar = f"{os.fspath(plan)}{JOB_FILES}"
    try:
        stamp = os.stat(sidecar).st_mtime_ns
    except (OSError, ValueError):
        return None
    return _read_job_files(sidecar, stamp)


@functools.lru_cache(maxsize=64)
def _read_job_files(sidecar: str, stamp: int) -> list[dict] | None:
    try:
        with open(sidecar, encoding="utf-8") as fh:
            listing = json.load(fh)
    except (OSError, ValueError):
        return None
    return listing if isinstance(listing, list) else None


def files_named(names: list[str]) -> str:
    """What to call a job of these files in a message: "a + b", or "first … last (N files)"."""
    if len(names) > 2:
        return f"{names[0]} … {names[-1]} ({len(names)} files)"
    return " + ".join(names)


def origin(path: str | None, line: int | None) -> tuple[str | None, int | None]:
    """Where a line of a job plan (several files joined, ``plans.jobs``) came from: (file, line in that file). With
    no line, the job plan is named by its files (a message never names the internal file that joins them)."""
    listing = job_files(path) if path is not None else None
    if not listing:
        return path, line
    table = [(entry["first_line"], entry["path"]) for entry in listing]
    if line is None:
        return files_named([name for _, name in table]), None
    first, source = table[0]
    for start, name in table:
        if start > line:
            break
        first, source = start, name
    return source, line - first + 1


def line_of_plan(path: str | None, line: int) -> str:
    """Another line of the plan, for a message about this one: "line 7", or "waves/01.jsonl:7" for a job plan's line
    (the file it came from, so a message never names the internal job plan)."""
    source, number = origin(path, line)
    return f"{source}:{number}" if source != path else f"line {number}"


class BatchcostError(Exception):
    """Base class. ``exit_code`` follows DESIGN.md: 1 bad input, 2 usage, 3 budget, 4 remote."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        path, line = origin(self.path, self.line)
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        text = " ".join(self.message.split())  # never more than one line
        return f"{where}{text}"


class BadInput(BatchcostError):
    """A plan, dataset, template, price file or other input is not usable (exit 1)."""


class PlanError(BadInput):
    """A plan line is malformed: bad JSON, missing or wrong-typed fields."""


class UnknownModel(BadInput):
    """A model is not in the registry; the message names the closest known ones."""


class EncodingError(BadInput):
    """A tokenizer file is missing or fails its sha256 check."""


class UsageError(BatchcostError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class BudgetExceeded(BatchcostError):
    """An estimate is over budget, or an approval is refused (exit 3)."""

    exit_code = 3


class RemoteError(BatchcostError):
    """The remote API failed after retries (exit 4). ``transient``: trying again may help (429, 5xx, a dropped
    connection); ``status``: the HTTP status, where there was one."""

    exit_code = 4
    transient: bool = False
    status: int | None = None
