"""A table's rows as conversations: the usable ones, and the skipped ones
counted with the file and rows named (`notes.jsonl rows 3, 9: empty answer`),
one entry per reason, so a few bad rows cost only themselves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator

from textgen_core.data.chat_formats import BadRow, Columns, conversation

SHOWN_ROWS = 5
"""Row numbers named per skipped reason; the rest are counted."""


def conversations(
    rows: Iterable[tuple[int, object]], fmt: str, names: Columns
) -> Iterator[tuple[int, list[dict] | BadRow]]:
    """(row number, its messages or the BadRow that says why it has none)."""
    for number, record in rows:
        if isinstance(record, BadRow):
            yield number, record
            continue
        try:
            yield number, conversation(record, fmt, names)
        except BadRow as exc:
            yield number, exc


def scan(label: str, rows: Iterable[tuple[int, object]], fmt: str, names: Columns):
    """(usable conversations, their digest, [(what, why skipped)]) of a table
    called `label`, without keeping the conversations."""
    outer, count, bad = hashlib.sha256(), 0, {}
    for number, item in conversations(rows, fmt, names):
        if isinstance(item, BadRow):
            bad.setdefault(str(item), []).append(number)
            continue
        outer.update(hashlib.sha256(json.dumps(item, ensure_ascii=False).encode()).digest())
        count += 1
    skipped = [(rows_label(label, numbers), reason) for reason, numbers in bad.items()]
    return count, outer.hexdigest(), skipped


def rows_label(label: str, rows: list[int]) -> str:
    """`label row 3` or `label rows 3, 9, 12, 20, 31 and 4 more`."""
    shown = ", ".join(str(r) for r in rows[:SHOWN_ROWS])
    more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
    return f"{label} row{'s' if len(rows) > 1 else ''} {shown}{more}"
