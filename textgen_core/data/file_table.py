"""The file table: for each file given, used (its kind, documents and tokens)
or skipped (its reason). The CLI prints it, results.json keeps it, the app's
preview shows it."""

from __future__ import annotations

import numpy as np

from textgen_core.data.ingest import Corpus

SHOWN_ROWS = 40
"""Rows the printed table shows; the rest are counted (all are in results.json)."""


def tokens_per_file(splits) -> list[int]:
    """Tokens (each document's EOS included) of each of `splits.files`, over
    all three splits, read from the chunks' `source` column: the same figures
    whether the splits were just made or came from the data cache."""
    counts = np.zeros(len(splits.files), np.int64)
    for name in ("train", "validation", "test"):
        column = getattr(splits, name).data.table.column("source")
        for chunk in column.chunks:
            values = chunk.flatten().to_numpy()
            values = values[values >= 0]  # -1: padding
            counts += np.bincount(values, minlength=len(counts))[: len(counts)]
    return counts.tolist()


def file_rows(corpus: Corpus, tokens: dict[str, int] | None = None) -> list[dict]:
    """One row per file: used ones first (path, status, kind, documents,
    tokens), then the skipped ones (path, status, reason)."""
    kinds = corpus.kinds
    documents: dict[str, int] = {}
    for source in getattr(corpus.documents, "sources", []):
        documents[source.path] = source.documents
    rows = [
        {
            "path": path,
            "status": "used",
            "kind": kinds.get(path, "text"),
            "documents": documents.get(path),
            "tokens": (tokens or {}).get(path),
        }
        for path in corpus.files_used
    ]
    rows += [{"path": s.path, "status": "skipped", "reason": s.reason} for s in corpus.skipped]
    return rows


def format_file_table(rows: list[dict], limit: int = SHOWN_ROWS) -> str:
    """The rows as an aligned text table (file, status, kind, documents,
    tokens; a skipped file's reason in place of its kind), at most `limit`."""
    shown = rows[:limit]
    cells = [("file", "status", "kind / reason", "documents", "tokens")]
    for row in shown:
        if row["status"] == "used":
            tokens = "" if row.get("tokens") is None else f"{row['tokens']:,}"
            cells.append(
                (row["path"], "used", row["kind"], str(row.get("documents") or ""), tokens)
            )
        else:
            cells.append((row["path"], "skipped", row["reason"], "", ""))
    used = [c for c in cells if c[1] != "skipped"]  # a reason may run on past the column
    widths = [min(60, max(len(c[0]) for c in cells)), 7, max(len(c[2]) for c in used)]
    lines = [
        f"{p:<{widths[0]}}  {s:<{widths[1]}}  {k:<{widths[2]}}  {d:>9}  {t:>10}".rstrip()
        for p, s, k, d, t in cells
    ]
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more files (all in results.json: file_table)")
    return "\n".join(lines)
