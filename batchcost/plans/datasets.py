"""Datasets as a stream of records: CSV/TSV, JSONL, JSON, Parquet, or a folder of text/Markdown documents.

Every record is a ``Record``: its 1-based number, where it came from (for error messages), and its fields as
text. Large files are read in chunks, never whole (a JSON array file is the one exception: JSON cannot be
streamed without a parser we do not ship, so keep big datasets in JSONL, CSV or Parquet).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcost.core.atomic import register_input, register_inputs
from batchcost.core.errors import BadInput
from batchcost.core.inputs import check_input_file, deep_recursion, load_json, read_json_file

CHUNK_ROWS = 10_000
TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}


class DatasetError(BadInput):
    """A dataset cannot be read, or a record is unusable."""


@dataclass
class Record:
    number: int  # 1-based record number
    where: str  # "file:line" or "file (row N)" or a document path
    fields: dict[str, str]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        with deep_recursion():  # a field may nest as deep as the JSON reader allows
            return json.dumps(value, ensure_ascii=False)
    return str(value)


def dataset_kind(path: Path) -> str:
    if path.is_dir():
        return "parquet-dir" if any(path.glob("*.parquet")) else "documents"
    suffix = path.suffix.lower()
    kinds = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
             ".parquet": "parquet", ".pq": "parquet"}
    if suffix not in kinds:
        raise DatasetError(f"unknown dataset type {suffix or '(no suffix)'!r}: use .csv, .tsv, .jsonl, .json, "
                           ".parquet or a folder of .txt/.md files", path=path)
    return kinds[suffix]


def _protect(path: Path, kind: str) -> None:
    """Register the dataset's files as inputs (no output of the command may replace one of them); a dataset file
    must be a regular file (a FIFO would block, a device never ends)."""
    register_input(path)
    if not path.is_dir():
        check_input_file(path, DatasetError, "dataset")
    elif kind == "parquet-dir":
        register_inputs(path.glob("*.parquet"))
    elif kind == "documents":
        register_inputs(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)


def read_dataset(path: str | Path) -> Iterator[Record]:
    """Yield the dataset's records in order."""
    path = Path(path)
    if not path.exists():
        raise DatasetError("no such dataset", path=path)
    kind = dataset_kind(path)
    _protect(path, kind)
    reader = {"csv": _delimited, "tsv": _delimited, "jsonl": _jsonl, "json": _json, "parquet": _parquet,
              "parquet-dir": _parquet_dir, "documents": _documents}[kind]
    yield from reader(path)


def _delimited(path: Path) -> Iterator[Record]:
    import pandas as pd

    sep = "\t" if dataset_kind(path) == "tsv" else ","
    number = 0
    try:
        chunks = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS,
                             encoding="utf-8-sig")
        for chunk in chunks:
            columns = [str(c) for c in chunk.columns]
            for row in chunk.itertuples(index=False, name=None):
                number += 1
                # the header is line 1; a row's line is only exact without embedded newlines, so say "row"
                yield Record(number, f"{path} (row {number})", dict(zip(columns, map(_text, row))))
    except pd.errors.EmptyDataError:
        raise DatasetError("the file is empty (no header row)", path=path) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"cannot read as {'TSV' if sep == chr(9) else 'CSV'}: {' '.join(str(exc).split())}",
                           path=path) from None


def _jsonl(path: Path) -> Iterator[Record]:
    number = 0
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            text = raw.rstrip(b"\r\n")
            if line_no == 1 and text.startswith(b"\xef\xbb\xbf"):
                text = text[3:]
            if not text.strip():
                continue
            obj = load_json(text, DatasetError, path, line_no)
            if not isinstance(obj, dict):
                raise DatasetError("each line must be a JSON object (one record)", path=path, line=line_no)
            number += 1
            yield Record(number, f"{path}:{line_no}", {str(k): _text(v) for k, v in obj.items()})


def _json(path: Path) -> Iterator[Record]:
    data = read_json_file(path, DatasetError, "dataset")
    if isinstance(data, dict):
        data = data.get("records", data.get("data", [data]))
    if not isinstance(data, list):
        raise DatasetError("a JSON dataset must be an array of objects", path=path)
    for number, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise DatasetError(f"record {number} is not an object", path=path)
        yield Record(number, f"{path} (record {number})", {str(k): _text(v) for k, v in obj.items()})


def _parquet(path: Path, start: int = 0) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS)
        number = start
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield Record(number, f"{path} (row {number - start})", {str(k): _text(v) for k, v in row.items()})
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read as Parquet: {exc}", path=path) from None


def _parquet_dir(path: Path) -> Iterator[Record]:
    number = 0
    for file in sorted(path.glob("*.parquet")):
        for record in _parquet(file, start=number):
            number = record.number
            yield record


def _documents(path: Path) -> Iterator[Record]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    if not files:
        raise DatasetError(f"no text files ({', '.join(sorted(TEXT_SUFFIXES))}) in this folder", path=path)
    for number, file in enumerate(files, start=1):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"not valid UTF-8 (byte {exc.start + 1})", path=file) from None
        relative = file.relative_to(path).as_posix()
        yield Record(number, str(file), {"path": relative, "name": file.stem, "text": text})


# -- partitions: a dataset cut into parts that workers (processes, Dask tasks) render independently ----------
@dataclass
class Partition:
    path: str  # the dataset (file or folder)
    kind: str
    items: list  # files (folders) or row-group indexes (one Parquet file); empty: the whole dataset
    first_number: int  # the record number before this partition's first record


def dataset_partitions(path: str | Path, target: int = 8) -> list[Partition]:
    """Independent parts of a dataset, in order, with the record numbering each starts from. Folders split by
    file, a Parquet file by row group; a CSV/TSV/JSON(L) file is one part (it cannot be cut without a scan)."""
    import pyarrow as pa

    path = Path(path)
    try:
        return _partitions(path, target)
    except (pa.ArrowException, OSError) as exc:  # the same line the serial reader gives
        raise DatasetError(f"cannot read as Parquet: {exc}", path=getattr(exc, "filename", None) or path) from None


def _partitions(path: Path, target: int) -> list[Partition]:
    import pyarrow.parquet as pq

    if not path.exists():
        raise DatasetError("no such dataset", path=path)
    kind = dataset_kind(path)
    _protect(path, kind)
    if kind == "parquet-dir":
        parts, number = [], 0
        for file in sorted(path.glob("*.parquet")):
            parts.append(Partition(str(path), kind, [str(file)], number))
            number += pq.ParquetFile(file).metadata.num_rows
        return parts
    if kind == "parquet":
        meta = pq.ParquetFile(path).metadata
        parts, number = [], 0
        for group in range(meta.num_row_groups):
            parts.append(Partition(str(path), kind, [group], number))
            number += meta.row_group(group).num_rows
        return parts or [Partition(str(path), kind, [], 0)]
    if kind == "documents":
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
        size = max(1, -(-len(files) // target))
        return [Partition(str(path), kind, files[i:i + size], i) for i in range(0, len(files), size)] or \
            [Partition(str(path), kind, [], 0)]
    return [Partition(str(path), kind, [], 0)]


def read_partition(part: Partition) -> Iterator[Record]:
    """The records of one partition, numbered as in the whole dataset."""
    import pyarrow.parquet as pq

    if not part.items:
        yield from read_dataset(part.path)
        return
    if part.kind == "parquet-dir":
        yield from _parquet(Path(part.items[0]), start=part.first_number)
    elif part.kind == "parquet":
        table = pq.ParquetFile(part.path).read_row_group(part.items[0])
        for i, row in enumerate(table.to_pylist(), start=part.first_number + 1):
            yield Record(i, f"{part.path} (row {i})", {str(k): _text(v) for k, v in row.items()})
    else:
        root = Path(part.path)
        for i, name in enumerate(part.items, start=part.first_number + 1):
            file = Path(name)
            try:
                text = file.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"not valid UTF-8 (byte {exc.start + 1})", path=file) from None
            yield Record(i, str(file), {"path": file.relative_to(root).as_posix(), "name": file.stem, "text": text})
