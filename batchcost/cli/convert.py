"""`batchcost convert PLAN --to PROVIDER --model MODEL -o OUT`: the same workload as another provider's plan."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from batchcost.cli.app import app


@app.command()
def convert(
    ctx: typer.Context,
    plan: Path = typer.Argument(..., metavar="PLAN", help="The plan to translate (JSONL, any provider's shape)."),
    to: str = typer.Option(..., "--to", metavar="PROVIDER", help="The provider whose line shape to write."),
    model: str = typer.Option(..., "--model", "-m", metavar="MODEL",
                              help="The target provider's model every request goes to."),
    out: Path = typer.Option(..., "--output", "-o", metavar="FILE", help="Where the converted plan is written."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json (the summary)."),
) -> None:
    """Write PLAN's workload as a plan for another provider: system text, turns, images and PDFs, tool definitions,
    tool calls and results, tool choice, a JSON schema for the answer, the output bound and sampling carry over.
    What has no place in the other API is listed (with the first lines it applies to); the file is written whole
    or not at all."""
    from batchcost import providers
    from batchcost.cli.options import guard, reading
    from batchcost.core.errors import UsageError
    from batchcost.plans.convert import convert_plan

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be table or json, not {fmt!r}")
    providers.get(to)  # an unknown provider is a usage error before anything is read
    guard(inputs=[plan], outputs=[out])
    from dataclasses import replace

    options = reading(ctx)  # a Gemini or Vertex source names no model: its lines are read as the target's
    summary = convert_plan(plan, out, to, model, options=replace(options, model=options.model or model))
    if fmt == "json":
        print(json.dumps(summary.as_dict()))
    else:
        typer.echo(f"{summary.requests:,} request{'s' if summary.requests != 1 else ''} from {summary.source} "
                   f"written for {summary.target} ({summary.model}) to {out}")
    for line in summary.warnings():
        typer.echo(f"warning: {line}", err=True)
