"""Datasets rendered and counted in partitions on workers (processes or a Dask cluster).

`estimate_dataset_in_parts` merges per-partition tallies (identical totals to the local engine); `build_plan_in_parts`
has every partition write its own part file, then concatenates them in order into the plan, checking custom_ids
are unique across partitions on the way - the plan's bytes are identical to the local engine's.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from batchcost import providers
from batchcost.atomic import signals_held, temporary_file
from batchcost.plans.build import BuiltPlan, finish_plan, plan_target
from batchcost.estimator.estimate import Estimate, OutputForecast, Tally, finish, tally_records
from batchcost.estimator.plan_counts import PlanCounter
from batchcost.plans.datasets import Partition, dataset_partitions, read_partition
from batchcost.plans.templates import TemplateError, load_template, plan_lines
from batchcost.pricing.tables import PriceTable


def tally_partition(part: Partition, template_path: str, model: str | None, prices: PriceTable,
                    forecast_spec: str) -> Tally:
    template = load_template(template_path, model=model)
    counter = PlanCounter(base_dir=Path(part.path).parent, fingerprints=forecast_spec == "calibrated")
    lines = plan_lines(part.path, template, records=read_partition(part), check_ids=False)
    return tally_records((counter.count_line(i, Path(part.path)) for i in lines), prices, counter,
                         OutputForecast.parse(forecast_spec))


def write_partition(part: Partition, template_path: str, model: str | None, out: str) -> int:
    template = load_template(template_path, model=model)
    count = 0
    with open(out, "wb") as fh:
        for item in plan_lines(part.path, template, records=read_partition(part), check_ids=False):
            fh.write(item.raw + b"\n")
            count += 1
    return count


def _run(map_parts: Callable | None, jobs: int, function, args_list):
    if map_parts is None:
        from batchcost.estimator.parallel import _process_map

        map_parts = _process_map(jobs)
    return map_parts(function, args_list)


def estimate_dataset_in_parts(dataset: str | Path, template: str | Path, prices: PriceTable, *,
                              forecast: OutputForecast, model: str | None = None, jobs: int = 2,
                              map_parts: Callable | None = None) -> Estimate:
    parts = dataset_partitions(dataset, target=jobs * 4)
    args = [(p, str(template), model, prices, forecast.spec) for p in parts]
    tally = Tally()
    for result in _run(map_parts, jobs, tally_partition, args):
        tally.merge(result)
    estimate = finish(tally, prices, forecast, {})
    estimate.plan = {"path": str(dataset), "template": str(template), "sha256": None, **estimate.plan}
    estimate.warnings.append("counted in partitions: the sha256 of the plan is known once `batchcost plan` writes "
                             "it, and custom_ids are checked for duplicates there")
    return estimate


def build_plan_in_parts(dataset: str | Path, template: str | Path, out: str | Path, *, model: str | None = None,
                        jobs: int = 2, map_parts: Callable | None = None, shared_dir: str | Path | None = None,
                        split: bool = False) -> BuiltPlan:
    """Write the plan from partitions rendered in parallel. ``shared_dir`` must be visible to every worker (it
    defaults to a folder beside ``out``). Ends as the serial engine does (``finish_plan``): same limits, same
    waves with ``split``, the same gate for the output."""
    out = Path(out)
    rendered = load_template(template, model=model)  # template errors surface here, once, with their line
    id_field = getattr(providers.get(rendered.provider), "ID_FIELD", "custom_id")  # None: lines carry no id
    parts = dataset_partitions(dataset, target=jobs * 4)
    target = plan_target(dataset, template, out)
    tmp = scratch = None
    try:
        with signals_held():  # both exist only inside this try, which removes them
            fd, tmp = temporary_file(target)
            scratch = Path(tempfile.mkdtemp(prefix=".batchcost-parts-", dir=shared_dir or target.parent))
        files = [str(scratch / f"part-{i:05d}.jsonl") for i in range(len(parts))]
        _run(map_parts, jobs, write_partition, [(p, str(template), model, f) for p, f in zip(parts, files)])
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
