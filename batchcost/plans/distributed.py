"""Datasets rendered in partitions on workers (processes or a Dask cluster): every partition writes its own part file,
then they are joined in order into the plan, custom_ids checked unique across partitions on the way. The plan's
bytes are identical to the local engine's. (Estimating a dataset in partitions is ``estimation.partitions``.)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from batchcost import providers
from batchcost.core.atomic import signals_held, temporary_file
from batchcost.plans.build import BuiltPlan, finish_plan, plan_target
from batchcost.plans.datasets import Partition, dataset_partitions, read_partition
from batchcost.plans.templates import TemplateError, load_template, plan_lines


def write_partition(part: Partition, template_path: str, model: str | None, out: str) -> int:
    template = load_template(template_path, model=model)
    count = 0
    with open(out, "wb") as fh:
        for item in plan_lines(part.path, template, records=read_partition(part), check_ids=False):
            fh.write(item.raw + b"\n")
            count += 1
    return count


def run_parts(map_parts: Callable | None, jobs: int, function, args_list):
    if map_parts is None:
        from batchcost.core.workers import process_map

        map_parts = process_map(jobs)
    return map_parts(function, args_list)


def build_plan_in_parts(dataset: str | Path, template: str | Path, out: str | Path, *, model: str | None = None,
                        jobs: int = 2, map_parts: Callable | None = None, shared_dir: str | Path | None = None,
                        split: bool = False) -> BuiltPlan:
    """Write the plan from partitions rendered in parallel. ``shared_dir`` must be visible to every worker (it
    defaults to a folder beside ``out``). Ends as the serial engine does (``finish_plan``): same limits, same
    waves with ``split``, the same gate for the output."""
    out = Path(out)
    rendered = load_template(template, model=model)  # template errors surface here, once, with their line
    id_field = providers.get(rendered.provider).id_field  # None: lines carry no id
    parts = dataset_partitions(dataset, target=jobs * 4)
    target = plan_target(dataset, template, out)
    tmp = scratch = None
    try:
        with signals_held():  # both exist only inside this try, which removes them
            fd, tmp = temporary_file(target)
            scratch = Path(tempfile.mkdtemp(prefix=".batchcost-parts-", dir=shared_dir or target.parent))
        files = [str(scratch / f"part-{i:05d}.jsonl") for i in range(len(parts))]
        run_parts(map_parts, jobs, write_partition, [(p, str(template), model, f) for p, f in zip(parts, files)])
        seen: set[str] = set()
        count = nbytes = 0
        with os.fdopen(fd, "wb") as sink:
            for name in files:
                with open(name, "rb") as part:
                    for raw in part:
                        if id_field is not None:
                            cid = json.loads(raw)[id_field]
                            if cid in seen:
                                raise TemplateError(f"{id_field} {cid!r} is produced twice; make the custom_id "
                                                    "pattern unique", path=template)
                            seen.add(cid)
                        sink.write(raw)
                        count += 1
                        nbytes += len(raw)
            sink.flush()
            os.fsync(sink.fileno())
        return finish_plan(Path(tmp), out, dataset, count, nbytes, split=split, template=rendered)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
