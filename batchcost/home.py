"""Where batchcost keeps its state: BATCHCOST_HOME (default ~/.batchcost)."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("BATCHCOST_HOME") or Path.home() / ".batchcost")
    path.mkdir(parents=True, exist_ok=True)
    return path
