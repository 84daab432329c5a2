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
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", metavar="N", min=1, max=1024, help="Render partitions in "
                                                                                                "N processes."),
    engine: str = typer.Option("local", "--engine", metavar="local|dask", help="dask: render partitions on a Dask "
                               "cluster (the dataset and the output folder must be visible to every worker)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="ADDRESS", help="With --engine dask."),
) -> None:
    """Render every record of DATASET through TEMPLATE into a Batch API plan, written whole or not at all.

    Values are substituted as text inside JSON strings, so quotes, newlines, emoji and JSON-looking text survive
    exactly. Literal braces are {{ and }}. {_row} is the record number. For embeddings, `chunk: {max_tokens: N,
    overlap: M}` splits long texts by tokens and the custom_ids become {id}-{k}.
    """
    from batchcost.cli.options import check_jobs, guard
    from batchcost.plans.build import build_plan
    from batchcost.plans.templates import load_template

    check_jobs(jobs)
    guard(inputs=[dataset, template], outputs=[] if split else [out])
    if engine not in ("local", "dask"):
        from batchcost.core.errors import UsageError

        raise UsageError("--engine must be local or dask")
    if engine == "dask" or (jobs or 1) > 1:
        from batchcost.core import workers
        from batchcost.plans.distributed import build_plan_in_parts

        runner = workers.dask_map(scheduler, n_workers=jobs or 2) if engine == "dask" else None
        built = build_plan_in_parts(dataset, template, out, model=model, jobs=jobs or 2, map_parts=runner,
                                    split=split)
    else:
        built = build_plan(dataset, template, out, model=model, split=split)
    project = load_template(template, model=model).project
    if project:  # `approve` books these plans to the template's project unless told otherwise
        from batchcost.lifecycle.ledger import Ledger
        from batchcost.plans.reader import plan_sha256

        Ledger().set_plan_project([plan_sha256(p) for p in built.paths], project, str(template))
    for path in built.paths:
        print(path)
    print(f"wrote {built.requests:,} requests, {built.nbytes:,} bytes in {len(built.paths)} file(s)"
          + (f"; over one batch's limits, it is one job of {built.waves} waves: approve it once, and `batchcost "
             f"submit` sends the waves in order" if built.waves > 1 and len(built.paths) == 1 else ""),
          file=sys.stderr)
    if built.skipped:
        print(f"warning: {len(built.skipped)} record(s) had an empty input and were skipped "
              f"(first: {built.skipped[0]})", file=sys.stderr)
