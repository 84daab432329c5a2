"""A job: one plan file, several plan files, or a folder of waves, taken by every command as one plan.

One file is itself. Several files (or a folder's ``*.jsonl``, in name order) are joined, byte for byte and in
order, into one job plan under ``BATCHCOST_HOME/jobs`` (a newline added after a file that lacks one), written whole
then renamed and named by its sha256, so the job's sha256 is that of its bytes in order and the same job is the
same file. Every command then reads one plan; a message about a line of the job plan names the file and line it
came from (``errors.origin``). The approval lists each file's sha256, and ``submit`` names the file that changed.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from batchcost import errors
from batchcost.errors import UsageError

_FILES: dict[str, list[dict]] = {}  # job plan -> its files (path, sha256, lines), for approvals and messages


def expand(paths: list[Path]) -> list[Path]:
    """Folders become their ``*.jsonl`` files in name order; the same file twice is refused."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.jsonl") if p.is_file())
            if not found:
                raise UsageError(f"{path} is a folder with no .jsonl plan files")
            files += found
        else:
            files.append(path)
    seen: dict[str, Path] = {}
    for path in files:
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{path} is named twice in the job (as {seen[key]})")
        seen[key] = path
    return files


def job_plan(paths: list[Path] | Path) -> Path:
    """The one plan a command reads for these paths: the file itself, or the job plan joining them."""
    if isinstance(paths, (str, Path)):
        paths = [Path(paths)]
    files = expand(list(paths))
    if len(files) == 1:
        return files[0]
    return _join(files)


def files_of(plan: Path) -> list[dict] | None:
    """The files a job plan joined (path, sha256, lines), or None for a plain plan."""
    return _FILES.get(str(plan))


def describe(plan: str | Path, files: list[dict] | None = None) -> str:
    """What to call a plan in messages: its path, or the files a job plan joined."""
    files = files if files is not None else files_of(Path(plan))
    if not files:
        return str(plan)
    if len(files) > 2:
        return f"{files[0]['path']} … {files[-1]['path']} ({len(files)} files)"
    return " + ".join(f["path"] for f in files)


def _join(files: list[Path]) -> Path:
    from batchcost.atomic import atomic_writer, register_input
    from batchcost.home import home

    for path in files:
        register_input(path)
        if not path.is_file():
            raise errors.BadInput("not a plan file" if path.exists() else "no such plan file", path=path)
    folder = home() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    digest, listing, origins, line = hashlib.sha256(), [], [], 1
    staging = folder / f".joining-{os.getpid()}.jsonl"
    with atomic_writer(staging) as out:
        for path in files:
            own, lines, last = hashlib.sha256(), 0, b"\n"
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    own.update(chunk)
                    digest.update(chunk)
                    out.write(chunk)
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
            if last != b"\n":  # the next file starts on a line of its own
                out.write(b"\n")
                digest.update(b"\n")
                lines += 1
            origins.append((line, str(path)))
            listing.append({"path": str(path), "sha256": own.hexdigest(), "lines": lines})
            line += lines
    sha = digest.hexdigest()
    target = folder / f"job-{sha[:16]}.jsonl"
    os.replace(staging, target)  # the same bytes under the same name: a rerun replaces it with itself
    register_input(target)
    errors.ORIGINS[str(target)] = origins
    _FILES[str(target)] = listing
    return target


def changed_file(approved: list[dict], plan: Path) -> str | None:
    """The first file whose bytes differ from what the approval listed, for a message that names it."""
    now = {f["path"]: f["sha256"] for f in files_of(plan) or []}
    for entry in approved:
        if now.get(entry.get("path")) != entry.get("sha256"):
            return entry.get("path")
    extra = set(now) - {e.get("path") for e in approved}
    return sorted(extra)[0] if extra else None
