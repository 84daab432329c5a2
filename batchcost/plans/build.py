"""`batchcost plan`: write a dataset + template as a plan file (or waves), whole or not at all."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from batchcost import providers
from batchcost.core.atomic import check_output, make_parent, place, register_inputs, signals_held, temporary_file
from batchcost.core.errors import BadInput
from batchcost.core.options import ReadOptions
from batchcost.plans.templates import Template, load_template, plan_lines


@dataclass
class BuiltPlan:
    paths: list[Path]
    requests: int
    nbytes: int
    skipped: list[str] = field(default_factory=list)
    waves: int = 1  # batches the plan needs by the provider's limits (at least; a queue cap may need more)


def plan_target(dataset: str | Path, template_path: str | Path, out: str | Path) -> Path:
    """Check the output through the gate before any work; return the path to write (its folder made)."""
    register_inputs([dataset, template_path])
    target = check_output(out, what="plan")
    make_parent(target, "plan")
    return target


def finish_plan(tmp: Path, out: Path, dataset: str | Path, requests: int, nbytes: int, *, split: bool,
                template: Template, skipped: list[str] | None = None) -> BuiltPlan:
    """The complete temporary plan ``tmp`` becomes ``out`` (or its waves, with ``split``), saying how many waves
    the template's provider's batch limits make of it. The serial and parallel engines both end here, so they
    apply the same limits."""
    if requests == 0:
        raise BadInput("the dataset produced no requests", path=dataset)
    if split:
        from batchcost.plans.split import split_plan

        with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".batchcost-plan-") as holder:
            staged = Path(holder) / out.name
            tmp.replace(staged)
            # lines that carry no model (Gemini) are the template's
            waves = split_plan(staged, out.parent, options=ReadOptions(template.provider, template.model))
        return BuiltPlan([w.path for w in waves], requests, nbytes, skipped or [])
    bounds = providers.get(template.provider).limits()
    parts = max(-(-requests // bounds.max_requests), -(-nbytes // bounds.max_bytes))
    place(tmp, out, what="plan")  # a plan of any size is one job: submit sends it as its waves
    return BuiltPlan([out], requests, nbytes, skipped or [], parts)


def build_plan(dataset: str | Path, template_path: str | Path, out: str | Path, *, model: str | None = None,
               split: bool = False) -> BuiltPlan:
    """Render ``dataset`` through the template into ``out``. With ``split``, waves named after ``out`` are
    written beside it instead (see ``split_plan``). A plan over the batch limits is one job of several waves."""
    out = Path(out)
    template = load_template(template_path, model=model)
    skipped: list[str] = []
    target = plan_target(dataset, template_path, out)
    tmp = None
    requests = nbytes = 0
    try:
        with signals_held():  # the temporary file exists only inside this try, which removes it
            fd, tmp_name = temporary_file(target)
            tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as fh:
            for item in plan_lines(dataset, template, skipped=skipped):
                fh.write(item.raw + b"\n")
                requests += 1
                nbytes += len(item.raw) + 1
            fh.flush()
            os.fsync(fh.fileno())
        return finish_plan(tmp, out, dataset, requests, nbytes, split=split, template=template, skipped=skipped)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
