"""One error tree for batchcost.

Every failure a user can cause or meet is a ``BatchcostError`` subclass carrying the exit code that
../shared/DESIGN.md assigns to it. The CLI maps these to one clear line and the exit code in one place
(``batchcost.cli.app.main``); library callers catch the class they care about.
"""
from __future__ import annotations

from pathlib import Path


ORIGINS: dict[str, list[tuple[int, str]]] = {}  # a job plan -> (its first line, the file it came from), in order


def origin(path: str | None, line: int | None) -> tuple[str | None, int | None]:
    """Where a line of a job plan (several files joined, ``plans.jobs``) came from: (file, line in that file)."""
    table = ORIGINS.get(path) if path is not None else None
    if not table or line is None:
        return path, line
    first, source = table[0]
    for start, name in table:
        if start > line:
            break
        first, source = start, name
    return source, line - first + 1


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
    """The remote API failed after retries (exit 4)."""

    exit_code = 4
