"""Stream a Batch API input file line by line, validating each line's shape.

A line is in one provider's own batch input shape (DESIGN.md; each module's ``LINE``); the provider module turns it
into the neutral ``PlanLine``. Only the commonest case, a well-formed OpenAI line, is taken here without a call.
Anything else is a ``PlanError`` naming the file and line. The whole file is never held in memory.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchcost import providers
from batchcost.core.errors import BadInput, PlanError
from batchcost.core.inputs import check_input_file, load_json
from batchcost.core.options import PLAIN, ReadOptions
from batchcost.core.records import PlanLine

__all__ = ["PlanLine", "ProviderGuard", "fast_loads", "parse_line", "plan_provider", "plan_sha256", "read_plan",
           "read_raw_lines"]

_BOM = b"\xef\xbb\xbf"


def open_plan(path: Path):
    check_input_file(path, BadInput, "plan file")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BadInput("no such file", path=path) from None
    except PermissionError:
        raise BadInput("permission denied", path=path) from None


def parse_line(raw: bytes, path: Path, line: int, parsed: Any = None, options: ReadOptions = PLAIN) -> PlanLine | None:
    """Parse one raw line; None for a blank line. ``parsed``: the line already decoded by orjson, if it was."""
    text = raw.rstrip(b"\r\n")
    if line == 1 and text.startswith(_BOM):
        text = text[len(_BOM):]
    if parsed is not None:
        obj = parsed
    elif not text.strip():
        return None
    else:
        try:
            obj = fast_loads(text)
        except ValueError:  # orjson refused it: the standard parser decides, and says precisely why
            obj = _NOT_PARSED
    if obj is _NOT_PARSED:
        obj = _strict_loads(text, path, line)
    if not isinstance(obj, dict):
        raise PlanError(f"a plan line must be a JSON object: {providers.shapes()}", path=path, line=line)
    return _checked(obj, path, line, raw, text, options)


_NOT_PARSED = object()
try:
    from orjson import loads as fast_loads  # JSON decoding is half the hot path; orjson is 2-3x faster
except ImportError:  # pragma: no cover - orjson is a dependency, but the standard library is enough
    def fast_loads(text: bytes | bytearray | memoryview | str, /) -> Any:
        raise ValueError("orjson is not installed")


def _strict_loads(text: bytes, path: Path, line: int):
    """What orjson refused: the strict standard parser says precisely why (or parses what orjson cannot, such
    as an integer above 64 bits), bounded in digits and in depth at orjson's own 1,024 levels."""
    return load_json(text, PlanError, path, line)


def _checked(obj: dict, path: Path, line: int, raw: bytes, text: bytes, options: ReadOptions) -> PlanLine:
    default = providers.default()
    wanted = options.provider
    if wanted in (None, default.name):  # the commonest, well-formed line, taken in one call
        item = default.quick(obj, line, len(raw), text)
        if item is not None and (wanted is not None or item.model not in providers.claims()):
            return item
    kind = providers.shape_of(obj)
    if wanted is not None and kind.name != wanted and providers.get(wanted).accepts(obj):
        kind = providers.get(wanted)
    if wanted is not None and kind.name != wanted:
        raise PlanError(f"this line has the shape of {kind.title}, but the plan is read as {wanted} "
                        f"(--provider {wanted})", path=path, line=line)
    return kind.parse(obj, path, line, len(raw), text, options)


class ProviderGuard:
    """One provider per plan: the first request's provider is the plan's; a line of another is an error naming it."""

    __slots__ = ("provider", "first_line")

    def __init__(self):
        self.provider: str | None = None
        self.first_line = 0

    def see(self, item: PlanLine, path: Path | None) -> None:
        if item.provider == self.provider:
            return
        if self.provider is None:
            self.provider, self.first_line = item.provider, item.line
            return
        raise PlanError(providers.mixed(item.provider, self.provider, self.first_line, None if path is None else
                                        str(path)), path=path, line=item.line)


def read_plan(path: str | Path, *, digest: hashlib._Hash | None = None,
              options: ReadOptions = PLAIN) -> Iterator[PlanLine]:
    """Yield each request of the plan in file order. Raises ``PlanError`` at the first bad line, and at the first
    line of another provider than the first line's.

    ``digest``, when given, is updated with every byte read, so a caller gets the plan's sha256 in the same pass.
    """
    path = Path(path)
    guard = ProviderGuard()
    for number, raw in enumerate(read_raw_lines(path, digest=digest), start=1):
        parsed = parse_line(raw, path, number, options=options)
        if parsed is not None:
            guard.see(parsed, path)
            yield parsed


def plan_provider(path: str | Path, options: ReadOptions = PLAIN) -> str:
    """The provider of the plan's first request (``--provider`` when given); the default shape's for an empty plan."""
    if options.provider is not None:
        return options.provider
    path = Path(path)
    for number, raw in enumerate(read_raw_lines(path), start=1):
        parsed = parse_line(raw, path, number, options=options)
        if parsed is not None:
            return parsed.provider
    return providers.default().name


def read_raw_lines(path: Path, *, digest: hashlib._Hash | None = None) -> Iterator[bytes]:
    """Each line of the plan as bytes, line ending included; ``digest`` (if given) is updated with every byte."""
    with open_plan(path) as fh:
        if digest is None:
            yield from fh
            return
        for raw in fh:
            digest.update(raw)
            yield raw


def plan_sha256(path: str | Path) -> str:
    """sha256 of the plan's bytes (what an approval is bound to)."""
    digest = hashlib.sha256()
    with open_plan(Path(path)) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
