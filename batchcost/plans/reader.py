"""Stream a Batch API input file line by line, validating each line's shape.

A line is in one provider's own batch input shape (DESIGN.md; each module's ``LINE``); the provider module turns it
into the neutral ``PlanLine``. Only the commonest case, a well-formed OpenAI line, is taken here without a call.
Anything else is a ``PlanError`` naming the file and line. The whole file is never held in memory.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from batchcost import providers
from batchcost.errors import BadInput, PlanError
from batchcost.inputs import check_input_file, load_json

_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class PlanLine:
    line: int  # 1-based line number in the file
    custom_id: str
    method: str
    url: str
    body: dict[str, Any]
    nbytes: int  # bytes of the line as written, newline included
    raw: bytes = b""  # the line's JSON text as written (no BOM, no line ending), for writing it out unchanged
    provider: str = "openai"  # whose line shape it has; method and url are the neutral request kind

    @property
    def model(self) -> str:
        return self.body["model"]


def open_plan(path: Path):
    check_input_file(path, BadInput, "plan file")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise BadInput("no such file", path=path) from None
    except PermissionError:
        raise BadInput("permission denied", path=path) from None


def parse_line(raw: bytes, path: Path, line: int, parsed: Any = None) -> PlanLine | None:
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
    return _checked(obj, path, line, raw, text)


_NOT_PARSED = object()
try:
    from orjson import loads as fast_loads  # JSON decoding is half the hot path; orjson is 2-3x faster
except ImportError:  # pragma: no cover - orjson is a dependency, but the standard library is enough
    def fast_loads(text: bytes):
        raise ValueError("orjson is not installed")


def _strict_loads(text: bytes, path: Path, line: int):
    """What orjson refused: the strict standard parser says precisely why (or parses what orjson cannot, such
    as an integer above 64 bits), bounded in digits and in depth at orjson's own 1,024 levels."""
    return load_json(text, PlanError, path, line)


def _checked(obj: dict, path: Path, line: int, raw: bytes, text: bytes) -> PlanLine:
    custom_id, method, url, body = obj.get("custom_id"), obj.get("method"), obj.get("url"), obj.get("body")
    if (type(custom_id) is str and custom_id and type(method) is str and type(url) is str and type(body) is dict
            and type(body.get("model")) is str and providers._forced in (None, "openai")):
        return PlanLine(line, custom_id, method, url, body, len(raw), text)  # the common, well-formed case
    kind = providers.shape_of(obj)
    wanted = providers._forced
    if wanted is not None and kind != wanted:
        raise PlanError(f"this line has the shape of {providers.describe(kind)}, but the plan is read as {wanted} "
                        f"(--provider {wanted})", path=path, line=line)
    return providers.get(kind).parse(obj, path, line, len(raw), text)


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


def read_plan(path: str | Path, *, digest: "hashlib._Hash | None" = None) -> Iterator[PlanLine]:
    """Yield each request of the plan in file order. Raises ``PlanError`` at the first bad line, and at the first
    line of another provider than the first line's.

    ``digest``, when given, is updated with every byte read, so a caller gets the plan's sha256 in the same pass.
    """
    path = Path(path)
    guard = ProviderGuard()
    for number, raw in enumerate(read_raw_lines(path, digest=digest), start=1):
        parsed = parse_line(raw, path, number)
        if parsed is not None:
            guard.see(parsed, path)
            yield parsed


def plan_provider(path: str | Path) -> str:
    """The provider of the plan's first request (``--provider`` when forced); openai for an empty plan."""
    if providers._forced is not None:
        return providers._forced
    path = Path(path)
    for number, raw in enumerate(read_raw_lines(path), start=1):
        parsed = parse_line(raw, path, number)
        if parsed is not None:
            return parsed.provider
    return "openai"


def read_raw_lines(path: Path, *, digest: "hashlib._Hash | None" = None) -> Iterator[bytes]:
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
