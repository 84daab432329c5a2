"""Plans: the Batch API input JSONL, read as a stream."""
from batchcost.plans.reader import PlanLine, plan_sha256, read_plan

__all__ = ["PlanLine", "plan_sha256", "read_plan"]
