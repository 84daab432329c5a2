"""The notebook-friendly API: an estimate with per-request rows, as pandas DataFrames and matplotlib Figures.

    import batchcost
    result = batchcost.estimate("plan.jsonl", compare_models=["gpt-4.1-mini"])
    result.summary(); result.by_model(); result.requests()
    result.plot_costs()            # a matplotlib Figure

The CLI's `estimate` and `report` commands call this API; it holds the logic, they only print.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from batchcost.core.options import PLAIN, ReadOptions
from batchcost.estimation.compare import model_estimate
from batchcost.estimation.estimate import Estimate, estimate_dataset, priced, request_cost
from batchcost.estimation.forecast import OutputForecast
from batchcost.pricing.cost import display_money, exact_money, money
from batchcost.pricing.tables import PriceTable, load_prices

REQUEST_COLUMNS = ["line", "custom_id", "model", "input_tokens", "max_output_tokens", "output_expected",
                   "output_high", "realtime_expected", "realtime_high", "batch_expected", "batch_high", "approximate"]


@dataclass
class RequestRow:
    line: int
    custom_id: str
    model: str
    input_tokens: int
    max_output_tokens: int | None  # the request's own bound (None when it sets none)
    output_expected: int | None
    output_high: int | None  # the bound used (the model's max output when the request sets none)
    realtime_expected: Decimal | None
    realtime_high: Decimal | None
    batch_expected: Decimal | None
    batch_high: Decimal | None
    approximate: bool

    def csv_row(self) -> list:
        return [self.line, self.custom_id, self.model, self.input_tokens, _blank(self.max_output_tokens),
                _blank(self.output_expected), _blank(self.output_high), _blank(money(self.realtime_expected)),
                _blank(money(self.realtime_high)), _blank(money(self.batch_expected)), _blank(money(self.batch_high)),
                self.approximate]


def _blank(value):
    return "" if value is None else value


def _request_collector(rows: list[RequestRow]):
    def collect(record, price, out, long_context):
        _, expected, high = out

        def cost(tier: str, output: int | None) -> Decimal | None:
            if output is None:
                return None
            return request_cost(price, tier, record, output, long_context=long_context)

        rows.append(RequestRow(record.line, record.custom_id, record.model, record.input_tokens,
                               record.max_output_tokens, expected, high, cost("realtime", expected),
                               cost("realtime", high), cost("batch", expected), cost("batch", high),
                               record.approximate))

    return collect


@dataclass
class EstimateResult:
    """An estimate, its per-request rows, and the same plan priced on other models."""

    estimate: Estimate
    rows: list[RequestRow] = field(default_factory=list)
    compared: dict[str, Estimate] = field(default_factory=dict)
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0))

    # -- data -----------------------------------------------------------------------------------------------
    def as_dict(self) -> dict:
        return self.estimate.as_dict()

    def summary(self):
        """Tier x (low, expected, high) cost, exact Decimals, plus token rows."""
        import pandas as pd

        e = self.estimate
        data = {
            "input tokens": [e.input_tokens] * 3,
            "output tokens": [e.output_tokens[k] for k in ("low", "expected", "high")],
            "real-time cost (USD)": [e.cost["realtime"][k] for k in ("low", "expected", "high")],
            "batch cost (USD)": [e.cost["batch"][k] for k in ("low", "expected", "high")],
        }
        for tier in (t for t in e.cost if t not in ("realtime", "batch")):  # flex / priority when asked for
            data[f"{tier} cost (USD)"] = [None if e.cost[tier] is None else e.cost[tier][k]
                                          for k in ("low", "expected", "high")]
        return pd.DataFrame(data, index=["low", "expected", "high"]).T

    def by_model(self):
        import pandas as pd

        rows = [{"model": m.model, "requests": m.requests, "input_tokens": m.input_tokens,
                 "output_expected": m.output_tokens["expected"], "output_high": m.output_tokens["high"],
                 "realtime_expected": m.cost["realtime"]["expected"], "realtime_high": m.cost["realtime"]["high"],
                 "batch_expected": m.cost["batch"]["expected"], "batch_high": m.cost["batch"]["high"],
                 **{f"{t}_expected": None if c is None else c["expected"]
                    for t, c in m.cost.items() if t not in ("realtime", "batch")}}
                for m in self.estimate.by_model]
        return pd.DataFrame(rows).set_index("model")

    def requests(self):
        import pandas as pd

        return pd.DataFrame([[getattr(r, c) for c in REQUEST_COLUMNS] for r in self.rows], columns=REQUEST_COLUMNS)

    def comparison(self):
        """The plan priced on each model (its own encoding): batch and real-time, expected and high."""
        import pandas as pd

        rows = []
        for name, e in self.all_models().items():
            rows.append({"model": name, "input_tokens": e.input_tokens,
                         "output_expected": e.output_tokens["expected"], "output_high": e.output_tokens["high"],
                         "realtime_expected": e.cost["realtime"]["expected"],
                         "realtime_high": e.cost["realtime"]["high"], "batch_expected": e.cost["batch"]["expected"],
                         "batch_high": e.cost["batch"]["high"]})
        return pd.DataFrame(rows).set_index("model")

    def all_models(self) -> dict[str, Estimate]:
        label = ", ".join(self.estimate.plan["models"]) + " (plan)"
        return {label: self.estimate, **self.compared}

    # -- charts ---------------------------------------------------------------------------------------------
    def plot_costs(self):
        from batchcost.reports.charts import cost_ranges

        return cost_ranges(self.estimate)

    def plot_breakdown(self):
        from batchcost.reports.charts import cost_breakdown

        return cost_breakdown(self.estimate)

    def plot_input_tokens(self):
        from batchcost.reports.charts import input_histogram

        return input_histogram(self.rows)

    def plot_models(self):
        from batchcost.reports.charts import model_comparison

        return model_comparison(self.all_models())

    def _repr_html_(self) -> str:
        from batchcost.reports.html import summary_table_html

        return summary_table_html(self)

    def __repr__(self) -> str:
        e = self.estimate
        batch, realtime = priced(e.cost, "batch"), priced(e.cost, "realtime")
        return (f"<Estimate {e.plan.get('path')}: {e.plan['requests']:,} requests, batch "
                f"{display_money(batch['expected'])} expected (high {display_money(batch['high'])})"
                f", real time {display_money(realtime['expected'])}>")


def _price_table(prices) -> PriceTable:
    if isinstance(prices, PriceTable):
        return prices
    return load_prices(list(prices or []))


@exact_money
def estimate(plan: str | Path, *, prices: PriceTable | Sequence[str | Path] | None = None,
             output_tokens: str | int = "max", template: str | Path | None = None, model: str | None = None,
             compare_models: Iterable[str] = (), encoding: str | None = None,
             assume_image_size: tuple[int, int] | None = None, keep_requests: bool = True,
             progress=None, tiers: Iterable[str] = (), reading: ReadOptions = PLAIN, jobs: int | None = None,
             engine: str = "local", scheduler: str | None = None, sample: str | None = None,
             seed: int | None = None, online: bool = False, base_url: str | None = None,
             alternatives: Iterable[str | Path] = ()) -> EstimateResult:
    """Estimate a plan (or a dataset with ``template``) with the engines the command line has, and keep
    per-request rows for tables and charts.

    ``reading``: how the plan is read (``ReadOptions(provider=..., model=...)``: ``--provider``, and the batch's
    model for lines that name none). ``alternatives``: plans of the same workload written for other providers, each
    estimated on its own and shown beside this one (``compared``, named by model and file). ``jobs``,
    ``engine="dask"`` (``scheduler``), ``sample`` (``seed``) and ``online`` (``base_url``) count as ``batchcost
    estimate`` does; per-request rows come from the serial engine only (``keep_requests=False`` keeps memory flat on
    huge plans). ``tiers``: flex and/or priority priced beside real time and batch (``summary()`` and ``by_model()``
    gain a column or row each; a tier a model does not offer is None, with a warning).
    ``output_tokens="calibrated"`` reads the calibration store under BATCHCOST_HOME.
    """
    from batchcost.estimation.engine import EstimateOptions, run_estimate
    from batchcost.lifecycle.calibration import Calibration, count_corrections

    table = _price_table(prices)
    options = EstimateOptions(
        reading=reading, template=Path(template) if template is not None else None, model=model,
        output_tokens=output_tokens, encoding=encoding, assume_image_size=assume_image_size, jobs=jobs,
        engine=engine, scheduler=scheduler, sample=sample, seed=seed, online=online, base_url=base_url,
        tiers=tuple(tiers), calibration=Calibration, corrections=count_corrections)
    serial = engine == "local" and (jobs or 1) <= 1 and sample is None
    rows: list[RequestRow] = []
    collect = _request_collector(rows) if keep_requests and serial else None
    main = run_estimate(plan, table, options, progress=progress, on_request=collect)
    if keep_requests and not serial:
        main.warnings.append("per-request rows come from the serial engine: none were kept for this estimate")
    compared = {}
    for other in compare_models:
        forecast = OutputForecast.parse(output_tokens, Calibration)
        if template is None:  # a model of another provider: the plan translated to its shape, then priced
            compared[other] = model_estimate(plan, other, table, forecast=forecast,
                                             assume_image_size=assume_image_size, reading=reading)
        else:
            compared[other] = estimate_dataset(plan, template, table, model=other, forecast=forecast,
                                               assume_image_size=assume_image_size)
    for path in alternatives:
        from batchcost.estimation.compare import label
        from batchcost.estimation.estimate import estimate_plan

        other_estimate = estimate_plan(path, table, forecast=OutputForecast.parse(output_tokens, Calibration),
                                       assume_image_size=assume_image_size)
        compared[label(other_estimate, Path(path))] = other_estimate
    return EstimateResult(main, rows, compared)


def count_plan(plan: str | Path, *, encoding: str | None = None, assume_image_size: tuple[int, int] | None = None,
               reading: ReadOptions = PLAIN):
    """Every request of a plan with its count, in plan order, streaming (``CountedRequest``), approximate counts
    corrected by what reconciles learned (the calibration store under BATCHCOST_HOME), as ``batchcost count``."""
    from batchcost.lifecycle.calibration import count_corrections
    from batchcost.plans.counts import count_plan as counted

    return counted(plan, encoding=encoding, assume_image_size=assume_image_size, options=reading,
                   corrections=count_corrections)
