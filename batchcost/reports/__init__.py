"""Budget reports: DataFrames, charts, and HTML/Markdown/CSV/JSON writers."""
from batchcost.reports.api import EstimateResult, estimate

__all__ = ["EstimateResult", "estimate"]
