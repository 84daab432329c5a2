"""Work spread over processes: this one and forked workers claiming parts from a shared cursor, or the tasks of a Dask
cluster. What runs is the caller's (a plan's byte ranges, a dataset's partitions); this module only shares it out,
keeps Ctrl-C with the command, and returns the results in order."""
from __future__ import annotations

import os
import signal
from collections.abc import Callable

from batchcost.core.atomic import signals_held
from batchcost.core.errors import BatchcostError


def process_map(jobs: int, progress: Callable[[int], None] | None = None) -> Callable:
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
        from batchcost.core.errors import UsageError

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
