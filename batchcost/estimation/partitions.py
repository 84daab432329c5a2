"""A dataset estimated in partitions on workers (processes or a Dask cluster): each partition's tally, merged in order,
gives the local engine's totals (tests compare them). The plan's sha256 is known once ``batchcost plan`` writes it."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from batchcost.estimation.estimate import Estimate, finish
from batchcost.estimation.forecast import OutputForecast
from batchcost.estimation.tally import Tally, tally_records
from batchcost.plans.counts import PlanCounter
from batchcost.plans.datasets import Partition, dataset_partitions, read_partition
from batchcost.plans.distributed import run_parts
from batchcost.plans.templates import load_template, plan_lines
from batchcost.pricing.tables import PriceTable


def tally_partition(part: Partition, template_path: str, model: str | None, prices: PriceTable,
                    forecast_spec: str, calibration: Callable | None = None) -> Tally:
    template = load_template(template_path, model=model)
    counter = PlanCounter(base_dir=Path(part.path).parent, fingerprints=forecast_spec == "calibrated")
    lines = plan_lines(part.path, template, records=read_partition(part), check_ids=False)
    return tally_records((counter.count_line(i, Path(part.path)) for i in lines), prices, counter,
                         OutputForecast.parse(forecast_spec, calibration))


def estimate_dataset_in_parts(dataset: str | Path, template: str | Path, prices: PriceTable, *,
                              forecast: OutputForecast, model: str | None = None, jobs: int = 2,
                              map_parts: Callable | None = None) -> Estimate:
    parts = dataset_partitions(dataset, target=jobs * 4)
    args = [(p, str(template), model, prices, forecast.spec, getattr(forecast, "opener", None)) for p in parts]
    tally = Tally()
    for result in run_parts(map_parts, jobs, tally_partition, args):
        tally.merge(result)
    estimate = finish(tally, prices, forecast, {})
    estimate.plan = {"path": str(dataset), "template": str(template), "sha256": None, **estimate.plan}
    estimate.warnings.append("counted in partitions: the sha256 of the plan is known once `batchcost plan` writes "
                             "it, and custom_ids are checked for duplicates there")
    return estimate
