"""approve, submit, status, wait, download, cancel, list: the batch lifecycle on the command line."""
from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from batchcost import providers
from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP, BudgetOn, parse_budget
from batchcost.cli.options import check_positive
from batchcost.errors import BudgetExceeded, RemoteError, UsageError


class Fmt(str, enum.Enum):
    table = "table"
    json = "json"


BASE_URL_HELP = ("API base URL (Azure OpenAI or any compatible server); default OPENAI_BASE_URL or OpenAI "
                 "(Anthropic: ANTHROPIC_BASE_URL or Anthropic's; Gemini: GOOGLE_GEMINI_BASE_URL or Google's).")
BaseUrl = typer.Option(None, "--base-url", metavar="URL", help=BASE_URL_HELP)
MaxRetries = typer.Option(5, "--max-retries", metavar="N", min=0, max=100, help="Retries for transient API errors (429, 5xx).")


def _client(base_url: str | None, max_retries: int, *, plan: Path | None = None, batch_id: str | None = None,
            ledger=None):
    """The provider's client: --provider, else the plan's provider, else the batch's (what the ledger recorded
    for it, or the shape of its id), else OpenAI."""
    name = providers.forced()
    if name is None and plan is not None:
        from batchcost.plans.reader import plan_provider

        name = plan_provider(plan)
    if name is None and batch_id:
        sub = (ledger or _ledger()).by_batch(batch_id)
        name = providers.for_batch(batch_id, sub.endpoint if sub is not None else None)
    return providers.get(name or "openai").client(base_url=base_url, max_retries=max_retries)


def _ledger():
    from batchcost.batch.ledger import Ledger

    return Ledger()


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _batch_line(batch: dict) -> str:
    counts = batch.get("request_counts") or {}
    return (f"{batch['id']}  {batch['status']:<11} {counts.get('completed', 0):,}/{counts.get('total', 0):,} "
            f"completed, {counts.get('failed', 0):,} failed  {batch.get('endpoint', '')}")


def _emit(fmt: Fmt, data, text: str) -> None:
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        print(text)


@app.command()
def approve(
    plan: Path = typer.Argument(..., metavar="PLAN", help="The plan to approve (its bytes are bound by sha256)."),
    budget: str = typer.Option(..., "--budget", metavar="USD", help="The most the batch may cost."),
    by: str = typer.Option(..., "--by", metavar="NAME", help="Who approves."),
    out: Path = typer.Option(..., "--out", "-o", metavar="APPROVAL.json", help="Where to write the approval."),
    prices: Optional[List[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    budget_on: BudgetOn = typer.Option(BudgetOn.high, "--budget-on", help="Batch figure checked against --budget."),
    output_tokens: str = typer.Option("max", "--output-tokens", metavar="max|N", help="Output forecast basis."),
) -> None:
    """Approve PLAN for a budget: records the plan's sha256, its estimate at the prices used, the budget, who and
    when. Refuses (exit 3) when the estimated batch cost is over the budget."""
    from batchcost.batch.approval import make_approval, write_approval
    from batchcost.estimator.estimate import OutputForecast, estimate_plan
    from batchcost.pricing.cost import display_money
    from batchcost.pricing.tables import load_prices

    from batchcost.cli.options import guard

    guard(inputs=[plan, prices or []], outputs=[out])
    limit = parse_budget(budget, BudgetExceeded)
    estimate = estimate_plan(plan, load_prices(prices or []), forecast=OutputForecast.parse(output_tokens))
    approval = make_approval(estimate, budget=limit, by=by, budget_on=budget_on.value)
    write_approval(approval, out)
    cost = estimate.cost["batch"][budget_on.value]
    print(f"approved {plan} (sha256 {estimate.plan['sha256'][:12]}…): batch {display_money(cost)} at "
          f"{budget_on.value} within {display_money(limit)}, by {approval['approved_by']} -> {out}")


@app.command()
def submit(
    plan: Path = typer.Argument(..., metavar="PLAN", help="The approved plan."),
    approval: Optional[Path] = typer.Option(None, "--approval", metavar="APPROVAL.json",
                                            help="The approval from `batchcost approve`."),
    yes: bool = typer.Option(False, "--yes", help="Submit without an approval file: needs --budget and a "
                                                  "confirmation typed at a terminal."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD", help="With --yes: the budget to hold."),
    prices: Optional[List[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    wait: bool = typer.Option(False, "--wait", help="Follow the batch to the end."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", metavar="SECONDS", help="First wait between polls "
                                        "(backs off to 5 minutes)."),
    resubmit: bool = typer.Option(False, "--resubmit", help="Submit again even though the ledger has this plan."),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f", help="table or json."),
) -> None:
    """Upload PLAN and create its batch (or its waves, for a plan over the limits), exactly once.

    Refuses (exit 3) without a valid approval for these exact bytes. The same plan submitted again reports the
    existing batch; an interrupted submit resumes from the ledger with no duplicate upload or batch."""
    from batchcost.batch.approval import load_approval
    from batchcost.batch.lifecycle import submit_plan

    check_positive(poll_interval, "--poll-interval")
    if approval is None and yes:
        record = _confirm_without_approval(plan, budget, prices)
    else:
        if yes:
            raise UsageError("--yes is for submitting without --approval; drop one of them")
        record = load_approval(approval, plan)
    sha = record["plan"]["sha256"]  # checked against the plan's bytes just now: no second pass over the file
    with providers.reading_model(_approved_model(record)):
        client, ledger = _client(base_url, max_retries, plan=plan), _ledger()
        subs, created = submit_plan(plan, sha, client, ledger, approval=json.dumps(record), resubmit=resubmit,
                                    on_step=_say)
    if not created:
        _say(f"{plan} was already submitted (use --resubmit to send it again):")
    data = [{"wave": s.wave, "waves": s.waves, "batch_id": s.batch_id, "file_id": s.file_id, "status": s.status,
             "requests": s.requests, "attempt": s.attempt, "created": created} for s in subs]
    _emit(fmt, data, "\n".join(f"{s.batch_id}  wave {s.wave}/{s.waves}  {s.requests:,} requests  {s.status}"
                               for s in subs))
    if wait:
        for s in subs:
            _wait_and_report(s.batch_id, client, ledger, poll_interval, Fmt.table)


def _approved_model(record: dict) -> str | None:
    """The model the approval was estimated for, for plans whose lines name none (Gemini: the batch's model). A
    different ``--model`` would submit another model's cost under this approval: refused (exit 3)."""
    models = (record.get("plan") or {}).get("models") or []
    chosen = providers.default_model()
    if chosen is not None and models and chosen not in models:
        raise BudgetExceeded(f"the approval is for {', '.join(models)}, not --model {chosen}: approve the plan for "
                             f"{chosen} first")
    return models[0] if len(models) == 1 else None


def _confirm_without_approval(plan: Path, budget: str | None, prices) -> dict:
    from batchcost.estimator.estimate import estimate_plan
    from batchcost.pricing.cost import display_money
    from batchcost.pricing.tables import load_prices

    limit = parse_budget(budget, BudgetExceeded)
    if limit is None:
        raise BudgetExceeded("--yes without an approval needs --budget")
    if not sys.stdin.isatty():
        raise BudgetExceeded("--yes without an approval needs a confirmation typed at a terminal; use "
                             "`batchcost approve` in scripts")
    estimate = estimate_plan(plan, load_prices(prices or []))
    estimate.check_budget(limit)
    answer = input(f"Submit {plan} ({estimate.plan['requests']:,} requests, batch up to "
                   f"{display_money(estimate.cost['batch']['high'])}, budget {display_money(limit)})? "
                   "Type yes to submit: ")
    if answer.strip().lower() != "yes":
        raise BudgetExceeded("not confirmed; nothing was submitted")
    return {"confirmed_at_terminal": True, "budget": str(limit), "plan": estimate.plan}


def _wait_and_report(batch_id: str, client, ledger, poll_interval: float, fmt: Fmt, timeout=None) -> dict:
    from batchcost.batch.lifecycle import wait_batch
    from batchcost.cli.progress import batch_progress

    with batch_progress(batch_id) as update:
        batch = wait_batch(batch_id, client, ledger, poll_interval=poll_interval, on_status=update, timeout=timeout)
    _emit(fmt, batch, _batch_line(batch))
    status = batch["status"]
    if status != "completed":
        counts = batch.get("request_counts") or {}
        raise RemoteError(f"batch {batch_id} ended {status}: {counts.get('completed', 0):,} of "
                          f"{counts.get('total', 0):,} requests completed; completed lines are billed and can be "
                          f"downloaded with `batchcost download {batch_id} --out DIR`")
    return batch


@app.command()
def wait(
    batch_id: str = typer.Argument(..., metavar="BATCH_ID"),
    poll_interval: float = typer.Option(30.0, "--poll-interval", metavar="SECONDS",
                                        help="First wait between polls (backs off to 5 minutes)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", metavar="SECONDS", help="Give up (exit 4) after this."),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Follow BATCH_ID to the end (progress bar on a terminal). Exit 0 when completed, 4 when it failed, expired
    or was cancelled (its completed lines can still be downloaded)."""
    check_positive(poll_interval, "--poll-interval")
    check_positive(timeout, "--timeout")
    ledger = _ledger()
    _wait_and_report(batch_id, _client(base_url, max_retries, batch_id=batch_id, ledger=ledger), ledger,
                     poll_interval, fmt, timeout)


@app.command()
def status(
    batch_id: Optional[str] = typer.Argument(None, metavar="[BATCH_ID]"),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """The status of BATCH_ID (and its history in the ledger), or of every submission in the ledger."""
    ledger = _ledger()
    if batch_id is None:
        subs = ledger.all_submissions()
        data = [{"batch_id": s.batch_id, "plan": s.plan_path, "wave": s.wave, "waves": s.waves, "state": s.state,
                 "status": s.status, "requests": s.requests, "updated_at": s.updated_at} for s in subs]
        _emit(fmt, data, "\n".join(f"{s.batch_id or '(not created)'}  {s.status or s.state:<11} "
                                   f"{s.requests:,} requests  {s.plan_path} wave {s.wave}/{s.waves}" for s in subs)
              or "no submissions in the ledger")
        return
    batch = _client(base_url, max_retries, batch_id=batch_id, ledger=ledger).retrieve(batch_id)
    ledger.record_status(batch)
    history = ledger.history(batch_id)
    _emit(fmt, {"batch": batch, "history": history, "downloads": ledger.downloads(batch_id)},
          _batch_line(batch) + "".join(f"\n  {h['at']}  {h['status']}" for h in history))


@app.command()
def download(
    batch_id: str = typer.Argument(..., metavar="BATCH_ID"),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder for BATCH_ID_output.jsonl and _error.jsonl."),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Download the output and error files of a finished batch (also a failed, expired or cancelled one: its
    completed lines are billed). Files are written whole then renamed; downloading again is safe."""
    from batchcost.batch.lifecycle import download_batch

    from batchcost.cli.options import guard

    guard(folders=[out])  # refused before any key is needed or anything is fetched
    ledger = _ledger()
    files = download_batch(batch_id, out, _client(base_url, max_retries, batch_id=batch_id, ledger=ledger), ledger)
    _emit(fmt, files, "\n".join(f"{f['path']}  ({f['bytes']:,} bytes, {f['kind']})" for f in files)
          or f"batch {batch_id} has no result files")


@app.command()
def cancel(
    batch_id: str = typer.Argument(..., metavar="BATCH_ID"),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Cancel BATCH_ID. Lines completed before the cancel are still delivered and billed."""
    ledger = _ledger()
    batch = _client(base_url, max_retries, batch_id=batch_id, ledger=ledger).cancel(batch_id)
    ledger.record_status(batch)
    _emit(fmt, batch, _batch_line(batch))


@app.command("list")
def list_batches(
    limit: int = typer.Option(20, "--limit", metavar="N", min=1, max=10_000),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """The account's most recent batches; those batchcost submitted are marked with *."""
    ledger = _ledger()
    batches = _client(base_url, max_retries).list(limit)
    mine = {b["id"] for b in batches if ledger.by_batch(b["id"])}
    _emit(fmt, [{**b, "batchcost": b["id"] in mine} for b in batches],
          "\n".join(("* " if b["id"] in mine else "  ") + _batch_line(b) for b in batches) or "no batches")
