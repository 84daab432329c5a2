"""How a plan is read, said once and passed along: to the reader, the counters and every worker (a process, a Dask
task). Nothing of it lives in a process global, so the library and the command line read the same plan the same
way, and a worker on another machine is told, not left to guess."""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ReadOptions:
    """``provider``: every line must have this provider's shape (``--provider``; else each line's own shape, one
    provider a plan). ``model``: the batch's model, for line shapes that name none (``--model``: Gemini, Vertex)."""

    provider: str | None = None
    model: str | None = None

    def with_model(self, model: str | None) -> ReadOptions:
        """These options with ``model`` as the batch's model, unless one is already said (``--model`` wins over a
        template's or an approval's)."""
        return self if self.model is not None or model is None else replace(self, model=model)


PLAIN = ReadOptions()  # every line read by its own shape; no batch model
