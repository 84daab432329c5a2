"""The same workload for another provider: each plan line read as the neutral work it asks for (its provider's
``to_work``) and written in the other provider's line shape (``from_work``), saying what does not translate."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from batchcost import providers
from batchcost.core.atomic import atomic_writer
from batchcost.core.errors import BatchcostError, PlanError, UsageError
from batchcost.core.inputs import json_line
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine
from batchcost.plans.reader import read_plan


@dataclass
class Conversion:
    """What ``convert`` did: requests written, the providers, and what did not translate (reason -> the lines)."""

    source: str = ""
    target: str = ""
    model: str = ""
    requests: int = 0
    lost: dict[str, list[int]] = field(default_factory=dict)

    def warnings(self, first: int = 3) -> list[str]:
        out = []
        for reason, lines in sorted(self.lost.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            shown = ", ".join(str(n) for n in lines[:first]) + (", ..." if len(lines) > first else "")
            out.append(f"not translated: {reason} ({len(lines):,} request{'s' if len(lines) != 1 else ''}; "
                       f"line{'s' if len(lines) != 1 else ''} {shown})")
        return out

    def as_dict(self) -> dict:
        return {"from": self.source, "to": self.target, "model": self.model, "requests": self.requests,
                "not_translated": {reason: len(lines) for reason, lines in sorted(self.lost.items())}}


def translated_lines(path: Path, target: str, model: str, options: ReadOptions = PLAIN,
                     summary: Conversion | None = None) -> Iterator[tuple[PlanLine, dict]]:
    """Each plan line with the line the target provider takes for the same work on ``model``."""
    writer = providers.get(target)
    for item in read_plan(path, options=options):
        source = providers.get(item.provider)
        try:
            work = source.to_work(item)
            endpoint, body = writer.from_work(work, model)
        except BatchcostError as exc:
            if exc.path is None:
                raise type(exc)(exc.message, path=path, line=item.line) from None
            raise
        if summary is not None:
            summary.source = summary.source or item.provider
            summary.requests += 1
            for reason in work.lost or ():
                summary.lost.setdefault(reason, []).append(item.line)
        yield item, writer.line(item.custom_id if source.id_field else f"line-{item.line}", endpoint, body)


def convert_plan(path: str | Path, out: str | Path, target: str, model: str,
                 options: ReadOptions = PLAIN) -> Conversion:
    """Write ``path``'s workload as a plan for ``target`` on ``model`` to ``out`` (whole, then renamed)."""
    path = Path(path)
    owner = providers.get(target)
    summary = Conversion(target=target, model=model)
    with atomic_writer(out, "wb", what="converted plan") as fh:  # a refusal inside leaves nothing written
        for _, line in translated_lines(path, target, model, options, summary):
            if summary.source == target:
                raise UsageError(f"the plan is already {owner.title.removeprefix('a ').removeprefix('an ')} plan")
            fh.write(json_line(line) + b"\n")
        if not summary.requests:
            raise PlanError("the plan has no requests to convert", path=path)
    return summary
