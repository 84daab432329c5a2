"""The one gate for every file batchcost writes, and writing whole or not at all through it.

Every reader of a user's file registers it here (``register_input``); ``check_output`` then refuses, with one
line and exit 1, an output that is the same file as any input of the command (same resolved path, or the same
device and inode: links and ``./x`` vs ``x`` are caught), an existing target that is not a regular file (device,
FIFO, socket, directory: even as root), and a symbolic link that points nowhere (it is never followed into creating
a file elsewhere). Writers write a temporary file beside the target, flush it to disk and rename it into place,
checking the gate again just before the rename; an interrupted run removes its temporary file.
"""
from __future__ import annotations

import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from batchcost.core.errors import BadInput


class OutputRefused(BadInput):
    """An output path that would destroy an input or something that is not a regular file."""


_INPUT_PATHS: set[str] = set()  # resolved paths of every file the command has read
_INPUT_INODES: set[tuple[int, int]] = set()  # (device, inode) of the same files


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM for a moment: a temporary file is created and its name assigned inside the ``try``
    that removes it, with no gap a signal could fall into (it is acted on when leaving, inside that ``try``).

    Two holds, because blocking the signal in this thread is not enough: a process-wide signal goes to any thread
    that does not block it (pyarrow's and jemalloc's native threads, for one), and Python then runs the handler in
    the main thread at once. So the handlers are also swapped for one that only notes the signal; on leaving, the
    old handlers return and the first signal noted is handed to its old handler. Forked children start with the
    signals blocked too (see estimation.parallel). Off the main thread (where handlers cannot be set) only the
    block applies; where the platform cannot block (no pthread_sigmask: Windows) only the handlers do."""
    noted: list[tuple[int, Any]] = []
    swapped: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in _SIGNALS:
            if signal.getsignal(sig) is not None:  # None: a handler set outside Python, which cannot be put back
                swapped[sig] = signal.signal(sig, lambda signum, frame: noted.append((signum, frame)))
    blocking = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS) if blocking else set()
    try:
        yield
    finally:
        if blocking:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a signal pending here is noted, below
        raised = None
        for signum, handler in swapped.items():
            try:
                signal.signal(signum, handler)
            except BaseException as exc:  # a signal just in ran its restored handler, which raised: put back the rest
                raised = raised or exc
        if raised is not None:
            raise raised
        if noted:
            _hand_on(*noted[0], swapped[noted[0][0]])


def _hand_on(signum: int, frame, handler) -> None:
    """Act on a signal noted while held as its own handler would have."""
    if callable(handler):
        handler(signum, frame)  # ours raises KeyboardInterrupt, so the cleaning ``finally`` runs
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
    # SIG_IGN (or a handler set outside Python): nothing


def temporary_file(target: Path) -> tuple[int, str]:
    """A new temporary file beside ``target`` (call it inside ``signals_held`` and the cleaning ``try``)."""
    return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


def register_input(path: str | Path) -> None:
    """Remember that the command reads ``path``: no output of the command may replace it."""
    try:
        _INPUT_PATHS.add(os.path.realpath(path))
        info = os.stat(path)
    except (OSError, ValueError):
        return
    _INPUT_INODES.add((info.st_dev, info.st_ino))


def register_inputs(paths: Iterable[str | Path | None]) -> None:
    for path in paths:
        if path is not None:
            register_input(path)


def forget_inputs() -> None:
    """Start a new command (the CLI calls this once per run)."""
    _INPUT_PATHS.clear()
    _INPUT_INODES.clear()


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for a message: a directory, a FIFO, a socket, a device."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_output(path: str | Path, *, what: str = "output") -> Path:
    """The path to write for ``path`` (a link to a regular file is written through), or ``OutputRefused``."""
    path = Path(path)
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        link = None
    except NotADirectoryError:
        parent = next(p for p in path.parents if p.exists())
        raise OutputRefused(f"cannot write the {what}: {parent} is not a directory", path=path) from None
    except OSError as exc:
        raise OutputRefused(f"cannot write the {what}: {exc.strerror}", path=path) from None
    target = path
    if link is not None and stat.S_ISLNK(link.st_mode):
        if not os.path.exists(path):
            raise OutputRefused(f"the {what} is a symbolic link to {os.readlink(path)!r}, which does not exist; "
                                "it is not followed", path=path)
        target = Path(os.path.realpath(path))
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputRefused(f"cannot write the {what}: {exc.strerror}", path=path) from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputRefused(f"the {what} is {file_kind(info.st_mode)}; batchcost writes only regular files",
                            path=path)
    if os.path.realpath(target) in _INPUT_PATHS or (
            info is not None and (info.st_dev, info.st_ino) in _INPUT_INODES):
        raise OutputRefused(f"the {what} is also an input of this command; writing it would destroy the input "
                            "(choose another path)", path=path)
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise OutputRefused(f"cannot write the {what}: {parent} is not a directory", path=path)
    return target


def check_output_dir(path: str | Path, *, what: str = "output folder") -> Path:
    """A folder outputs are written into: created if missing; an existing non-folder is ``OutputRefused``."""
    path = Path(path)
    if os.path.lexists(path) and not os.path.exists(path):
        raise OutputRefused(f"the {what} is a symbolic link to {os.readlink(path)!r}, which does not exist",
                            path=path)
    if path.exists() and not path.is_dir():
        raise OutputRefused(f"the {what} exists and is not a directory", path=path)
    if os.path.realpath(path) in _INPUT_PATHS:
        raise OutputRefused(f"the {what} is also an input of this command", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputRefused(f"cannot create the {what}: {exc.strerror}", path=path) from None
    return path


def make_parent(target: Path, what: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputRefused(f"cannot create the folder of the {what}: {exc.strerror}", path=target) from None


def place(staged: str | Path, path: str | Path, *, what: str = "output") -> Path:
    """Move a complete staged file onto ``path`` in one rename, through the gate."""
    target = check_output(path, what=what)
    os.replace(staged, target)
    return target


@contextmanager
def atomic_writer(path: str | Path, mode: str = "wb", *, what: str = "output") -> Iterator[IO]:
    """Yield a file to write; on success it replaces ``path`` in one rename, on failure nothing changes."""
    target = check_output(path, what=what)
    make_parent(target, what)
    tmp = None
    try:
        with signals_held():  # the temporary file exists only inside this try, which removes it
            fd, tmp = temporary_file(target)
        # text: a lone surrogate (a valid JSON escape in a user's file) is written as its escape, never a crash
        text = {} if "b" in mode else {"encoding": "utf-8", "errors": "backslashreplace"}
        with os.fdopen(fd, mode, **text) as fh:  # type: ignore[call-overload]  # mode is the caller's
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        place(tmp, path, what=what)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str, *, what: str = "output") -> None:
    with atomic_writer(path, "w", what=what) as fh:
        fh.write(text)
