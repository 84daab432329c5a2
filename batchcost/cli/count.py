"""`batchcost count PLAN`: input tokens per request, exactly as the API will bill them."""
from __future__ import annotations

import csv
import enum
import json
import sys
from pathlib import Path

import typer

from batchcost.cli.app import app
from batchcost.cli.options import parse_image_size
from batchcost.estimator.plan_counts import count_plan


def _non_empty(plan: Path, records):
    """Pass records through; an empty plan is an error (exit 1), not a silent zero."""
    from batchcost.errors import BadInput

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
    plan: Path = typer.Argument(..., metavar="PLAN", help="The Batch API input file (JSONL, one request per line)."),
    fmt: CountFormat = typer.Option(CountFormat.table, "--format", "-f", help="table (with totals), jsonl or csv."),
    encoding: str = typer.Option(None, "--encoding", help="Force an encoding (o200k_base, cl100k_base, "
                                 "o200k_harmony) for a model outside the registry."),
    image_size: str = typer.Option(None, "--image-size", metavar="WxH",
                                   help="Assume this size for images that cannot be read offline (remote URLs). "
                                   "Default: the model's maximum per image, the safe figure."),
    limit: int = typer.Option(20, "--limit", min=0, help="Rows shown per request in the table (totals cover all)."),
) -> None:
    """Count the input tokens of every request in PLAN, streaming the file.

    input_tokens equals usage.prompt_tokens (usage.input_tokens for /v1/responses) as the API reports it;
    max_output_tokens is the request's own bound times n, or null when it sets none.
    """
    records = _non_empty(plan, count_plan(plan, encoding=encoding, assume_image_size=parse_image_size(image_size)))
    if fmt is CountFormat.jsonl:
        for record in records:
            sys.stdout.write(json.dumps(record.contract(), ensure_ascii=False) + "\n")
    elif fmt is CountFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["line", "custom_id", "model", "endpoint", "input_tokens", "max_output_tokens",
                         "approximate"])
        for r in records:
            writer.writerow([r.line, r.custom_id, r.model, r.endpoint, r.input_tokens,
                             "" if r.max_output_tokens is None else r.max_output_tokens, r.approximate])
    else:
        from batchcost.cli.render import print_count_table

        print_count_table(plan, records, limit=limit)
