"""`batchcost count PLAN`: input tokens per request, exactly as the API will bill them."""
from __future__ import annotations

import csv
import enum
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app
from batchcost.cli.options import parse_image_size
from batchcost.plans.counts import count_plan


def _non_empty(plan: Path, records):
    """Pass records through; an empty plan is an error (exit 1), not a silent zero."""
    from batchcost.core.errors import BadInput

    seen = False
    for record in records:
        seen = True
        yield record
    if not seen:
        raise BadInput("the plan has no requests", path=plan)


class CountFormat(str, enum.Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


@app.command()
def count(
    ctx: typer.Context,
    plans: list[Path] = typer.Argument(..., metavar="PLAN...", help="The Batch API input file (JSONL, one request per "
                                                                    "line). Several plan files, or a folder of waves, "
                                                                    "are one job."),
    fmt: CountFormat = typer.Option(CountFormat.table, "--format", "-f", help="table (with totals), jsonl or csv."),
    encoding: str = typer.Option(None, "--encoding", help="Force an encoding (o200k_base, cl100k_base, "
                                 "o200k_harmony) for a model outside the registry."),
    image_size: str = typer.Option(None, "--image-size", metavar="WxH",
                                   help="Assume this size for images that cannot be read offline (remote URLs). "
                                   "Default: the model's maximum per image, the safe figure."),
    limit: int = typer.Option(20, "--limit", min=0, help="Rows shown per request in the table (totals cover all)."),
    online: bool = typer.Option(False, "--online", help="Ask the provider's free token-counting endpoint for "
                                "exact counts (Anthropic: messages.count_tokens; needs its API key). Identical "
                                "requests are asked once. Nothing is sent without this flag."),
    sample: Optional[str] = typer.Option(None, "--sample", metavar="N|P%", help="With --online: ask for a uniform "
                                         "random sample of N requests (or P%); the others keep their offline "
                                         "counts, and the total gets a 95% interval."),
    seed: Optional[int] = typer.Option(None, "--seed", help="With --sample: the random seed (repeatable runs)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="With --online: the provider's API base URL "
                                           "(default: its *_BASE_URL variable, else the public API)."),
) -> None:
    """Count the input tokens of every request in PLAN, streaming the file.

    input_tokens equals usage.prompt_tokens (usage.input_tokens for /v1/responses) as the API reports it;
    max_output_tokens is the request's own bound times n, or null when it sets none. Claude counts are an
    approximation with a stated band (input_tokens_low / input_tokens_high) unless --online.
    """
    from batchcost.cli.options import count_corrections, one_plan, reading

    plan = one_plan(plans, dataset=False)
    options = reading(ctx)
    size = parse_image_size(image_size)
    if sample is not None and not online:
        from batchcost.core.errors import UsageError

        raise UsageError("count --sample needs --online (estimate --sample estimates from a sample offline)")
    if online:
        from batchcost.cli.progress import count_progress
        from batchcost.estimation.online import OnlineCounts, count_plan_online

        verifier = OnlineCounts(base_url=base_url)
        with count_progress(plan, "Counting online") as progress:
            stream = count_plan_online(plan, verifier, sample=sample, seed=seed, encoding=encoding,
                                       assume_image_size=size, progress=progress, options=options,
                                       corrections=count_corrections)
            _emit(plan, _non_empty(plan, stream), fmt, limit, lambda: _online_lines(verifier, sample))
        return
    records = _non_empty(plan, count_plan(plan, encoding=encoding, assume_image_size=size, options=options,
                                          corrections=count_corrections))
    _emit(plan, records, fmt, limit, None)


def _online_lines(verifier, sample) -> list[str]:
    lines = [verifier.summary() + "."]
    if sample is not None:
        total = verifier.total()
        if total["confidence"] is None:
            lines.append(f"The sample covers all {total['requests']:,} requests: the total, {total['estimate']:,} "
                         "input tokens, is exact.")
        else:
            lines.append(f"Verified {total['sampled']:,} of {total['requests']:,} requests online; the plan's input "
                         f"total as the provider counts it: {total['estimate']:,} ({total['low']:,} to "
                         f"{total['high']:,}, 95% interval; online / offline ratio {total['ratio']}).")
    return lines


def _emit(plan: Path, records, fmt: CountFormat, limit: int, after) -> None:
    from batchcost.core.errors import origin
    from batchcost.plans.jobs import files_of

    job = bool(files_of(plan))  # a job of several files: each record names its file and its line there
    if fmt is CountFormat.jsonl:
        for record in records:
            row = record.contract()
            if job:
                source, row["line"] = origin(str(plan), record.line)
                row = {"file": source, **row}
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt is CountFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow((["file"] if job else []) + ["line", "custom_id", "model", "endpoint", "input_tokens",
                                                     "max_output_tokens", "approximate"])
        for r in records:
            where = list(origin(str(plan), r.line)) if job else [r.line]
            writer.writerow(where + [r.custom_id, r.model, r.endpoint, r.input_tokens,
                                     "" if r.max_output_tokens is None else r.max_output_tokens, r.approximate])
    else:
        from batchcost.cli.render import print_count_table

        print_count_table(plan, records, limit=limit, after=after)
        return
    if after is not None:
        for line in after():
            print(line, file=sys.stderr)
