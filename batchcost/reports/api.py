"""The notebook-friendly API: an estimate with per-request rows, as pandas DataFrames and matplotlib Figures.

    import batchcost
    result = batchcost.estimate("plan.jsonl", compare_models=["gpt-4.1-mini"])
    result.summary(); result.by_model(); result.requests()
    result.plot_costs()            # a matplotlib Figure

The CLI's `estimate` and `report` commands call this API; it holds the logic, they only print.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Sequence

from batchcost.estimator.estimate import Estimate, OutputForecast, estimate_dataset, estimate_plan, request_cost
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
        return (f"<Estimate {e.plan.get('path')}: {e.plan['requests']:,} requests, batch "
                f"{display_money(e.cost['batch']['expected'])} expected (high {display_money(e.cost['batch']['high'])})"
                f", real time {display_money(e.cost['realtime']['expected'])}>")


def _price_table(prices) -> PriceTable:
    if isinstance(prices, PriceTable):
        return prices
    return load_prices(list(prices or []))


@exact_money
def estimate(plan: str | Path, *, prices: PriceTable | Sequence[str | Path] | None = None,
             output_tokens: str | int = "max", template: str | Path | None = None, model: str | None = None,
             compare_models: Iterable[str] = (), encoding: str | None = None,
             assume_image_size: tuple[int, int] | None = None, keep_requests: bool = True,
             progress=None, tiers: Iterable[str] = ()) -> EstimateResult:
    """Estimate a plan (or a dataset with ``template``) and keep per-request rows for tables and charts.

    ``keep_requests=False`` keeps memory flat for huge plans (no ``requests()`` rows, no histogram).
    ``tiers``: flex and/or priority priced beside real time and batch (``summary()`` and ``by_model()`` gain a
    column or row each; a tier a model does not offer is None, with a warning).
    """
    table = _price_table(prices)
    forecast = OutputForecast.parse(output_tokens)
    rows: list[RequestRow] = []
    collect = _request_collector(rows) if keep_requests else None
    if template is not None:
        main = estimate_dataset(plan, template, table, model=model, forecast=forecast,
                                assume_image_size=assume_image_size, progress=progress, on_request=collect)
    else:
        main = estimate_plan(plan, table, forecast=forecast, encoding=encoding, assume_image_size=assume_image_size,
                             progress=progress, on_request=collect)
    extra = [t for t in tiers if t not in ("standard", "realtime", "batch")]
    if extra:
        from batchcost.estimator.estimate import add_tiers

        add_tiers(main, table, extra)
    compared = {}
    for other in compare_models:
        if template is not None:
            compared[other] = estimate_dataset(plan, template, table, model=other,
                                               forecast=OutputForecast.parse(output_tokens),
                                               assume_image_size=assume_image_size)
        else:
            compared[other] = estimate_plan(plan, table, forecast=OutputForecast.parse(output_tokens),
                                            assume_image_size=assume_image_size, model=other)
    return EstimateResult(main, rows, compared)
