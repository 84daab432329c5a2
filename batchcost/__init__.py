"""batchcost: what an LLM batch job will cost, before you spend; submit exactly what was approved.

Public API::

    import batchcost
    batchcost.count_request({"model": "gpt-4o-mini", "messages": [...]})   # -> RequestCount
    for r in batchcost.count_plan("plan.jsonl"): ...                       # -> CountedRequest, streaming
    result = batchcost.estimate("plan.jsonl", compare_models=["gpt-4.1-mini"])
    result.summary(); result.by_model(); result.requests(); result.plot_costs()   # DataFrames, Figures
"""
from __future__ import annotations

from batchcost.core.errors import BadInput, BatchcostError, BudgetExceeded, PlanError, RemoteError, UnknownModel
from batchcost.core.options import ReadOptions
from batchcost.core.version import VERSION as __version__
from batchcost.plans.counts import CountedRequest, count_request
from batchcost.plans.reader import read_plan
from batchcost.reports.api import EstimateResult, count_plan, estimate
from batchcost.tokens.encodings import get_encoding
from batchcost.tokens.models import ModelInfo, resolve_model
from batchcost.tokens.text import RequestCount

__all__ = [
    "BadInput", "BatchcostError", "BudgetExceeded", "CountedRequest", "EstimateResult", "ModelInfo", "PlanError",
    "ReadOptions", "RemoteError",
    "RequestCount", "UnknownModel", "count_plan", "count_request", "estimate", "get_encoding", "read_plan",
    "resolve_model",
    "__version__",
]
