"""A progress bar on a terminal (stderr), silence when piped."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MIN_BYTES = 8 << 20  # small plans finish before a bar would help


@contextmanager
def byte_progress(path: Path, label: str) -> Iterator[Callable[[int], None] | None]:
    """Yield a callback taking bytes consumed, or None when no bar should be shown."""
    try:
        total = path.stat().st_size
    except OSError:
        total = 0
    if not sys.stderr.isatty() or total < MIN_BYTES:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def batch_progress(batch_id: str) -> Iterator[Callable[[dict], None]]:
    """Yield a callback taking a retrieved batch: a bar from request_counts on a terminal, status lines otherwise."""
    if not sys.stderr.isatty():
        last: dict[str, Any] = {}

        def report(batch: dict) -> None:
            if batch["status"] != last.get("status"):
                print(f"{batch_id}: {batch['status']}", file=sys.stderr)
                last["status"] = batch["status"]

        yield report
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(batch_id, total=None)

        def update(batch: dict) -> None:
            counts = batch.get("request_counts") or {}
            total = counts.get("total") or None
            done = (counts.get("completed") or 0) + (counts.get("failed") or 0)
            bar.update(task, total=total, completed=done, description=f"{batch_id} {batch['status']}")

        yield update


@contextmanager
def count_progress(path: Path, label: str) -> Iterator[Callable[[int], None] | None]:
    """Requests done, on a terminal (the total is not known before the plan is read); None when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), "[progress.description]{task.description}", MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"{label}: {path.name}", total=None)
        yield lambda n: bar.advance(task, n)
