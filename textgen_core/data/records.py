"""The rows of a table file (.jsonl, .json, .csv, .parquet) as records, for
prompt/answer and chat data: which columns the file has (its format is told
by them, `chat_formats.detect`), and each row, numbered as a person finds it
(a JSON Lines file's line, a CSV file's data row, a JSON list's item, a
Parquet row, all from 1).

A row that is not a record (a line that is not JSON) comes as a BadRow, so
its file skips that row and keeps the rest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from textgen_core.data.chat_formats import BadRow
from textgen_core.data.decoding import decode
from textgen_core.errors import TextgenError

DETECT_RECORDS = 100
"""JSON records whose keys decide a JSON or JSON Lines file's format."""


def columns(path: Path, text: str | None) -> list[str]:
    """The columns of the table at `path` (`text`: its decoded text; None for
    Parquet): a CSV header, a Parquet schema, or the keys of the first JSON
    records. [] when there are none (a list of strings, an empty file)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (OSError, ValueError) as exc:
            raise TextgenError(f"damaged Parquet file ({exc})") from None
    if suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text)).fieldnames or [])
    keys: dict[str, None] = {}
    for _, record in _json_records(path.name, text, limit=DETECT_RECORDS):
        if isinstance(record, dict):
            keys.update(dict.fromkeys(record))
    return list(keys)


def records(path: Path, encoding: str | None = None) -> Iterator[tuple[int, object]]:
    """(row number, record) for every row of the table at `path`; a record is
    a dict, or a BadRow for a row that is none."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        yield from enumerate(pq.read_table(path).to_pylist(), start=1)
        return
    text = decode(path.read_bytes(), encoding)
    if path.suffix.lower() == ".csv":
        yield from enumerate(csv.DictReader(io.StringIO(text)), start=1)
        return
    yield from _json_records(path.name, text)


def _json_records(name: str, text: str, limit: int | None = None):
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TextgenError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
        items = data if isinstance(data, list) else [data]
        yield from enumerate(items[:limit], start=1)
        return
    found = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadRow(f"not JSON ({exc.msg})")
        found += 1
        if limit is not None and found >= limit:
            return
