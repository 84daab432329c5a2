"""Counting a plan in parts: byte ranges tallied by worker processes (or Dask tasks) and merged in plan order.

Each part starts at the first line that begins at or after its start offset and ends with the last line that
begins before its end offset, so every line is counted exactly once. The merged result is identical to the
serial engine's (tests compare them).
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from batchcost.atomic import signals_held
from batchcost.errors import PlanError, BatchcostError
from batchcost.estimator.estimate import Estimate, OutputForecast, Tally, finish, tally_plan_lines
from batchcost.estimator.plan_counts import PlanCounter
from batchcost.plans.reader import parse_line, plan_sha256
from batchcost.pricing.tables import PriceTable

MIN_PARALLEL_BYTES = 32 << 20  # below this, starting processes costs more than it saves


@dataclass
class RangeResult:
    tally: Tally | None
    first_line_offset: int  # byte offset of the part's first line
    error: tuple[type, str, int | None] | None = None  # (error class, message, line within the part)


PART_BYTES = 2 << 20  # small parts: when the processes meet at the end, the one still counting is nearly done


def part_count(size: int, jobs: int) -> int:
    """How many byte ranges to cut a plan of ``size`` bytes into for ``jobs`` processes: ~2 MB each (at least 8 per
    process, at most 4,096). A part costs well under a millisecond to start; an uneven finish costs up to a part."""
    return max(jobs * 8, min(4096, -(-size // PART_BYTES)))


def byte_ranges(size: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, size or 1))
    step = -(-size // parts)
    return [(i * step, min(size, (i + 1) * step)) for i in range(parts) if i * step < size] or [(0, 0)]


def tally_range(path: str, start: int, end: int, prices: PriceTable, forecast_spec: str, encoding: str | None = None,
                assume_image_size: tuple[int, int] | None = None) -> RangeResult:
    """Count and tally the lines of ``path`` that begin in [start, end). Runs in a worker process or Dask task."""
    plan = Path(path)
    forecast = OutputForecast.parse(forecast_spec)
    counter = PlanCounter(encoding=encoding, assume_image_size=assume_image_size, base_dir=plan.parent,
                          fingerprints=forecast.basis == "calibrated")
    with plan.open("rb") as fh:
        if start > 0:
            fh.seek(start - 1)
            fh.readline()  # finish the line that began before this part
        first = fh.tell()
        read = 0  # lines read so far: where an error without a line of its own happened

        def lines():
            nonlocal read
            position = first
            for raw in fh:
                if position >= end:
                    return
                position += len(raw)
                read += 1
                yield raw

        try:
            tally = tally_plan_lines(lines(), plan, prices, counter, forecast)
        except BatchcostError as exc:
            return RangeResult(None, first, (type(exc), exc.message, exc.line if exc.line is not None else read))
    return RangeResult(tally, first)


HASH_PART = (-1, -1)  # the byte range that stands for "hash the whole plan" in a list of parts


def run_part(path: str, start: int, end: int, prices: PriceTable, forecast_spec: str, encoding: str | None = None,
             assume_image_size: tuple[int, int] | None = None,
             reading: tuple[str | None, str | None] = (None, None)) -> RangeResult | str:
    """One task of a worker: the sha256 of the whole plan for ``HASH_PART``, else the tally of [start, end).
    The hash is a task like the others, so it is balanced with them instead of competing with them. ``reading``
    is how the caller reads plans (``--provider``, ``--model``): a Dask worker is another process on another
    machine, so it is told."""
    from batchcost import providers

    providers.force(reading[0])
    providers.set_default_model(reading[1])
    if (start, end) == HASH_PART:
        return plan_sha256(path)
    return tally_range(path, start, end, prices, forecast_spec, encoding, assume_image_size)


def _lines_before(path: Path, offset: int) -> int:
    count, remaining = 0, offset
    with path.open("rb") as fh:
        while remaining > 0:
            block = fh.read(min(1 << 22, remaining))
            if not block:
                break
            count += block.count(b"\n")
            remaining -= len(block)
    return count


def merge_results(path: Path, results: Sequence[RangeResult], prices: PriceTable, forecast: OutputForecast,
                  sha256: str) -> Estimate:
    """Merge parts in plan order; the first error in plan order is raised with its line in the whole file."""
    for result in results:
        if result.error is not None:
            kind, message, local = result.error
            raise kind(message, path=path, line=_lines_before(path, result.first_line_offset) + (local or 0))
    tally = Tally()
    for result in results:
        try:
            tally.merge(result.tally)
        except PlanError:
            raise PlanError("the plan mixes providers' request lines; a plan holds one provider's requests "
                            "(run without --jobs to see the first odd line)", path=path) from None
    estimate = finish(tally, prices, forecast, {"path": str(path)})
    estimate.plan = {"path": str(path), "sha256": sha256, **{k: v for k, v in estimate.plan.items() if k != "path"}}
    return estimate


def estimate_in_parts(path: str | Path, prices: PriceTable, *, forecast: OutputForecast, jobs: int,
                      map_parts: Callable | None = None, encoding: str | None = None,
                      assume_image_size: tuple[int, int] | None = None, progress=None) -> Estimate:
    """Estimate ``path`` split into parts. ``map_parts(function, args_list)`` runs the parts (processes by
    default, a Dask client for the dask engine) and returns their results in order."""
    path = Path(path)
    size = path.stat().st_size
    if map_parts is None:
        _preload_encoding(path, encoding)  # forked workers then share the loaded tokenizer instead of loading it
    ranges = [HASH_PART] + byte_ranges(size, part_count(size, jobs))
    from batchcost import providers

    reading = (providers.forced(), providers.default_model())
    args = [(str(path), start, end, prices, forecast.spec, encoding, assume_image_size, reading)
            for start, end in ranges]
    sha256, *results = (map_parts or _process_map(jobs, progress))(run_part, args)
    return merge_results(path, results, prices, forecast, sha256)


def _preload_encoding(path: Path, encoding: str | None) -> None:
    from batchcost.estimator.encodings import load
    from batchcost.estimator.models import resolve_model

    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                item = parse_line(raw, path, number)
                if item is not None:
                    load(encoding or resolve_model(item.model).encoding)
                    return
    except BatchcostError:
        return  # the workers report it, with its line


def _process_map(jobs: int, progress: Callable[[int], None] | None = None) -> Callable:
    """Run parts on ``jobs`` processes: this one and ``jobs - 1`` forked workers, work-stealing.

    The workers claim parts from the front of the list and this process claims them from the back, one at a time
    from a shared cursor, until the two ends meet: nobody idles while a part is left (a part is never bound to a
    busy worker in advance), and there is one copy fewer of the tokenizer in memory than with ``jobs`` workers
    beside an idle parent. ``progress(bytes)`` hears of the byte-range parts as they finish."""
    def run(function, args_list):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        results: list = [None] * len(args_list)
        if jobs <= 1 or len(args_list) <= 1:
            for i, args in enumerate(args_list):
                results[i] = function(*args)
                if progress is not None and _part_bytes(args):
                    progress(_part_bytes(args))
            return results
        context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        shared = context.Array("q", [0, len(args_list) - 1, 0])  # front, back, bytes the workers have counted
        pool = ProcessPoolExecutor(max_workers=jobs - 1, mp_context=context, initializer=_start_worker,
                                   initargs=(function, args_list, shared))
        try:
            theirs = 0  # worker bytes already reported
            try:
                with signals_held():  # a signal during the fork is acted on once the workers have their handlers
                    futures = [pool.submit(_drain) for _ in range(jobs - 1)]
                while (i := _claim(shared, from_front=False)) is not None:
                    results[i] = function(*args_list[i])
                    if progress is not None:
                        with shared.get_lock():
                            counted = shared[2]
                        if delta := _part_bytes(args_list[i]) + counted - theirs:
                            progress(delta)
                        theirs = counted
                for future in futures:
                    try:
                        done = future.result()
                    except BrokenProcessPool:
                        raise BatchcostError("a worker process died (killed by a signal, or out of memory); nothing "
                                             "was written: run again, or with fewer --jobs") from None
                    for i, result in done:
                        results[i] = result
            except BaseException:  # interrupted, or a part failed: the workers stop after the part they are on
                _give_up(shared)
                raise
            if progress is not None and shared[2] > theirs:
                progress(shared[2] - theirs)
            return results
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return run


_WORK: dict = {}  # what a worker process was given when it started (fork: inherited, not pickled)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _quit_quietly(signum, frame) -> None:
    os._exit(128 + signum)  # a worker has no file of its own to clean up; the command says 'interrupted'


def _start_worker(function: Callable, args_list: list, shared) -> None:
    """A worker leaves Ctrl-C to the command (which stops the others and cleans up) and ends without a word on
    SIGTERM; only then are the signals held during the fork let through."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _quit_quietly)
    if hasattr(signal, "pthread_sigmask"):  # held by the parent during the fork (POSIX)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    _WORK.update(function=function, args_list=args_list, shared=shared)


def _drain() -> list[tuple[int, object]]:
    """A worker's whole job: claim parts from the front until none is left; returns (index, result) pairs."""
    function, args_list, shared = _WORK["function"], _WORK["args_list"], _WORK["shared"]
    done = []
    try:
        while (i := _claim(shared, from_front=True)) is not None:
            done.append((i, function(*args_list[i])))
            with shared.get_lock():
                shared[2] += _part_bytes(args_list[i])
    except BaseException:
        _give_up(shared)  # the others stop after the part they are on
        raise
    return done


def _claim(shared, *, from_front: bool) -> int | None:
    """The index of the next part nobody has claimed, from the front or the back; None once the ends have met."""
    with shared.get_lock():
        front, back = shared[0], shared[1]
        if front > back:
            return None
        if from_front:
            shared[0] = front + 1
            return front
        shared[1] = back - 1
        return back


def _give_up(shared) -> None:
    with shared.get_lock():
        shared[0], shared[1] = 1, 0


def _part_bytes(args: tuple) -> int:
    """Bytes of a byte-range part (path, start, end, ...); 0 for anything else (the hash, a dataset partition)."""
    if len(args) > 2 and isinstance(args[1], int) and isinstance(args[2], int):
        return max(0, args[2] - args[1])
    return 0


def dask_map(scheduler: str | None = None, n_workers: int = 2) -> Callable:
    """Run parts on a Dask cluster: the one at ``scheduler`` (an address), or a LocalCluster of processes."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        from batchcost.errors import UsageError

        raise UsageError("--engine dask needs Dask: pip install 'batchcost[dask]'") from None

    def run(function, args_list):
        if scheduler:
            client = Client(scheduler)
            cluster = None
        else:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = client.map(function, *zip(*args_list), pure=False)
            return client.gather(futures)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run


def default_jobs() -> int:
    return os.cpu_count() or 1
