"""`batchcost plan DATASET --template T -o PLAN`: a dataset and a prompt template become a batch plan."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from batchcost.cli.app import app


@app.command()
def plan(
    dataset: Path = typer.Argument(..., metavar="DATASET",
                                   help="CSV/TSV, JSONL, JSON, Parquet, or a folder of .txt/.md documents "
                                   "(fields: path, name, text)."),
    template: Path = typer.Option(..., "--template", "-t", metavar="TEMPLATE.yaml",
                                  help="endpoint, model, custom_id pattern and body with {column} placeholders."),
    out: Path = typer.Option(..., "--out", "-o", metavar="PLAN.jsonl", help="The plan file to write."),
    model: Optional[str] = typer.Option(None, "--model", help="Override the template's model."),
    split: bool = typer.Option(False, "--split", help="Write waves within the batch limits beside PLAN instead of "
                                                      "one file (PLAN.<model>.wave-001.jsonl, ...)."),
) -> None:
    """Render every record of DATASET through TEMPLATE into a Batch API plan, written whole or not at all.

    Values are substituted as text inside JSON strings, so quotes, newlines, emoji and JSON-looking text survive
    exactly. Literal braces are {{ and }}. {_row} is the record number. For embeddings, `chunk: {max_tokens: N,
    overlap: M}` splits long texts by tokens and the custom_ids become {id}-{k}.
    """
    from batchcost.plans.build import build_plan

    built = build_plan(dataset, template, out, model=model, split=split)
    for path in built.paths:
        print(path)
    print(f"{built.requests:,} requests, {built.nbytes:,} bytes in {len(built.paths)} file(s)", file=sys.stderr)
    if built.skipped:
        print(f"warning: {len(built.skipped)} record(s) had an empty input and were skipped "
              f"(first: {built.skipped[0]})", file=sys.stderr)
