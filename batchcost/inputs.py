"""Reading the user's input files, with every failure turned into a one-line error naming the file (and line)."""
from __future__ import annotations

from pathlib import Path

import yaml

from batchcost.errors import BatchcostError


def read_input_text(path: str | Path, error: type[BatchcostError], what: str) -> str:
    """The file's text (UTF-8, a BOM tolerated), or ``error`` saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"no such {what}", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {what}: {exc}", path=path) from None


def yaml_error(exc: yaml.YAMLError, path: str | Path, error: type[BatchcostError]) -> BatchcostError:
    """A YAML parse failure as ``error``, at the line the parser stopped."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return error(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None)
