"""Counting a plan in parts: byte ranges tallied by worker processes (or Dask tasks) and merged in plan order.

Each part starts at the first line that begins at or after its start offset and ends with the last line that
begins before its end offset, so every line is counted exactly once. The merged result is identical to the
serial engine's (tests compare them).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from batchcost.core.errors import BatchcostError, PlanError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.workers import process_map
from batchcost.estimation.estimate import Estimate, finish
from batchcost.estimation.forecast import OutputForecast
from batchcost.estimation.tally import Tally, tally_plan_lines
from batchcost.plans.counts import PlanCounter
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
                assume_image_size: tuple[int, int] | None = None, options: ReadOptions = PLAIN,
                calibration: Callable | None = None) -> RangeResult:
    """Count and tally the lines of ``path`` that begin in [start, end). Runs in a worker process or Dask task."""
    plan = Path(path)
    forecast = OutputForecast.parse(forecast_spec, calibration)
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
            tally = tally_plan_lines(lines(), plan, prices, counter, forecast, options=options)
        except BatchcostError as exc:
            return RangeResult(None, first, (type(exc), exc.message, exc.line if exc.line is not None else read))
    return RangeResult(tally, first)


HASH_PART = (-1, -1)  # the byte range that stands for "hash the whole plan" in a list of parts


def run_part(path: str, start: int, end: int, prices: PriceTable, forecast_spec: str, encoding: str | None = None,
             assume_image_size: tuple[int, int] | None = None, options: ReadOptions = PLAIN,
             calibration: Callable | None = None) -> RangeResult | str:
    """One task of a worker: the sha256 of the whole plan for ``HASH_PART``, else the tally of [start, end).
    The hash is a task like the others, so it is balanced with them instead of competing with them. ``options``
    is how the caller reads plans (``--provider``, ``--model``): a Dask worker is another process, perhaps on
    another machine, so it is told."""
    if (start, end) == HASH_PART:
        return plan_sha256(path)
    return tally_range(path, start, end, prices, forecast_spec, encoding, assume_image_size, options, calibration)


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
        assert result.tally is not None  # a part with no error has its tally
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
                      assume_image_size: tuple[int, int] | None = None, progress=None,
                      options: ReadOptions = PLAIN) -> Estimate:
    """Estimate ``path`` split into parts. ``map_parts(function, args_list)`` runs the parts (processes by
    default, a Dask client for the dask engine) and returns their results in order."""
    path = Path(path)
    size = path.stat().st_size
    if map_parts is None:
        _preload_encoding(path, encoding, options)  # forked workers share the loaded tokenizer, not load it again
    ranges = [HASH_PART] + byte_ranges(size, part_count(size, jobs))
    opener = getattr(forecast, "opener", None)  # a calibrated forecast's store: each worker opens its own
    args = [(str(path), start, end, prices, forecast.spec, encoding, assume_image_size, options, opener)
            for start, end in ranges]
    sha256, *results = (map_parts or process_map(jobs, progress))(run_part, args)
    return merge_results(path, results, prices, forecast, sha256)


def _preload_encoding(path: Path, encoding: str | None, options: ReadOptions) -> None:
    from batchcost.tokens.encodings import load
    from batchcost.tokens.models import resolve_model

    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                item = parse_line(raw, path, number, options=options)
                if item is not None:
                    load(encoding or resolve_model(item.model).encoding)
                    return
    except BatchcostError:
        return  # the workers report it, with its line
