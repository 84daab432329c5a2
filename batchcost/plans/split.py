"""Split a plan into waves that each respect the Batch API's file limits and an optional token cap.

One model per file, custom_ids and order kept; the line text is copied byte for byte. All files are written
into a staging folder and moved into place only when every wave is complete: whole or not at all.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from batchcost.core.atomic import check_output, check_output_dir, place, signals_held
from batchcost.core.errors import BadInput, UsageError
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.plans.counts import PlanCounter
from batchcost.plans.reader import read_plan


@dataclass
class Wave:
    path: Path
    model: str
    requests: int = 0
    nbytes: int = 0
    input_tokens: int = 0
    output_bound: int = 0
    kind: str = ""  # the model's kind (chat, image, video, ...), for pricing the wave
    custom_ids: list[str] = field(default_factory=list, repr=False)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def split_plan(path: str | Path, out_dir: str | Path, *, max_requests: int | None = None,
               max_bytes: int | None = None, max_enqueued_tokens: int | None = None,
               encoding: str | None = None, options: ReadOptions = PLAIN) -> list[Wave]:
    """Write the waves into ``out_dir`` and return them in the order they should be submitted. The limits default
    to (and may not exceed) the plan's provider's batch limits."""
    from batchcost import providers
    from batchcost.plans.reader import plan_provider

    path, out_dir = Path(path), Path(out_dir)
    bounds = providers.get(plan_provider(path, options)).limits()
    max_requests = bounds.max_requests if max_requests is None else max_requests
    max_bytes = bounds.max_bytes if max_bytes is None else max_bytes
    if not 0 < max_requests <= bounds.max_requests:
        raise UsageError(f"--max-requests must be between 1 and {bounds.max_requests:,}")
    if not 0 < max_bytes <= bounds.max_bytes:
        raise UsageError(f"--max-bytes must be between 1 and {bounds.max_bytes:,}")
    if max_enqueued_tokens is not None:
        from batchcost.core.settings import check_cap

        check_cap(max_enqueued_tokens, "--max-enqueued-tokens")
    check_output_dir(out_dir, what="wave folder")
    staging = None
    counter = PlanCounter(encoding=encoding, base_dir=path.parent)
    open_waves: dict[str, tuple[Wave, BinaryIO]] = {}
    per_model_index: dict[str, int] = {}
    waves: list[Wave] = []
    stem = _safe(path.stem)
    try:
        with signals_held():  # the staging folder exists only inside this try, which removes it
            staging = Path(tempfile.mkdtemp(prefix=".batchcost-split-", dir=out_dir))
        for item in read_plan(path, options=options):
            counted = counter.count_line(item, path)
            size = len(item.raw) + 1
            if size > max_bytes:
                raise BadInput(f"one request is {size:,} bytes, more than --max-bytes {max_bytes:,}",
                               path=path, line=item.line)
            if max_enqueued_tokens is not None and counted.input_tokens > max_enqueued_tokens:
                raise BadInput(f"one request has {counted.input_tokens:,} input tokens, more than "
                               f"--max-enqueued-tokens {max_enqueued_tokens:,}", path=path, line=item.line)
            current = open_waves.get(item.model)
            if current is not None:
                wave, _ = current
                full = (wave.requests + 1 > max_requests or wave.nbytes + size > max_bytes
                        or (max_enqueued_tokens is not None
                            and wave.input_tokens + counted.input_tokens > max_enqueued_tokens))
                if full:
                    current[1].close()
                    current = None
            if current is None:
                per_model_index[item.model] = per_model_index.get(item.model, 0) + 1
                name = f"{stem}.{_safe(item.model)}.wave-{per_model_index[item.model]:03d}.jsonl"
                wave = Wave(path=out_dir / name, model=item.model,
                            kind=counter.model_info(item.model, item.provider).kind)
                check_output(wave.path, what="wave")  # refuse before the work, not after
                waves.append(wave)
                current = (wave, (staging / name).open("wb"))
                open_waves[item.model] = current
            wave, fh = current
            fh.write(item.raw + b"\n")
            wave.requests += 1
            wave.nbytes += size
            wave.input_tokens += counted.input_tokens
            bound = counted.max_output_tokens
            if bound is None:
                bound = counter.model_info(item.model, item.provider).max_output_tokens or 0
            wave.output_bound += bound
        for _, fh in open_waves.values():
            fh.close()
        if not waves:
            raise BadInput("the plan has no requests", path=path)
        for wave in waves:  # every wave is complete: move them into place
            place(staging / wave.path.name, wave.path, what="wave")
    finally:
        for _, fh in open_waves.values():
            fh.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return waves
