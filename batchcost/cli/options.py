"""Parsing of option values shared by several commands."""
from __future__ import annotations

import re
from typing import Any

from batchcost.core.errors import UsageError
from batchcost.core.options import PLAIN, ReadOptions

MAX_IMAGE_SIDE = 100_000


def parse_image_size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*", value)
    if not match or not (0 < int(match[1]) <= MAX_IMAGE_SIDE and 0 < int(match[2]) <= MAX_IMAGE_SIDE):
        raise UsageError(f"--image-size must look like 1024x768 (1 to {MAX_IMAGE_SIDE:,} px a side), not {value!r}")
    return int(match[1]), int(match[2])


def check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")


def check_positive(value: float | int | None, option: str, *, allow_zero: bool = False) -> None:
    """Exit 2 for a numeric option that is negative (or zero, or not a finite number)."""
    if value is None:
        return
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{option} must be {'zero or more' if allow_zero else 'more than zero'}, not {value}")


def guard(*, inputs=(), outputs=(), folders=()) -> None:
    """Before any work: register the command's inputs and pass every output through the gate, so a refused
    output costs nothing and nothing is written. The writers check again just before each rename."""
    import os

    from batchcost.core.atomic import check_output, check_output_dir, register_inputs

    flat: list[Any] = []
    for item in inputs:
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    env_prices = os.environ.get("BATCHCOST_PRICES")
    register_inputs([*flat, env_prices] if env_prices else flat)
    from batchcost.core.home import state_files
    from batchcost.core.settings import settings_files

    register_inputs(state_files())  # the ledger and the calibration store are never an output either
    register_inputs(settings_files())  # nor config.yaml, budgets.yaml or the allowed signers file
    for path in outputs:
        if path is not None:
            check_output(path)
    for path in folders:
        if path is not None:
            check_output_dir(path)



def one_plan(paths, *, dataset: bool = False):
    """The one plan a command reads: the file itself, or the job plan joining several files or a folder of waves
    (``plans.jobs``). With ``--template`` the one path is a dataset, taken as it is."""
    from batchcost.core.errors import UsageError
    from batchcost.plans.jobs import job_plan

    if dataset:
        if len(paths) != 1:
            raise UsageError("--template renders one dataset: give one DATASET")
        return paths[0]
    return job_plan(paths)


def reading(ctx) -> ReadOptions:
    """How this run reads plans (``--provider``, ``--model``), as ``main`` put it in typer's context."""
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, ReadOptions) else PLAIN


def calibration_opener():
    """What opens the calibration store calibrated forecasts read: its class, which a worker process can be given
    too (it opens its own)."""
    from batchcost.lifecycle.calibration import Calibration

    return Calibration


def count_corrections() -> dict:
    from batchcost.lifecycle.calibration import count_corrections as corrections

    return corrections()
