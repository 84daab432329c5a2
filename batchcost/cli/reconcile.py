"""`batchcost reconcile`: actual usage and cost against the estimate, a retry plan, and calibration."""
from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.estimate import PRICES_HELP
from batchcost.core.errors import BadInput, UsageError
from batchcost.core.options import PLAIN, ReadOptions


class Fmt(str, enum.Enum):
    table = "table"
    json = "json"


@app.command()
def reconcile(
    ctx: typer.Context,
    plans: Optional[list[Path]] = typer.Argument(None, metavar="[PLAN...]", help="The plan that was submitted (the "
                                                 "files of a job of several, in order, or its folder of waves)."),
    results: Optional[Path] = typer.Option(None, "--results", metavar="OUTPUT.jsonl", help="The batch output file."),
    errors: Optional[Path] = typer.Option(None, "--errors", metavar="ERRORS.jsonl", help="The batch error file."),
    estimate: Optional[Path] = typer.Option(None, "--estimate", metavar="ESTIMATE.json",
                                            help="The estimate made before (its output basis is reused; it must be "
                                            "for this plan)."),
    batch: Optional[str] = typer.Option(None, "--batch", metavar="BATCH_ID",
                                        help="Reconcile a batch from the ledger: downloads its files first."),
    job: Optional[str] = typer.Option(None, "--job", metavar="JOB_ID",
                                      help="Reconcile every wave of a job (from `submit`) into one result: their "
                                           "files are downloaded and joined to the job's plan."),
    prices: Optional[list[Path]] = typer.Option(None, "--prices", metavar="FILE", help=PRICES_HELP),
    retry_file: Optional[Path] = typer.Option(None, "--retry-file", metavar="RETRY.jsonl",
                                              help="Write the plan lines of failed, expired and missing requests."),
    report: Optional[Path] = typer.Option(None, "--report", metavar="DIR", help="Write reconcile.html/.md/.json "
                                          "with charts."),
    no_calibrate: bool = typer.Option(False, "--no-calibrate", help="Do not record output lengths for calibration."),
    prices_at: Optional[str] = typer.Option(None, "--prices-at", metavar="YYYY-MM-DD",
                                            help="Price the results as of this date (default: the day the batch "
                                            "was created, from the ledger, with --batch; else today)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", metavar="URL", help="With --batch: the API base URL."),
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f", help="table or json."),
) -> None:
    """What the batch really cost and why it differed from the estimate.

    Joins plan, output and error lines on custom_id; actual cost is the succeeded lines at the batch prices
    (uncached input, cached input and output each at its own rate); the estimate is recomputed for the same lines.
    Malformed, unknown or duplicate result lines are listed (exit 1) while the rest is still reconciled. Every run
    records output lengths and cache hits, so `estimate --output-tokens calibrated` improves."""
    from batchcost.cli.options import one_plan, reading
    from batchcost.lifecycle.reconcile import reconcile as run
    from batchcost.pricing.tables import load_prices

    plan = one_plan(plans) if plans else None
    options = reading(ctx)

    from batchcost.cli.prices import parse_date

    on = parse_date(prices_at, "--prices-at")
    reported_usage = None
    if job is not None:
        if batch is not None or results is not None or errors is not None:
            raise UsageError("--job takes the results from the ledger: drop --batch, --results and --errors")
        plan, results, errors, created, reported_usage, model = _job_from_ledger(job, base_url, plan, options)
        options = options.with_model(model)  # the approved model, for plan lines that name none (Gemini)
        on = on or created
        batch = job
    elif batch is not None:
        plan, results, errors, created, reported_usage, model = _from_ledger(batch, base_url, plan, options)
        options = options.with_model(model)
        on = on or created
    if plan is None or (results is None and errors is None and batch is None):
        raise UsageError("give PLAN with --results (and --errors), or --batch BATCH_ID")
    # --batch of a batch that delivered no file (cancelled or expired before it ran): every request is missing
    from batchcost.cli.options import guard

    guard(inputs=[plan, results, errors, estimate, prices or []], outputs=[retry_file])
    if report is not None:
        from batchcost.reports.reconcile_report import REPORT_FILES

        guard(outputs=[report / name for name in REPORT_FILES])
    r = run(plan, results, load_prices(prices or [], at=on), errors=errors, estimate_json=estimate,
            retry_file=retry_file, calibrate=not no_calibrate, options=options)
    if reported_usage:  # --batch / --job: the batch objects' own totals against the lines, where they report any
        from batchcost.lifecycle.reconcile import usage_crosscheck

        r.explanations.append(usage_crosscheck(reported_usage, r.actual))
    if on is not None:
        r.prices_at = on.isoformat()
    if r.plan.get("sha256"):  # the team's record of spend (`batchcost spend`): the latest reconcile counts
        from batchcost.lifecycle.ledger import Ledger

        Ledger().add_reconciliation(r.plan["sha256"], batch or "results", r.actual["cost"],
                                    r.estimated["cost"]["expected"], r.counts.get("succeeded", 0))
    if report is not None:
        from batchcost.reports.reconcile_report import write_reconcile_report

        write_reconcile_report(r, report)
    if fmt is Fmt.json:
        sys.stdout.write(json.dumps(r.as_dict(), indent=2) + "\n")
    else:
        _print(r)
    if r.issues:
        first = r.issues[0]
        more = f" (and {len(r.issues) - 1} more line(s), listed in the output)" if len(r.issues) > 1 else ""
        raise BadInput(f"{first.message}{more}; the other lines were reconciled", path=first.path, line=first.line)


def _from_ledger(batch_id: str, base_url: str | None, plan: Path | None, options: ReadOptions = PLAIN):
    from batchcost.cli.batch import batch_client
    from batchcost.core.home import home
    from batchcost.lifecycle.ledger import Ledger
    from batchcost.lifecycle.waves import fetch_batch, file_stem

    ledger = Ledger()
    sub = ledger.by_batch(batch_id)
    if sub is None:
        raise BadInput(f"batch {batch_id} is not in the ledger; pass PLAN --results FILE instead")
    # the batch's provider (--provider, else the one the ledger recorded)
    client = batch_client(base_url or sub.base_url, 5, batch_id=batch_id, ledger=ledger, options=options)
    batch, files = fetch_batch(batch_id, home() / "results" / file_stem(batch_id), client, ledger)
    kinds = {f["kind"]: Path(f["path"]) for f in files}
    import datetime as dt

    created = dt.datetime.fromisoformat(sub.created_at).date()  # the prices in force when it was submitted
    usage = _reported([batch], [sub.endpoint])
    return plan or Path(sub.wave_path), kinds.get("output"), kinds.get("error"), created, usage, sub.model


def _reported(batches: list[dict], endpoints: list[str]):
    """The usage the batch objects report, summed (a ``Usage``); None unless every one of them reports it."""
    from batchcost import providers
    from batchcost.core.records import Usage

    total = Usage(0, 0)
    for batch, endpoint in zip(batches, endpoints):
        usage = providers.for_batch(batch.get("id") or "", endpoint).batch_usage(batch)
        if usage is None:
            return None
        total = total + usage
    return total if batches else None


def _job_from_ledger(job_id: str, base_url: str | None, plan: Path | None, options: ReadOptions = PLAIN):
    """Every wave's files downloaded, then joined (output lines, error lines) into one pair under
    BATCHCOST_HOME/results/JOB, and the job's plan: PLAN if given (it must be the approved bytes), else the plan
    the job was submitted from."""
    import datetime as dt

    from batchcost.cli.batch import job_client, ledger_job
    from batchcost.core.atomic import atomic_writer
    from batchcost.core.home import home
    from batchcost.lifecycle.ledger import Ledger
    from batchcost.lifecycle.waves import client_for, fetch_batch
    from batchcost.plans.reader import plan_sha256

    ledger = Ledger()
    job = ledger_job(ledger, job_id)
    subs = ledger.job_waves(job)
    spread = list(dict.fromkeys(s.provider for s in subs if s.provider))
    if len(spread) > 1:  # each provider's results read by its own rules: one file and its wave at a time
        raise UsageError(f"job {job_id}'s waves went to {', '.join(spread)}: reconcile each file with its own "
                         "wave, " + "; ".join(f"batchcost reconcile {s.wave_path} --batch {s.batch_id}"
                                              for s in subs if s.batch_id))
    client, model = job_client(ledger, job_id, base_url, 5, options)
    source = plan or Path(subs[0].plan_path)
    if not source.is_file() or plan_sha256(source) != job.plan_sha256:
        raise BadInput(f"the plan job {job_id} was submitted from is not at {source} with the approved bytes; "
                       "pass it: batchcost reconcile PLAN --job ...", path=source)
    folder = home() / "results" / job_id
    joined: dict[str, list[Path]] = {"output": [], "error": []}
    seen, endpoints = [], []
    for sub in subs:
        if sub.batch_id:
            batch, files = fetch_batch(sub.batch_id, folder, client_for(client, sub), ledger)
            for f in files:
                joined[f["kind"]].append(Path(f["path"]))
            seen.append(batch)
            endpoints.append(sub.endpoint)
    paths = {}
    for kind, parts in joined.items():
        if not parts:
            continue
        paths[kind] = folder / f"{job_id}_{kind}.jsonl"
        with atomic_writer(paths[kind]) as out:
            for part in parts:
                with part.open("rb") as fh:
                    for raw in fh:
                        out.write(raw if raw.endswith(b"\n") else raw + b"\n")
    created = dt.datetime.fromisoformat(subs[0].created_at).date()
    return source, paths.get("output"), paths.get("error"), created, _reported(seen, endpoints), model


def _print(r) -> None:
    from decimal import Decimal

    from rich.console import Console
    from rich.table import Table

    from batchcost.lifecycle.reconcile import percent_note
    from batchcost.pricing.cost import display_money

    def usd(v):
        return display_money(None if v is None else Decimal(v))

    console = Console(highlight=False)
    c = r.counts
    console.print(f"[bold]Reconciliation[/bold] {r.plan['path']}: {c['planned']:,} planned · {c['succeeded']:,} "
                  f"succeeded · {c['failed']:,} failed · {c['expired']:,} expired · {c['missing']:,} missing")
    t = Table(title_justify="left")
    for name in ("", "estimated (expected)", "actual", "difference"):
        t.add_column(name, justify="right" if name else "left")
    t.add_row("input tokens", f"{r.estimated['input_tokens']:,}", f"{r.actual['input_tokens']:,}",
              f"{r.delta['input_tokens']:+,}")
    t.add_row("output tokens", f"{r.estimated['output_tokens']['expected']:,}", f"{r.actual['output_tokens']:,}",
              f"{r.delta['output_tokens']:+,}")
    t.add_row("batch cost", usd(r.estimated["cost"]["expected"]), usd(r.actual["cost"]),
              f"{usd(r.delta['cost'])}{percent_note(r.delta)}", style="bold")
    console.print(t)
    console.print(f"cached input tokens {r.actual['cached_input_tokens']:,} · reasoning tokens "
                  f"{r.actual['reasoning_tokens']:,} · estimated range {usd(r.estimated['cost']['low'])} – "
                  f"{usd(r.estimated['cost']['high'])}")
    for line in r.explanations:
        style = "bold red" if line.startswith("INPUT COUNT MISMATCH") else ""
        console.print(f"• {line}", style=style)
    for issue in r.issues:
        console.print(f"not reconciled: {issue.one_line()}", style="yellow")
    if r.retry:
        est = r.retry.get("estimate")
        console.print(f"retry plan: {r.retry['path']} ({r.retry['requests']:,} requests"
                      + (f", batch {usd(est['batch']['expected'])} expected, up to {usd(est['batch']['high'])})"
                         if est else ")"))
