"""approve, submit, status, wait, download, cancel, list: the batch lifecycle on the command line."""
from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from batchcost import providers
from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP, BudgetOn, parse_budget
from batchcost.cli.options import check_positive, reading
from batchcost.core.errors import BudgetExceeded, RemoteError, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.settings import MAX_TOKENS, configured_cap, configured_project, configured_signers


class Fmt(str, enum.Enum):
    table = "table"
    json = "json"


BASE_URL_HELP = ("API base URL (Azure OpenAI or any compatible server); default OPENAI_BASE_URL or OpenAI "
                 "(Anthropic: ANTHROPIC_BASE_URL or Anthropic's; Gemini: GOOGLE_GEMINI_BASE_URL or Google's).")
BaseUrl = typer.Option(None, "--base-url", metavar="URL", help=BASE_URL_HELP)
Budgets = typer.Option(None, "--budgets", metavar="FILE",
                       help="Budgets (YAML), checked at approve and again at submit; default "
                            "BATCHCOST_HOME/budgets.yaml when it exists.")
MaxRetries = typer.Option(5, "--max-retries", metavar="N", min=0, max=100, help="Retries for transient API errors "
                                                                                "(429, 5xx).")


def remote_batch(batch, what: str) -> dict:
    from batchcost.lifecycle.waves import remote_batch as checked

    return checked(batch, what)


def batch_client(base_url: str | None, max_retries: int, *, plan: Path | None = None, batch_id: str | None = None,
            ledger=None, options: ReadOptions = PLAIN):
    """The provider's client: --provider, else the plan's provider, else the batch's (what the ledger recorded
    for it, or the shape of its id), else the default provider's."""
    name = options.provider
    if name is None and plan is not None:
        from batchcost.plans.reader import plan_provider

        name = plan_provider(plan, options)
    if name is None and batch_id:
        sub = (ledger or _ledger()).by_batch(batch_id)
        name = providers.for_batch(batch_id, sub.endpoint if sub is not None else None,
                                   sub.provider if sub is not None else None).name
    provider = providers.get(name) if name else providers.default()
    return provider.client(base_url=base_url, max_retries=max_retries)


def one_client(ctx: typer.Context, base_url: str | None, max_retries: int, batch_id: str, ledger):
    """The client of one batch's provider (--provider, else what the ledger recorded for it)."""
    return batch_client(base_url, max_retries, batch_id=batch_id, ledger=ledger, options=reading(ctx))


def _ledger():
    from batchcost.lifecycle.ledger import Ledger

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
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The plan to approve (its bytes are bound by "
                                                                    "sha256). Several plan files, or a folder of "
                                                                    "waves, are one job. The approval lists each "
                                                                    "file's sha256."),
    budget: str = typer.Option(..., "--budget", metavar="USD", help="The most the batch may cost."),
    by: str = typer.Option(..., "--by", metavar="NAME", help="Who approves."),
    out: Path = typer.Option(..., "--out", "-o", metavar="APPROVAL.json", help="Where to write the approval."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    budget_on: BudgetOn = typer.Option(BudgetOn.high, "--budget-on", help="Batch figure checked against --budget."),
    output_tokens: str = typer.Option("max", "--output-tokens", metavar="max|N", help="Output forecast basis."),
    project: Optional[str] = typer.Option(None, "--project", metavar="NAME",
                                          help="The project the spend is booked to (`batchcost spend --by project`, "
                                               "budgets). Default: the project of the template `plan` wrote it "
                                               "from, else BATCHCOST_PROJECT, else project in "
                                               "BATCHCOST_HOME/config.yaml."),
    sign_with: Optional[Path] = typer.Option(None, "--sign-with", metavar="KEY",
                                             help="Sign the approval with this SSH key (ssh-keygen -Y sign, namespace "
                                                  "batchcost; a .pub file signs through ssh-agent)."),
    principal: Optional[str] = typer.Option(None, "--principal", metavar="NAME",
                                            help="The signer's principal as the allowed signers file names it "
                                                 "(default: --by)."),
    budgets: Optional[Path] = Budgets,
) -> None:
    """Approve PLAN for a budget: records the plan's sha256, its estimate at the prices used, the budget, who and
    when, and the project; signed with --sign-with. Refuses (exit 3) when the estimated batch cost is over the
    budget, or over what the project's budget for the period has left (limit - actual - committed). Where
    signatures are required (BATCHCOST_ALLOWED_SIGNERS, or allowed_signers in config.yaml), a signature that submit
    would not accept is refused here too (exit 3), and an unsigned approval is warned of."""
    from batchcost.cli.options import one_plan
    from batchcost.estimation.compare import alternatives

    several = alternatives(plans, reading(ctx))  # files of several providers: one job, each file to its provider
    plan = one_plan(plans, dataset=False)
    from batchcost.cli.options import guard
    from batchcost.estimation.estimate import combine, estimate_plan, priced
    from batchcost.estimation.forecast import OutputForecast
    from batchcost.lifecycle.approval import make_approval, write_approval
    from batchcost.pricing.cost import display_money
    from batchcost.pricing.tables import load_prices

    guard(inputs=[plan, prices or [], [sign_with] if sign_with else [], [budgets] if budgets else []],
          outputs=[out])
    limit = parse_budget(budget, BudgetExceeded)
    assert limit is not None  # --budget is required
    table = load_prices(prices or [])
    forecast = OutputForecast.parse(output_tokens)
    if several:  # each file estimated by its own provider's rules and prices, the job their sum
        estimate = combine([(f, estimate_plan(f, table, forecast=forecast)) for f in several], plan)
    else:
        estimate = estimate_plan(plan, table, forecast=forecast, options=reading(ctx))
    ledger = _ledger()
    files = [f.get("sha256") for f in estimate.plan.get("files") or []] or [estimate.plan["sha256"]]
    approval = make_approval(estimate, budget=limit, by=by, budget_on=budget_on.value,
                             project=project or ledger.plan_project(files) or configured_project())
    from batchcost.lifecycle.spend import check_budgets

    check_budgets(approval, ledger, table, budgets)
    signers = configured_signers()
    if sign_with is not None:
        from batchcost.lifecycle.signing import sign, verify

        approval = sign(approval, sign_with, principal or by)
        if signers is not None:  # refused now, before anything is booked, what submit would refuse later
            verify(approval, signers, out)
    elif signers is not None:
        _say(f"warning: signatures are required ({signers}) and this approval is unsigned: submit will refuse it "
             "(approve with --sign-with KEY)")
    booking = ledger.add_approval(approval)  # booked first: a ledger that refuses it leaves no approval behind
    try:
        write_approval(approval, out)
    except BaseException:  # no approval file (a full disk, an interrupt): no booking either
        ledger.remove_approval(booking)
        raise
    cost = priced(estimate.cost, "batch")[budget_on.value]
    from batchcost.plans.jobs import describe

    signed = f", signed as {approval['signature']['principal']}" if "signature" in approval else ""
    booked = f" for project {approval['project']}" if approval.get("project") else ""
    print(f"approved {describe(plan)} (sha256 {estimate.plan['sha256'][:12]}…): batch {display_money(cost)} at "
          f"{budget_on.value} within {display_money(limit)}, by {approval['approved_by']}{booked}{signed} -> {out}")


@app.command()
def submit(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The approved plan (the files of an approved job, "
                                                                    "in the same order)."),
    approval: Optional[Path] = typer.Option(None, "--approval", metavar="APPROVAL.json",
                                            help="The approval from `batchcost approve`."),
    yes: bool = typer.Option(False, "--yes", help="Submit without an approval file: needs --budget and a "
                                                  "confirmation typed at a terminal."),
    budget: Optional[str] = typer.Option(None, "--budget", metavar="USD", help="With --yes: the budget to hold."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    wait: bool = typer.Option(False, "--wait", help="Follow the batch to the end."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", metavar="SECONDS", help="First wait between polls "
                                        "(backs off to 5 minutes)."),
    resubmit: bool = typer.Option(False, "--resubmit", help="Submit again even though the ledger has this plan."),
    max_enqueued_tokens: Optional[int] = typer.Option(
        None, "--max-enqueued-tokens", metavar="N", min=1, max=MAX_TOKENS,
        help="The model's queue cap (input tokens enqueued at once, by your account's tier): waves are created "
             "only while this job's waves in flight stay under it, the rest as they finish (`wait`). Default: "
             "max_enqueued_tokens for the model in BATCHCOST_HOME/config.yaml, else every wave at once."),
    stop_on_failure: bool = typer.Option(False, "--stop-on-failure",
                                         help="Create no further wave once one failed, expired or was cancelled."),
    allowed_signers: Optional[Path] = typer.Option(
        None, "--allowed-signers", metavar="FILE",
        help="Require an approval signed by a key this OpenSSH allowed_signers file lists for its principal. "
             "Default: BATCHCOST_ALLOWED_SIGNERS, else allowed_signers in BATCHCOST_HOME/config.yaml; with none, "
             "unsigned approvals are taken."),
    budgets: Optional[Path] = Budgets,
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f", help="table or json."),
) -> None:
    """Upload PLAN and create its batch, or its waves for a plan over the limits, exactly once: one job (its id
    is printed) under one approval.

    Refuses (exit 3) without a valid approval for these exact bytes. The same plan submitted again reports the
    existing job (and creates the held waves that now fit); an interrupted submit resumes from the ledger with
    no duplicate upload or batch."""
    from batchcost.cli.options import one_plan, reading

    plan = one_plan(plans, dataset=False)
    options = reading(ctx)
    from batchcost.lifecycle.approval import load_approval
    from batchcost.lifecycle.waves import submit_plan

    check_positive(poll_interval, "--poll-interval")
    if approval is None and yes:
        record = _confirm_without_approval(plan, budget, prices, options)
    else:
        if yes:
            raise UsageError("--yes is for submitting without --approval; drop one of them")
        record = load_approval(approval, plan)
    signers = allowed_signers or configured_signers()
    if signers is not None:
        from batchcost.lifecycle.signing import verify

        if approval is None:
            raise BudgetExceeded(f"signatures are required ({signers}): submit with --approval, not --yes")
        principal = verify(record, signers, approval)
        _say(f"approval signed by {principal} (verified against {signers})")
    sha = record["plan"]["sha256"]  # checked against the plan's bytes just now: no second pass over the file
    model = _approved_model(record, options)
    options = options.with_model(model)  # lines that name no model (Gemini) are the approved model's
    from batchcost.lifecycle.spend import budgets_file, check_budgets

    ledger = _ledger()
    if budgets_file(budgets) is not None:  # again at submission: others may have been submitted since approve
        from batchcost.pricing.tables import load_prices

        check_budgets(record, ledger, load_prices(prices or []), budgets, at_submit=True)
    cap = max_enqueued_tokens or configured_cap(model)
    spread = (record.get("plan") or {}).get("providers") or []
    client: Any
    if len(spread) > 1:  # one approval, waves to several providers: each through its own client
        if base_url is not None:
            raise UsageError("--base-url names one server; this job's files go to " + ", ".join(spread) + " (each "
                             "provider's base URL comes from its own environment variable)")
        from batchcost.lifecycle.waves import ProviderClients

        client = ProviderClients(lambda name: providers.get(name).client(max_retries=max_retries))
    else:
        client = batch_client(base_url, max_retries, plan=plan, options=options)
    subs, created = submit_plan(plan, sha, client, ledger, approval=json.dumps(record), resubmit=resubmit,
                                max_enqueued_tokens=cap, stop_on_failure=stop_on_failure, on_step=_say,
                                options=options)
    if not created:
        _say(f"{plan} was already submitted (use --resubmit to send it again):")
    job = subs[0].job_id
    data = {**_job_record(ledger.job(job), subs, ledger), "created": created}
    text = "\n".join(f"{s.batch_id or '(held)':<30} wave {s.wave}/{s.waves}  {s.requests:,} requests  "
                     f"{s.status or s.state}" for s in subs)
    if wait and fmt is Fmt.json:
        _say(text)  # stdout holds one JSON document, the job's final state: what was created is progress
    else:
        _emit(fmt, data, text)
    held = sum(s.state == "held" for s in subs)
    _say(f"job {job}: {len(subs) - held} of {len(subs)} wave(s) created"
         + (f", {held} held under the queue cap until earlier waves finish (`batchcost wait {job}` creates them)"
            if held else ""))
    if wait:
        _wait_job_and_report(job, client, ledger, poll_interval, fmt, extra={"created": created})


def _wait_job_and_report(job_id: str, client, ledger, poll_interval: float, fmt: Fmt, timeout=None,
                         extra: dict | None = None) -> None:
    from batchcost.lifecycle.waves import wait_job

    job = ledger_job(ledger, job_id)

    def show(summary: dict) -> None:
        t = summary["total"]
        waves = ", ".join(f"{w['wave']}: {w['status']}" for w in summary["batches"])
        _say(f"job {job_id}: {t['completed']:,}/{t['requests']:,} completed, {t['failed']:,} failed ({waves})")

    subs = wait_job(job, client, ledger, poll_interval=poll_interval, timeout=timeout, on_change=show, on_step=_say)
    data = {**_job_record(job, subs, ledger), **(extra or {})}
    _emit(fmt, data, _job_text(data))
    unhappy = [s for s in subs if s.status != "completed"]
    if unhappy:
        raise RemoteError(f"job {job_id}: {len(unhappy)} of {len(subs)} wave(s) did not complete ("
                          + ", ".join(f"wave {s.wave} {s.status or s.state}" for s in unhappy)
                          + f"); completed lines are billed and can be downloaded with `batchcost download {job_id} "
                            "--out DIR`")


def cost_so_far(batch: dict, model: str | None, prices=None):
    """What a batch has cost so far, from the usage its batch object reports, at the batch tier of its model (the
    approved one, else the batch's own); None when it reports no usage or the model is not known."""
    from batchcost.lifecycle.spend import usage_cost
    from batchcost.pricing.tables import load_prices

    usage = providers.for_batch(batch.get("id") or "", batch.get("endpoint")).batch_usage(batch)
    model = model or batch.get("model")
    if usage is None or not model:
        return None
    return usage_cost(prices or load_prices([]), model, usage)


def is_job(name: str | None) -> bool:
    return name is not None and name.startswith("job-")


def job_client(ledger, job_id: str, base_url: str | None, max_retries: int, options: ReadOptions = PLAIN):
    """The client of a job's provider (--provider, else the one whose request kind the ledger recorded for its
    waves) and its approved model."""
    subs = ledger.job_waves(ledger_job(ledger, job_id))
    if not subs:
        raise UsageError(f"job {job_id} has no waves in the ledger")
    spread = {s.provider for s in subs}
    if len(spread) > 1 and options.provider is None:  # its waves went to several providers: each one's client
        from batchcost.lifecycle.waves import ProviderClients

        return ProviderClients(lambda name: providers.get(name).client(max_retries=max_retries)), None
    provider = providers.get(options.provider) if options.provider else \
        providers.for_batch(subs[0].batch_id or "", subs[0].endpoint, subs[0].provider)
    return provider.client(base_url=base_url or subs[0].base_url, max_retries=max_retries), subs[0].model


def ledger_job(ledger, job_id: str):
    job = ledger.job(job_id)
    if job is None:
        raise UsageError(f"no job {job_id} in the ledger (`batchcost status` lists them)")
    return job


def _job_record(job, subs, ledger) -> dict:
    from batchcost.lifecycle.waves import job_summary

    summary = job_summary(subs, ledger)
    return {"job": job.job_id, "plan": subs[0].plan_path if subs else None, "plan_sha256": job.plan_sha256,
            "max_enqueued_tokens": job.max_enqueued_tokens, "stop_on_failure": bool(job.stop_on_failure),
            **summary}  # DESIGN.md: {"job": id, "batches": [{"id", "wave", "status", ...}], ...}


def _job_text(data: dict) -> str:
    t = data["total"]
    lines = [f"job {data['job']}  {data['plan']}  {t['completed']:,}/{t['requests']:,} completed, "
             f"{t['failed']:,} failed"]
    for w in data["batches"]:
        lines.append(f"  wave {w['wave']}: {w['id'] or '(not created)':<30} {w['status']:<11} "
                     f"{w['completed']:,}/{w['requests']:,} completed, {w['failed']:,} failed")
    return "\n".join(lines)


def _approved_model(record: dict, options: ReadOptions) -> str | None:
    """The model the approval was estimated for, for plans whose lines name none (Gemini: the batch's model). A
    different ``--model`` would submit another model's cost under this approval: refused (exit 3)."""
    models = (record.get("plan") or {}).get("models") or []
    chosen = options.model
    if chosen is not None and models and chosen not in models:
        raise BudgetExceeded(f"the approval is for {', '.join(models)}, not --model {chosen}: approve the plan for "
                             f"{chosen} first")
    return models[0] if len(models) == 1 else None


def _confirm_without_approval(plan: Path, budget: str | None, prices, options: ReadOptions) -> dict:
    from batchcost.estimation.estimate import estimate_plan, priced
    from batchcost.pricing.cost import display_money
    from batchcost.pricing.tables import load_prices

    limit = parse_budget(budget, BudgetExceeded)
    if limit is None:
        raise BudgetExceeded("--yes without an approval needs --budget")
    if not sys.stdin.isatty():
        raise BudgetExceeded("--yes without an approval needs a confirmation typed at a terminal; use "
                             "`batchcost approve` in scripts")
    estimate = estimate_plan(plan, load_prices(prices or []), options=options)
    estimate.check_budget(limit)
    answer = input(f"Submit {plan} ({estimate.plan['requests']:,} requests, batch up to "
                   f"{display_money(priced(estimate.cost, 'batch')['high'])}, budget {display_money(limit)})? "
                   "Type yes to submit: ")
    if answer.strip().lower() != "yes":
        raise BudgetExceeded("not confirmed; nothing was submitted")
    return {"confirmed_at_terminal": True, "budget": str(limit), "plan": estimate.plan}


def _wait_and_report(batch_id: str, client, ledger, poll_interval: float, fmt: Fmt, timeout=None) -> dict:
    from batchcost.cli.progress import batch_progress
    from batchcost.lifecycle.waves import wait_batch

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
    ctx: typer.Context,
    batch_id: str = typer.Argument(..., metavar="BATCH_ID|JOB_ID"),
    poll_interval: float = typer.Option(30.0, "--poll-interval", metavar="SECONDS",
                                        help="First wait between polls (backs off to 5 minutes)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", metavar="SECONDS", help="Give up (exit 4) after this."),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Follow BATCH_ID (or every wave of a job ID, creating held waves as the queue makes room) to the end.
    Exit 0 when completed, 4 when it failed, expired or was cancelled (completed lines can still be downloaded)."""
    check_positive(poll_interval, "--poll-interval")
    check_positive(timeout, "--timeout")
    ledger = _ledger()
    if is_job(batch_id):
        client, _ = job_client(ledger, batch_id, base_url, max_retries, options=reading(ctx))
        _wait_job_and_report(batch_id, client, ledger, poll_interval, fmt, timeout)
        return
    client = batch_client(base_url, max_retries, batch_id=batch_id, ledger=ledger, options=reading(ctx))
    _wait_and_report(batch_id, client, ledger, poll_interval, fmt, timeout)


@app.command()
def status(
    ctx: typer.Context,
    batch_id: Optional[str] = typer.Argument(None, metavar="[BATCH_ID|JOB_ID]"),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """The status of BATCH_ID (and its history in the ledger), or of every submission in the ledger."""
    ledger = _ledger()
    if batch_id is None:
        subs = ledger.all_submissions()
        rows = [{"batch_id": s.batch_id, "plan": s.plan_path, "wave": s.wave, "waves": s.waves, "state": s.state,
                 "status": s.status, "requests": s.requests, "updated_at": s.updated_at} for s in subs]
        _emit(fmt, rows, "\n".join(f"{s.batch_id or '(not created)'}  {s.status or s.state:<11} "
                                   f"{s.requests:,} requests  {s.plan_path} wave {s.wave}/{s.waves}" for s in subs)
              or "no submissions in the ledger")
        return
    if is_job(batch_id):
        from batchcost.lifecycle.waves import client_for
        from batchcost.pricing.tables import load_prices

        job = ledger_job(ledger, batch_id)
        client, _ = job_client(ledger, batch_id, base_url, max_retries, options=reading(ctx))

        spent, table = {}, load_prices([])  # the price tables read once for every wave
        for sub in ledger.job_waves(job):  # what each wave's batch says now, and what it has cost so far
            if sub.state == "created":
                batch = remote_batch(client_for(client, sub).retrieve(sub.remote_id),
                                     f"retrieving batch {sub.batch_id}")
                ledger.record_status(batch)
                spent[sub.wave] = cost_so_far(batch, sub.model, table)
        data = _job_record(job, ledger.job_waves(job), ledger)
        from batchcost.pricing.cost import display_money, money

        for wave in data["batches"]:
            if spent.get(wave["wave"]) is not None:
                wave["cost_so_far"] = money(spent[wave["wave"]])
        known = [v for v in spent.values() if v is not None]
        text = _job_text(data)
        if known and len(known) == len(spent):  # every created wave reports usage: the job's cost so far
            data["total"]["cost_so_far"] = money(sum(known))
            text += f"\n  cost so far {display_money(sum(known))} (the batches' reported usage at batch prices)"
        _emit(fmt, data, text)
        return
    batch = remote_batch(one_client(ctx, base_url, max_retries, batch_id, ledger).retrieve(batch_id),
                         f"retrieving batch {batch_id}")
    ledger.record_status(batch)
    history = ledger.history(batch_id)
    sub = ledger.by_batch(batch_id)
    spent = cost_so_far(batch, sub.model if sub is not None else None)
    if spent is not None:
        from batchcost.pricing.cost import display_money, money

        batch = {**batch, "cost_so_far": money(spent)}
        history_text = f"\n  cost so far {display_money(spent)} (the batch's reported usage at batch prices)"
    else:
        history_text = ""
    _emit(fmt, {"batch": batch, "history": history, "downloads": ledger.downloads(batch_id)},
          _batch_line(batch) + "".join(f"\n  {h['at']}  {h['status']}" for h in history) + history_text)


@app.command()
def download(
    ctx: typer.Context,
    batch_id: str = typer.Argument(..., metavar="BATCH_ID|JOB_ID"),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder for BATCH_ID_output.jsonl and _error.jsonl."),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Download the output and error files of a finished batch (also a failed, expired or cancelled one: its
    completed lines are billed). Files are written whole then renamed; downloading again is safe."""
    from batchcost.cli.options import guard
    from batchcost.lifecycle.waves import client_for, download_batch

    guard(folders=[out])  # refused before any key is needed or anything is fetched
    ledger = _ledger()
    if is_job(batch_id):
        client, _ = job_client(ledger, batch_id, base_url, max_retries, options=reading(ctx))
        files = [f for sub in ledger.job_waves(ledger_job(ledger, batch_id)) if sub.batch_id
                 for f in download_batch(sub.batch_id, out, client_for(client, sub), ledger)]
    else:
        files = download_batch(batch_id, out, one_client(ctx, base_url, max_retries, batch_id, ledger),
                               ledger)
    _emit(fmt, files, "\n".join(f"{f['path']}  ({f['bytes']:,} bytes, {f['kind']})" for f in files)
          or f"batch {batch_id} has no result files")


@app.command()
def cancel(
    ctx: typer.Context,
    batch_id: str = typer.Argument(..., metavar="BATCH_ID|JOB_ID"),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """Cancel BATCH_ID (or a job's unfinished waves; its held waves are never created). Lines completed before
    the cancel are still delivered and billed."""
    ledger = _ledger()
    if is_job(batch_id):
        from batchcost.lifecycle.waves import cancel_job

        job = ledger_job(ledger, batch_id)
        client, _ = job_client(ledger, batch_id, base_url, max_retries, options=reading(ctx))
        data = _job_record(job, cancel_job(job, client, ledger), ledger)
        _emit(fmt, data, _job_text(data))
        return
    batch = remote_batch(one_client(ctx, base_url, max_retries, batch_id, ledger).cancel(batch_id),
                         f"cancelling batch {batch_id}")
    ledger.record_status(batch)
    _emit(fmt, batch, _batch_line(batch))


@app.command("list")
def list_batches(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", metavar="N", min=1, max=10_000),
    base_url: Optional[str] = BaseUrl,
    max_retries: int = MaxRetries,
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f"),
) -> None:
    """The account's most recent batches; those batchcost submitted are marked with *."""
    ledger = _ledger()
    batches = batch_client(base_url, max_retries, options=reading(ctx)).list(limit)
    mine = {b["id"] for b in batches if ledger.by_batch(b["id"])}
    _emit(fmt, [{**b, "batchcost": b["id"] in mine} for b in batches],
          "\n".join(("* " if b["id"] in mine else "  ") + _batch_line(b) for b in batches) or "no batches")
