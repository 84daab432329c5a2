"""Approvals: the plan's sha256, its estimate, the budget, who approved and when. Submit checks all of it."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from batchcost.core.atomic import write_text_atomic
from batchcost.core.errors import BudgetExceeded
from batchcost.core.inputs import depth_within, read_json_file
from batchcost.estimation.estimate import Estimate
from batchcost.plans.reader import plan_sha256
from batchcost.pricing.cost import display_money, money, parse_amount

FORMAT = 1
MAX_APPROVAL_DEPTH = 32  # what approve writes nests 6 levels; submit stores the approval in the ledger


def make_approval(estimate: Estimate, *, budget: Decimal, by: str, budget_on: str = "high",
                  project: str | None = None) -> dict:
    """The approval record; raises ``BudgetExceeded`` (exit 3) when the estimate is over the budget."""
    if not by.strip():
        raise BudgetExceeded("an approval needs the approver's name (--by)")
    if project is not None and not project.strip():
        raise BudgetExceeded("--project needs a name")
    estimate.check_budget(budget, budget_on)
    return {
        **({"project": project.strip()} if project else {}),
        "batchcost_approval": FORMAT,
        "plan": estimate.plan,
        "budget": money(budget),
        "budget_on": budget_on,
        "approved_by": by.strip(),
        "approved_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "estimate": estimate.as_dict(),
    }


def write_approval(approval: dict, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(approval, indent=2) + "\n")


def _amount(value, path: Path, what: str) -> Decimal:
    """A money amount of an approval, refused (exit 3) unless it is a finite, non-negative decimal string."""
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise BudgetExceeded(f"approval {path} has an unusable {what} ({json.dumps(value)[:40]}): {exc}; approve the "
                             "plan again") from None


def load_approval(path: str | Path | None, plan: str | Path) -> dict:
    """Read and check an approval against ``plan``. Every refusal is ``BudgetExceeded`` (exit 3) with the reason."""
    if path is None:
        raise BudgetExceeded("no approval: run `batchcost approve PLAN --budget USD --by NAME -o APPROVAL.json` "
                             "and pass --approval APPROVAL.json")
    path = Path(path)
    if not path.exists():
        raise BudgetExceeded(f"approval {path} does not exist")
    try:
        approval = read_json_file(path, BudgetExceeded, "approval")  # strict: no NaN, no 1e400, bounded nesting
    except BudgetExceeded as exc:
        raise BudgetExceeded(f"approval {path} is not a readable approval file: {exc.message}") from None
    if not isinstance(approval, dict) or approval.get("batchcost_approval") != FORMAT:
        raise BudgetExceeded(f"approval {path} is not a batchcost approval")
    if not depth_within(approval, MAX_APPROVAL_DEPTH):
        raise BudgetExceeded(f"approval {path} is nested more than {MAX_APPROVAL_DEPTH} levels deep: it was not "
                             "made by batchcost approve")
    try:
        approved_sha = approval["plan"]["sha256"]
        on = approval.get("budget_on", "high")
        cost = approval["estimate"]["cost"]["batch"][on]
        who = approval["approved_by"]
        budget = _amount(approval["budget"], path, "budget")
    except (KeyError, TypeError):
        raise BudgetExceeded(f"approval {path} is malformed (plan.sha256, budget, estimate or approved_by missing)") \
            from None
    if not isinstance(approved_sha, str):
        raise BudgetExceeded(f"approval {path} is malformed (plan.sha256 must be a string)")
    actual = plan_sha256(plan)
    if actual != approved_sha:
        from batchcost.plans.jobs import job_change

        listed = (approval.get("plan") or {}).get("files")
        if isinstance(listed, list) and listed:  # a job: which of its files was removed, added or changed
            raise BudgetExceeded(job_change([f for f in listed if isinstance(f, dict)], Path(plan)))
        raise BudgetExceeded(f"{plan} has changed since it was approved (sha256 {actual[:12]}…, approved "
                             f"{approved_sha[:12]}…); approve it again")
    if cost is None or _amount(cost, path, "estimated cost") > budget:
        raise BudgetExceeded(f"approval {path} is over its own budget ({cost} > {display_money(budget)}); "
                             "it was not made by batchcost approve")
    if not isinstance(who, str) or not who:
        raise BudgetExceeded(f"approval {path} names no approver")
    return approval
