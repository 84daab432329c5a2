"""One way to estimate, whatever engine counts: the plan (or a dataset through a template) counted here or in worker
processes or on a Dask cluster, or a random sample of it, offline or through the provider's counting endpoint,
priced at the tiers asked for. The command line and the library both call ``run_estimate``; neither chooses an
engine on its own."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batchcost.core.errors import UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.estimation.estimate import Estimate, add_tiers, estimate_dataset, estimate_plan
from batchcost.estimation.forecast import CalibrationSource, OutputForecast
from batchcost.pricing.tables import PriceTable

ENGINES = ("local", "dask")


@dataclass(frozen=True)
class EstimateOptions:
    """How to estimate. ``template``: the source is a dataset rendered through it (``model`` overrides its model).
    ``output_tokens``: ``max``, N, or ``calibrated`` (``calibration`` opens the store it reads). ``jobs``: processes
    counting at once (default: every core for a plan over ``MIN_PARALLEL_BYTES``); ``engine`` ``dask`` counts on a
    cluster (``scheduler``, else a local one). ``sample``: N requests or P% drawn at random, extrapolated with a 95%
    interval (``seed``). ``online``: counts from the provider's free counting endpoint (``base_url``);
    ``corrections`` gives the offline figures it is compared with. ``tiers``: flex, priority beside standard and
    batch."""

    reading: ReadOptions = PLAIN
    template: Path | None = None
    model: str | None = None
    output_tokens: str | int = "max"
    encoding: str | None = None
    assume_image_size: tuple[int, int] | None = None
    jobs: int | None = None
    engine: str = "local"
    scheduler: str | None = None
    sample: str | None = None
    seed: int | None = None
    online: bool = False
    base_url: str | None = None
    tiers: tuple[str, ...] = ()
    calibration: Callable[[], CalibrationSource] | None = None
    corrections: Callable[[], dict] | None = None

    def check(self) -> None:
        """Refuse (exit 2) what cannot be done together, before anything is counted."""
        if self.engine not in ENGINES:
            raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {self.jobs}")
        if self.online and self.engine == "dask":
            raise UsageError("--online counts through the provider's endpoint from this machine; drop --engine dask")
        if self.tiers and self.sample is not None:
            raise UsageError("--tiers flex or priority is priced from a counted plan; drop --sample to see them")


def plan_workers(plan: Path, options: EstimateOptions) -> int:
    """How many processes count a plan file: ``jobs``, else every core for a big plan, else one."""
    from batchcost.core.workers import default_jobs
    from batchcost.estimation.parallel import MIN_PARALLEL_BYTES

    if options.jobs is not None:
        return options.jobs
    try:
        big = plan.stat().st_size >= MIN_PARALLEL_BYTES
    except OSError:
        big = False
    return default_jobs() if big else 1


def run_estimate(source: str | Path, prices: PriceTable, options: EstimateOptions = EstimateOptions(), *,
                 progress: Callable[[int], None] | None = None, on_request: Callable | None = None) -> Estimate:
    """The estimate of ``source`` as ``options`` say. ``progress(n)`` hears of bytes counted (requests, online);
    ``on_request`` sees every request priced (the report's rows), which only the serial engine gives."""
    options.check()
    source = Path(source)
    forecast = OutputForecast.parse(options.output_tokens, options.calibration)
    parallel = options.engine == "dask" or (options.jobs or 1) > 1
    if on_request is not None and (parallel or options.sample is not None):
        raise UsageError("per-request rows are made by the serial engine: drop jobs, dask and sample (or keep no "
                         "rows)")
    result = _counted(source, prices, options, forecast, progress, on_request)
    extra = [t for t in options.tiers if t not in ("standard", "realtime", "batch")]
    if extra:
        add_tiers(result, prices, extra)
    if prices.at is not None:
        result.prices_at = prices.at.isoformat()
    return result


def _counted(source: Path, prices: PriceTable, options: EstimateOptions, forecast: OutputForecast, progress,
             on_request) -> Estimate:
    template = options.template
    online = None
    if options.online:
        from batchcost.estimation.online import OnlineCounts

        online = OnlineCounts(base_url=options.base_url)
        online.progress = progress  # requests verified
    if options.sample is not None:
        if template is not None:
            raise UsageError("--sample draws from a plan file: write the plan first (`batchcost plan`)")
        from batchcost.estimation.sampling import estimate_sample

        return estimate_sample(source, prices, options.sample, forecast=forecast, seed=options.seed,
                               encoding=options.encoding, assume_image_size=options.assume_image_size, online=online,
                               options=options.reading)
    if online is not None or on_request is not None:
        if template is not None:
            return estimate_dataset(source, template, prices, model=options.model, forecast=forecast,
                                    assume_image_size=options.assume_image_size, online=online,
                                    on_request=on_request, corrections=options.corrections,
                                    progress=None if online is not None else progress)
        return estimate_plan(source, prices, forecast=forecast, encoding=options.encoding,
                             assume_image_size=options.assume_image_size, online=online, on_request=on_request,
                             options=options.reading, corrections=options.corrections,
                             progress=None if online is not None else progress)
    runner = None
    if options.engine == "dask":
        from batchcost.core.workers import dask_map

        runner = dask_map(options.scheduler, n_workers=options.jobs or 2)
    if template is not None:
        if runner is None and (options.jobs or 1) <= 1:
            return estimate_dataset(source, template, prices, model=options.model, forecast=forecast,
                                    assume_image_size=options.assume_image_size, progress=progress)
        from batchcost.estimation.partitions import estimate_dataset_in_parts

        return estimate_dataset_in_parts(source, template, prices, forecast=forecast, model=options.model,
                                         jobs=options.jobs or 2, map_parts=runner)
    from batchcost.estimation.parallel import estimate_in_parts

    if runner is not None:
        return estimate_in_parts(source, prices, forecast=forecast, jobs=options.jobs or 2, map_parts=runner,
                                 encoding=options.encoding, assume_image_size=options.assume_image_size,
                                 options=options.reading)
    workers = plan_workers(source, options)
    if workers > 1:
        return estimate_in_parts(source, prices, forecast=forecast, jobs=workers, encoding=options.encoding,
                                 assume_image_size=options.assume_image_size, progress=progress,
                                 options=options.reading)
    return estimate_plan(source, prices, forecast=forecast, encoding=options.encoding,
                         assume_image_size=options.assume_image_size, progress=progress, options=options.reading)
