"""batchcost: what an OpenAI Batch API job will cost, before you spend.

Public API::

    import batchcost
    batchcost.count_request({"model": "gpt-4o-mini", "messages": [...]})   # -> RequestCount
    for r in batchcost.count_plan("plan.jsonl"): ...                       # -> CountedRequest, streaming
    result = batchcost.estimate("plan.jsonl", compare_models=["gpt-4.1-mini"])
    result.summary(); result.by_model(); result.requests(); result.plot_costs()   # DataFrames, Figures
"""
from __future__ import annotations

__version__ = "0.1.0"

from batchcost.errors import BadInput, BatchcostError, BudgetExceeded, PlanError, RemoteError, UnknownModel
from batchcost.estimator.counting import RequestCount, count_request
from batchcost.estimator.encodings import get_encoding
from batchcost.estimator.models import ModelInfo, resolve_model
from batchcost.estimator.plan_counts import CountedRequest, count_plan
from batchcost.plans.reader import read_plan
from batchcost.reports.api import EstimateResult, estimate

__all__ = [
    "BadInput", "BatchcostError", "BudgetExceeded", "CountedRequest", "EstimateResult", "ModelInfo", "PlanError", "RemoteError",
    "RequestCount", "UnknownModel", "count_plan", "count_request", "estimate", "get_encoding", "read_plan", "resolve_model",
    "__version__",
]
