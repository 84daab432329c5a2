"""`batchcost plan`: write a dataset + template as a plan file (or waves), whole or not at all."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from batchcost.errors import BadInput
from batchcost.plans import limits
from batchcost.plans.templates import load_template, plan_lines


@dataclass
class BuiltPlan:
    paths: list[Path]
    requests: int
    nbytes: int
    skipped: list[str] = field(default_factory=list)


def build_plan(dataset: str | Path, template_path: str | Path, out: str | Path, *, model: str | None = None,
               split: bool = False) -> BuiltPlan:
    """Render ``dataset`` through the template into ``out``. With ``split``, waves named after ``out`` are
    written beside it instead (see ``split_plan``). A plan over the batch limits without ``split`` is an error."""
    out = Path(out)
    template = load_template(template_path, model=model)
    out.parent.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    requests = nbytes = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            for item in plan_lines(dataset, template, skipped=skipped):
                fh.write(item.raw + b"\n")
                requests += 1
                nbytes += len(item.raw) + 1
            fh.flush()
            os.fsync(fh.fileno())
        if requests == 0:
            raise BadInput("the dataset produced no requests", path=dataset)
        if split:
            from batchcost.plans.split import split_plan

            with tempfile.TemporaryDirectory(dir=out.parent, prefix=".batchcost-plan-") as holder:
                staged = Path(holder) / out.name
                tmp.replace(staged)
                waves = split_plan(staged, out.parent)
            return BuiltPlan([w.path for w in waves], requests, nbytes, skipped)
        if requests > limits.MAX_REQUESTS_PER_FILE or nbytes > limits.MAX_BYTES_PER_FILE:
            raise BadInput(f"the plan would hold {requests:,} requests and {nbytes:,} bytes, over the batch limits "
                           f"({limits.MAX_REQUESTS_PER_FILE:,} requests, {limits.MAX_BYTES_PER_FILE:,} bytes); "
                           "pass --split to write waves", path=dataset)
        tmp.replace(out)
        return BuiltPlan([out], requests, nbytes, skipped)
    finally:
        tmp.unlink(missing_ok=True)
