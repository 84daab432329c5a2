"""Reading the user's input files, with every failure turned into a one-line error naming the file (and line)."""
from __future__ import annotations

import json
import os
import stat
import sys
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from batchcost.core.atomic import file_kind, register_input
from batchcost.core.errors import BatchcostError


def check_input_file(path: str | Path, error: type[BatchcostError], what: str) -> Path:
    """``path`` registered as an input and checked to be a regular file: a FIFO would block forever and a device
    such as /dev/zero never ends, so neither is read. ``error`` says what is wrong."""
    path = Path(path)
    register_input(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"no such file (the {what})", path=path) from None
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror}", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"is a directory, not a {what}", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise error(f"the {what} is {file_kind(info.st_mode)}; batchcost reads only regular files", path=path)
    return path


def read_input_text(path: str | Path, error: type[BatchcostError], what: str) -> str:
    """The file's text (UTF-8, a BOM tolerated), or ``error`` saying why it cannot be read."""
    path = check_input_file(path, error, what)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"no such {what}", path=path) from None
    except UnicodeDecodeError as exc:
        raise error(f"not valid UTF-8 (byte {exc.start + 1})", path=path) from None
    except OSError as exc:
        raise error(f"cannot read the {what}: {exc.strerror}", path=path) from None


def yaml_error(exc: yaml.YAMLError, path: str | Path, error: type[BatchcostError]) -> BatchcostError:
    """A YAML parse failure as ``error``, at the line the parser stopped."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return error(f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None)


# -- JSON from a user's file: strict, bounded, one clear error ------------------------------------------------
MAX_JSON_DEPTH = 1024  # orjson's own limit on the plan's fast path, so every parser refuses the same lines; far
#                        deeper than any real request (a JSON schema nests a few dozen levels at most)


@contextmanager
def deep_recursion():
    """Room for the standard library's C parser and encoder to reach ``MAX_JSON_DEPTH`` (they count each level
    against Python's recursion limit, 1,000 by default)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, old + 2 * MAX_JSON_DEPTH + 100))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]}… is out of range" if len(text) > 20 else
                         f"the number {text} is out of range")
    return value


MAX_INT_DIGITS = 40  # a token count or an amount never needs more; thousands of digits are an attack


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits is out of range")
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)


def depth_within(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iterative: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def json_problem(text: bytes | str) -> tuple[Any, str | None]:
    """(value, None), or (None, why it is not usable JSON): invalid syntax, not UTF-8, NaN/Infinity, a number
    out of range or with thousands of digits, nesting deeper than ``MAX_JSON_DEPTH``. Never raises."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        with deep_recursion():
            value = _DECODER.decode(text)  # a BOM is the caller's to strip, and only at the start of a file
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (byte {exc.start + 1})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}" if exc.lineno > 1 else \
            f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError as exc:  # NaN, Infinity, 1e400, an integer of thousands of digits
        return None, f"invalid JSON: {' '.join(str(exc).split())[:120]}"
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and not depth_within(value):
        return None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
    return value, None


def json_line(value: Any) -> bytes:
    """``value`` as one line of JSON in UTF-8, as a plan holds it. Text with a lone surrogate (a valid JSON escape
    in a user's data, ``\\ud800``, but no Unicode character) is written as its escapes, so the line reads back as
    the same value: never a crash, never bytes that are not UTF-8."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value).encode("ascii")


def duplicate_key(text: bytes | str) -> str | None:
    """The first key given twice in one object of this JSON text (parsers keep one of the two, and which one is
    the parser's choice), or None. Text that is not JSON is None here: its own error says why."""
    found: list[str] = []

    def pairs(items: list) -> dict:
        if not found and len(items) > 1:
            seen = set()
            for key, _ in items:
                if key in seen:
                    found.append(key)
                    break
                seen.add(key)
        return dict(items)

    try:
        with deep_recursion():
            json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return found[0] if found else None


def load_json(text: bytes | str, error: type[BatchcostError], path: str | Path | None,
              line: int | None = None) -> Any:
    """Parse ``text`` as strict, bounded JSON or raise ``error`` naming the file (and line)."""
    value, problem = json_problem(text)
    if problem is not None:
        raise error(problem, path=path, line=line)
    return value


def read_json_file(path: str | Path, error: type[BatchcostError], what: str) -> Any:
    """A whole JSON file (an estimate, an approval, a JSON dataset), strictly parsed."""
    return load_json(read_input_text(path, error, what), error, path)


# -- YAML from a user's file: bounded, no duplicate keys, one clear error --------------------------------------
MAX_YAML_NODES = 100_000  # nodes after expanding every alias; a real template or price file has a few thousand
MAX_YAML_DEPTH = 100  # nesting; a request body in a template is a few levels deep


def yaml_root(text: str, path: str | Path, error: type[BatchcostError], loader: type = yaml.SafeLoader):
    """The document's node tree, or ``error`` with its line: a syntax error, aliases that expand past
    ``MAX_YAML_NODES`` nodes (a "billion laughs" bomb) or refer to themselves, or a key given twice in one
    mapping (naming both lines: YAML would silently keep the last)."""
    try:
        parser = loader(text)
        try:
            root = parser.get_single_node()
        finally:
            parser.dispose()
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path, error) from None
    if root is not None:
        _check_nodes(root, path, error)
    return root


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nodes(root, path: str | Path, error: type[BatchcostError]) -> None:
    """Expanded size and cycles in one iterative walk over the distinct nodes (linear, even for a bomb)."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack = [(root, False, 1)]
    while stack:
        node, finished, depth = stack.pop()
        key = id(node)
        if finished:
            visiting.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_YAML_NODES:
                raise error(f"YAML aliases expand to more than {MAX_YAML_NODES:,} values; refused (an alias bomb?)",
                            path=path, line=node.start_mark.line + 1)
            size[key] = total
            continue
        if key in size:
            continue
        if key in visiting:
            raise error("a YAML alias refers to itself (a recursive structure)", path=path,
                        line=node.start_mark.line + 1)
        if depth > MAX_YAML_DEPTH:
            raise error(f"YAML nested more than {MAX_YAML_DEPTH} levels deep", path=path,
                        line=node.start_mark.line + 1)
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            _no_duplicate_keys(node, path, error)
        stack.append((node, True, depth))
        stack.extend((child, False, depth + 1) for child in _children(node))


def _no_duplicate_keys(node, path: str | Path, error: type[BatchcostError]) -> None:
    first: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        name = (key_node.tag, key_node.value)
        if name in first:
            raise error(f"{key_node.value!r} is defined twice in one mapping, at lines {first[name]} and {line}; "
                        "YAML would silently keep the last: remove one", path=path, line=line)
        first[name] = line


# -- the document of a user's YAML file: numbers exact, dates real, every mapping knowing its keys' lines -------
class LinedMapping(dict):
    """A mapping from a user's YAML file that remembers the line of each key (``line_of``)."""

    lines: dict[Any, int]


def line_of(mapping: Any, key: Any) -> int | None:
    """The line ``key`` was written on, in a mapping read by ``yaml_document`` (None elsewhere)."""
    return getattr(mapping, "lines", {}).get(key)


class _BadValue(ValueError):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def _exact_loader() -> type:
    from batchcost.data import SAFE_LOADER  # libyaml's safe loader when installed: same nodes and marks, ~8x faster

    class ExactLoader(SAFE_LOADER):
        pass

    special = {".nan": "NaN", ".inf": "Infinity", "+.inf": "Infinity", "-.inf": "-Infinity"}

    def decimal(loader, node: yaml.ScalarNode) -> Decimal:  # 0.15 is read as the decimal written, never a float
        text = loader.construct_scalar(node).replace("_", "")
        return Decimal(special.get(text.lower(), text))  # .nan/.inf become Decimals the callers refuse

    def timestamp(loader, node: yaml.ScalarNode):
        try:
            return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
        except ValueError as exc:  # 2026-02-30: a date that does not exist
            raise _BadValue(f"{node.value!r} is not a real date ({exc})", node.start_mark.line + 1) from None

    def mapping(loader, node: yaml.MappingNode) -> LinedMapping:
        loader.flatten_mapping(node)
        result = LinedMapping()
        result.lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            result[key] = loader.construct_object(value_node, deep=True)
            result.lines[key] = key_node.start_mark.line + 1
        return result

    ExactLoader.add_constructor("tag:yaml.org,2002:float", decimal)
    ExactLoader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
    ExactLoader.add_constructor("tag:yaml.org,2002:map", mapping)
    return ExactLoader


_EXACT_LOADER: list[type] = []


def yaml_document(text: str, path: str | Path, error: type[BatchcostError]) -> Any:
    """The document of a user's YAML file (a price file, budgets, settings): bounded (``yaml_root``: no alias bomb,
    no nesting past ``MAX_YAML_DEPTH``, no key given twice), numbers as the exact decimals written (``500.10`` is
    Decimal("500.10"), never a float), dates that exist, mappings that know their keys' lines (``line_of``).
    Every failure is ``error`` with the file and line."""
    if not _EXACT_LOADER:
        _EXACT_LOADER.append(_exact_loader())
    loader = _EXACT_LOADER[0]
    root = yaml_root(text, path, error, loader)
    if root is None:
        return None
    try:
        return loader("").construct_document(root)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path, error) from None
    except _BadValue as exc:
        raise error(str(exc), path=path, line=exc.line) from None


def read_yaml_file(path: str | Path, error: type[BatchcostError], what: str) -> Any:
    """A user's YAML file (registered as an input of the command), read by ``yaml_document``."""
    return yaml_document(read_input_text(path, error, what), path, error)
