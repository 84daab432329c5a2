"""A job: one plan file, several plan files, or a folder of waves, taken by every command as one plan.

One file is itself. Several files (or a folder's ``*.jsonl``, in name order) are joined, byte for byte and in
order, into one job plan under ``BATCHCOST_HOME/jobs`` (a newline added after a file that lacks one), written whole
then renamed and named by its sha256, so the job's sha256 is that of its bytes in order and the same job is the
same file. Every command then reads one plan; a message about a line of the job plan names the file and line it
came from (``errors.origin``). The approval lists each file's sha256, and ``submit`` names the file that changed.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

from batchcost.core import errors
from batchcost.core.errors import UsageError


def expand(paths: list[Path]) -> list[Path]:
    """Folders become their ``*.jsonl`` files in name order; the same file twice is refused."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            for wave in found:
                _readable_wave(wave)  # a wave that cannot be read is refused, never silently left out
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


def _readable_wave(path: Path) -> None:
    """A ``*.jsonl`` of a job folder is a wave: a link that points nowhere or loops, a folder or a FIFO of that name
    is an error naming it (leaving it out would submit a job without it)."""
    import stat

    try:
        info = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            target = os.readlink(path)
            why = "loops" if exc.errno == errno.ELOOP else f"points to {target!r}, which does not exist"
            raise errors.BadInput(f"this wave is a symbolic link that {why}; fix or remove it", path=path) from None
        raise errors.BadInput(f"this wave cannot be read: {exc.strerror}", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        from batchcost.core.atomic import file_kind

        raise errors.BadInput(f"this wave is {file_kind(info.st_mode)}, not a plan file; move it out of the folder",
                              path=path)


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
    listing = errors.job_files(plan)
    return None if listing is None else [{k: v for k, v in f.items() if k != "first_line"} for f in listing]


def describe(plan: str | Path, files: list[dict] | None = None) -> str:
    """What to call a plan in messages: its path, or the files a job plan joined."""
    files = files if files is not None else files_of(Path(plan))
    if not files:
        return str(plan)
    return errors.files_named([f["path"] for f in files])


def _join(files: list[Path]) -> Path:
    from batchcost.core.atomic import atomic_writer, register_input, write_text_atomic
    from batchcost.core.home import home

    for path in files:
        register_input(path)
        if not path.is_file():
            raise errors.BadInput("not a plan file" if path.exists() else "no such plan file", path=path)
    folder = home() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    digest, listing, line = hashlib.sha256(), [], 1
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
            listing.append({"path": str(path), "sha256": own.hexdigest(), "lines": lines, "first_line": line})
            line += lines
    sha = digest.hexdigest()
    target = folder / f"job-{sha[:16]}.jsonl"
    # the files it joined, beside it, first: a job plan is never there without them (the bytes name both)
    write_text_atomic(f"{target}{errors.JOB_FILES}", json.dumps(listing, ensure_ascii=False) + "\n",
                      what="job's file list")
    os.replace(staging, target)  # the same bytes under the same name: a rerun replaces it with itself
    register_input(target)
    return target


def job_change(approved: list[dict], plan: Path) -> str:
    """How the job differs from the files an approval listed, in one sentence naming the file: removed, added,
    reordered or changed. ``plan`` is what the command reads now (a job plan, or the one file left)."""
    now = files_of(plan) or [{"path": str(plan), "sha256": _sha256(plan)}]
    norm = os.path.normpath
    then_paths = [norm(str(e.get("path"))) for e in approved]
    now_paths = [norm(f["path"]) for f in now]
    removed = [p for p in then_paths if p not in now_paths]
    if removed:
        return f"{removed[0]} was removed from the job since it was approved (its files, in order, must be the " \
               "approved ones); put it back, or approve the job again"
    added = [p for p in now_paths if p not in then_paths]
    if added:
        return f"{added[0]} was added to the job since it was approved; remove it, or approve the job again"
    if then_paths != now_paths:
        return "the job's files are in another order than approved; give them in the approved order, or approve " \
               "the job again"
    shas = {norm(f["path"]): f["sha256"] for f in now}
    for entry in approved:
        if shas.get(norm(str(entry.get("path")))) != entry.get("sha256"):
            return f"{entry.get('path')} has changed since the job was approved; approve it again"
    return "the job has changed since it was approved; approve it again"


def _sha256(path: Path) -> str:
    from batchcost.plans.reader import plan_sha256

    return plan_sha256(path)
