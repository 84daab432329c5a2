"""The team's batch spend, from the ledger: approved, committed, actual, by month, project, model, provider or
plan; and budgets that hold at approval and again at submission.

Each approved plan (its latest approval) is one booking, dated by its approval:
- approved: the approval's batch high (its expected where the plan has no upper bound);
- committed: the same figure while the plan is submitted and not yet reconciled (spend in flight is never $0),
  beside what its batches report they have used so far, where they report usage;
- actual: its latest reconciliation's cost (the results at the batch prices), once reconciled; for a plan whose
  batches all finished and reported their usage but which is not reconciled yet, that usage priced at the batch
  tier, flagged as such (``unreconciled``).
Money is exact Decimal throughout; only the table rounds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BadInput, BudgetExceeded, UsageError
from batchcost.core.records import Usage
from batchcost.pricing.cost import display_money, exact_money, money, parse_amount

GROUPS = ("month", "project", "model", "provider", "batch")
PERIODS = ("month", "quarter")
NO_PROJECT = "(none)"


@dataclass
class Booking:
    plan_sha256: str
    project: str | None
    models: list[str]
    provider: str
    approved_at: dt.datetime
    approved: Decimal
    expected: Decimal | None
    realtime_expected: Decimal | None
    submitted: bool
    actual: Decimal | None  # None: not reconciled
    estimated_for_actual: Decimal | None  # the reconciliation's estimate of the same lines
    finished: bool = False  # every wave created and ended
    reported: Decimal | None = None  # the usage its batches report, priced (None: not every batch reports it)

    @property
    def unreconciled(self) -> bool:
        """Finished and priced from the batches' own usage, not yet reconciled."""
        return self.actual is None and self.finished and self.reported is not None

    @property
    def spent(self) -> Decimal | None:
        """The actual figure: reconciled, else the finished batches' reported usage, else None."""
        return self.actual if self.actual is not None else self.reported if self.unreconciled else None

    @property
    def committed(self) -> Decimal:
        return self.approved if self.submitted and self.spent is None else Decimal(0)

    def key(self, by: str) -> str:
        return {"month": self.approved_at.strftime("%Y-%m"), "project": self.project or NO_PROJECT,
                "model": ",".join(self.models) or "?", "provider": self.provider or providers.default().name,
                "batch": self.plan_sha256[:12]}[by]


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _when(text: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def _reported(entry: dict | None, models: list[str], prices) -> Decimal | None:
    """The usage every created wave of a plan reports, priced at its model's batch tier; None unless all do."""
    if not entry or not entry["usage"] or any(u is None for u in entry["usage"]) or len(models) != 1:
        return None
    costs = [usage_cost(prices, models[0], u) for u in entry["usage"]]
    return None if any(c is None for c in costs) else sum((c for c in costs if c is not None), Decimal(0))


def usage_cost(prices, model: str, usage: Usage) -> Decimal | None:
    """The batch-tier cost of the token usage a batch object reports (``providers.batch_usage``); None where it
    cannot be priced exactly: an unknown model or price, or an image or video model, whose batch usage does not
    say which tokens were image tokens (never priced at the text rates)."""
    from batchcost.core.errors import BatchcostError
    from batchcost.pricing.cost import price_tokens
    from batchcost.tokens.models import resolve_model

    try:
        if resolve_model(model).kind in ("image", "video"):
            return None
        return price_tokens(prices.lookup(model), "batch", input_tokens=usage.input_tokens,
                            cached_input_tokens=usage.cached_tokens, output_tokens=usage.output_tokens)
    except (BatchcostError, KeyError, ValueError):
        return None


@exact_money
def bookings(ledger, prices=None) -> list[Booking]:
    reconciled = ledger.reconciliations()
    submitted = ledger.submitted_plans()
    if prices is None and any(any(e["usage"]) for e in submitted.values()):
        from batchcost.pricing.tables import load_prices

        prices = load_prices([])
    out = []
    for row in ledger.approvals():
        sha = row["plan_sha256"]
        high, expected = _decimal(row["batch_high"]), _decimal(row["batch_expected"])
        rec = reconciled.get(sha)
        out.append(Booking(
            plan_sha256=sha, project=row["project"], models=[m for m in (row["models"] or "").split(",") if m],
            provider=row["provider"] or providers.default().name, approved_at=_when(row["approved_at"]),
            approved=high if high is not None else (expected or Decimal(0)), expected=expected,
            realtime_expected=_decimal(row["realtime_expected"]),
            submitted=sha in submitted and submitted[sha]["created"] > 0,
            actual=None if rec is None else Decimal(rec["actual_cost"]),
            estimated_for_actual=None if rec is None else _decimal(rec["estimated_expected"]),
            finished=sha in submitted and submitted[sha]["finished"] == submitted[sha]["waves"] > 0,
            reported=_reported(submitted.get(sha), [m for m in (row["models"] or "").split(",") if m], prices)))
    return out


def between(rows: list[Booking], since: dt.date | None, until: dt.date | None) -> list[Booking]:
    """The bookings approved on ``since`` .. ``until`` (inclusive; either open)."""
    return [b for b in rows
            if (since is None or b.approved_at.date() >= since) and (until is None or b.approved_at.date() <= until)]


@exact_money
def spend(ledger, *, since: dt.date | None = None, until: dt.date | None = None, by: str = "month",
          budgets_path: Path | None = None, today: dt.date | None = None, prices=None,
          every: list[Booking] | None = None) -> dict:
    """The ``spend --format json`` document (``every``: the ledger's bookings, when the caller has read them)."""
    if by not in GROUPS:
        raise UsageError(f"--by must be one of {', '.join(GROUPS)}")
    every = bookings(ledger, prices) if every is None else every
    rows = between(every, since, until)
    groups: dict[str, dict] = {}
    for b in rows:
        g = groups.setdefault(b.key(by), {"key": b.key(by), "plans": 0, "approved": Decimal(0),
                                          "committed": Decimal(0), "actual": Decimal(0), "savings": Decimal(0),
                                          "reconciled": 0, "estimated": Decimal(0), "unreconciled": 0,
                                          "unreconciled_actual": Decimal(0), "in_flight_usage": Decimal(0)})
        g["plans"] += 1
        g["approved"] += b.approved
        g["committed"] += b.committed
        if b.realtime_expected is not None and b.expected is not None:
            g["savings"] += b.realtime_expected - b.expected
        if b.actual is not None:
            g["actual"] += b.actual
            g["reconciled"] += 1
            g["estimated"] += b.estimated_for_actual or Decimal(0)
        elif b.unreconciled:
            g["actual"] += b.reported
            g["unreconciled"] += 1
            g["unreconciled_actual"] += b.reported
        elif b.submitted and b.reported is not None:
            g["in_flight_usage"] += b.reported
    out_groups = [_group_json(g) for g in sorted(groups.values(), key=lambda g: g["key"])]
    total: dict[str, Any] = {k: money(sum((g[k] for g in groups.values()), Decimal(0)))
                             for k in ("approved", "committed", "actual", "savings")}
    total["plans"] = len(rows)
    doc = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None, "by": by,
           "currency": "USD", "groups": out_groups, "total": total,
           "note": "each approved plan is booked on its approval's date: approved = its batch high; committed = "
                   "the same while submitted and not yet spent; actual = its reconciled cost (or, for finished "
                   "batches not yet reconciled, the usage they report, priced: see unreconciled)"}
    path = budgets_file(budgets_path)
    if path is not None:
        doc["budgets"] = [budget_use(b, every, today or dt.date.today()) for b in load_budgets(path)]
    return doc


def _group_json(g: dict) -> dict:
    accuracy = None
    if g["reconciled"] and g["estimated"]:
        accuracy = {"reconciled": g["reconciled"], "estimated": money(g["estimated"]), "actual": money(g["actual"]),
                    "actual_over_estimated": format((g["actual"] / g["estimated"]).quantize(Decimal("0.001")), "f")}
    return {"key": g["key"], "plans": g["plans"], "approved": money(g["approved"]),
            "committed": money(g["committed"]), "actual": money(g["actual"]), "savings": money(g["savings"]),
            "accuracy": accuracy,
            # finished plans priced from their batches' own usage, not yet reconciled (a part of actual)
            "unreconciled": {"plans": g["unreconciled"], "actual": money(g["unreconciled_actual"])},
            "in_flight_usage": money(g["in_flight_usage"])}  # what in-flight batches report using so far


# -- budgets ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    project: str  # "*": every project together
    period: str
    limit: Decimal
    line: int | None = None


def budgets_file(path: Path | None) -> Path | None:
    """--budgets FILE, else BATCHCOST_HOME/budgets.yaml when it exists."""
    if path is not None:
        return Path(path)
    from batchcost.core.home import home

    default = home() / "budgets.yaml"
    return default if default.is_file() else None


def load_budgets(path: Path) -> list[Budget]:
    """The budgets file (DESIGN.md's schema), read as price files are: amounts exactly as written (``limit:
    500.10`` is $500.10, never a float), no key given twice, bounded nesting; each error names the file and line."""
    from decimal import Decimal

    from batchcost.core.inputs import line_of, read_yaml_file

    doc = read_yaml_file(path, BadInput, "budgets file")
    if not isinstance(doc, dict) or not isinstance(doc.get("budgets"), list):
        raise BadInput("a budgets file is a mapping with currency: USD and a list of budgets", path=path, line=1)
    if doc.get("currency", "USD") != "USD":
        raise BadInput(f"currency {doc.get('currency')!r} is not supported (USD only)", path=path,
                       line=line_of(doc, "currency"))
    out = []
    for i, entry in enumerate(doc["budgets"]):
        where = f"budgets[{i}]"
        line = line_of(entry, "project") if isinstance(entry, dict) else line_of(doc, "budgets")
        if not isinstance(entry, dict) or not {"project", "period", "limit"} <= entry.keys():
            raise BadInput(f"{where} needs project, period and limit", path=path, line=line)
        if not isinstance(entry["project"], str) or not entry["project"]:
            raise BadInput(f"{where}.project must be a name (or \"*\" for every project)", path=path,
                           line=line_of(entry, "project"))
        if entry["period"] not in PERIODS:
            raise BadInput(f"{where}.period must be month or quarter, not {entry['period']!r}", path=path,
                           line=line_of(entry, "period"))
        raw = entry["limit"]
        try:
            if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, str)):
                raise ValueError("it must be an amount in USD such as 500 or 500.10")
            limit = parse_amount(raw if isinstance(raw, str) else str(raw))
        except ValueError as exc:
            raise BadInput(f"{where}.limit: {exc}", path=path, line=line_of(entry, "limit")) from None
        out.append(Budget(entry["project"], entry["period"], limit, line_of(entry, "project")))
    return out


def period_of(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    """[start, end) of the month or quarter holding ``day``."""
    first_month = day.month if period == "month" else (day.month - 1) // 3 * 3 + 1
    start = dt.date(day.year, first_month, 1)
    months = 1 if period == "month" else 3
    end_month = first_month + months
    end = dt.date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return start, end


@exact_money
def budget_use(budget: Budget, rows: list[Booking], today: dt.date, exclude: str | None = None) -> dict:
    start, end = period_of(today, budget.period)
    inside = [b for b in rows if start <= b.approved_at.date() < end and b.plan_sha256 != exclude
              and (budget.project == "*" or (b.project or NO_PROJECT) == budget.project)]
    actual = sum((b.spent for b in inside if b.spent is not None), Decimal(0))
    committed = sum((b.committed for b in inside), Decimal(0))
    return {"project": budget.project, "period": budget.period, "start": start.isoformat(),
            "end": end.isoformat(), "limit": money(budget.limit), "actual": money(actual),
            "committed": money(committed), "left": money(budget.limit - actual - committed)}


@exact_money
def check_budgets(approval: dict, ledger, prices, budgets_path: Path | None, *, at_submit: bool = False) -> None:
    """Refuse (exit 3) a plan whose batch high is over what a budget of its project (or "*") has left in the
    current period: limit - actual - committed of the other plans booked there."""
    path = budgets_file(budgets_path)
    if path is None:
        return
    project = approval.get("project")
    cost = ((approval.get("estimate") or {}).get("cost") or {}).get("batch") or {}
    high = cost.get("high")
    sha = (approval.get("plan") or {}).get("sha256")
    rows = bookings(ledger, prices)
    for budget in load_budgets(path):
        if budget.project != "*" and budget.project != (project or NO_PROJECT):
            continue
        use = budget_use(budget, rows, dt.date.today(), exclude=sha)
        if high is None:
            raise BudgetExceeded(f"the batch cost has no upper bound, so it cannot be shown to fit the "
                                 f"{budget.project} {budget.period} budget (set max_tokens)")
        left, need = Decimal(use["left"]), Decimal(high)
        if need > left:
            when = "at submission (other batches were approved or submitted since)" if at_submit else ""
            raise BudgetExceeded(
                f"over budget{(' ' + when) if when else ''}: project {budget.project!r}'s {budget.period} budget "
                f"{display_money(budget.limit)} has {display_money(left)} left (actual "
                f"{display_money(Decimal(use['actual']))}, committed {display_money(Decimal(use['committed']))}); "
                f"this plan's batch high {display_money(need)} is over by {display_money(need - left)}",
                path=path)
