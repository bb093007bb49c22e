"""The file table: for each file given, used (its kind, format, documents and
tokens; for prompt/answer and chat data its examples, prompt tokens and
trained tokens) or skipped (its reason). The CLI prints it, results.json
keeps it, the app's preview shows it."""

from __future__ import annotations

import numpy as np

from textgen_core.data.conversations import rows_label
from textgen_core.data.ingest import Corpus, Skipped

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


def file_rows(
    corpus: Corpus, tokens: dict[str, int] | None = None, chat: dict | None = None
) -> list[dict]:
    """One row per file: used ones first (path, status, kind, format,
    documents, tokens; a prompt/answer or chat file also examples,
    prompt_tokens, trained_tokens and cut_rows from `chat`, a Splits.chat),
    then the skipped ones (path, status, reason)."""
    kinds = corpus.kinds
    sources = {s.path: s for s in getattr(corpus.documents, "sources", [])}
    rows = []
    for path in corpus.files_used:
        source = sources.get(path)
        row = {
            "path": path,
            "status": "used",
            "kind": kinds.get(path, "text"),
            "format": source.format if source else "text",
            "documents": source.documents if source else None,
            "tokens": (tokens or {}).get(path),
        }
        stats = (chat or {}).get("per_file", {}).get(path)
        if stats is not None:
            trained = stats["answer_tokens"]
            if chat.get("train_on") == "all":
                trained += stats["prompt_tokens"]
            row.update(
                examples=stats["examples"],
                prompt_tokens=stats["prompt_tokens"],
                trained_tokens=trained,
                tokens=stats["prompt_tokens"] + stats["answer_tokens"],
                cut_rows=stats["cut_rows"],
            )
        rows.append(row)
    rows += [{"path": s.path, "status": "skipped", "reason": s.reason} for s in corpus.skipped]
    return rows


def left_out(chat: dict | None) -> list[Skipped]:
    """Prompt/answer rows left out when tokenized (too long, a template that
    refuses them), one entry per file and reason naming the rows."""
    groups: dict[tuple[str, str], list[int]] = {}
    for path, row, why in (chat or {}).get("left_out", []):
        groups.setdefault((path, why), []).append(row)
    return [Skipped(rows_label(path, rows), why) for (path, why), rows in groups.items()]


def cut_note(chat: dict | None, chunk_size: int) -> str | None:
    """The line naming the examples cut at a turn boundary, or None."""
    cut = [
        rows_label(path, stats["cut_rows"])
        for path, stats in (chat or {}).get("per_file", {}).items()
        if stats["cut_rows"]
    ]
    if not cut:
        return None
    return (
        f"cut after the last answer that fits --chunk-size {chunk_size} tokens (the answers "
        f"after it are not trained): {'; '.join(cut)}"
    )


def _count(value) -> str:
    return "" if value is None else f"{value:,}"


def format_file_table(rows: list[dict], limit: int = SHOWN_ROWS) -> str:
    """The rows as an aligned text table (file, status, kind, documents,
    tokens; a skipped file's reason in place of its kind), at most `limit`.
    With prompt/answer or chat files among them, the counts are examples,
    prompt tokens and trained tokens (a text file's documents and tokens)."""
    shown = rows[:limit]
    chat = any("examples" in row for row in rows)
    head = ("examples", "prompt tokens", "trained tokens") if chat else ("documents", "tokens")
    cells = [("file", "status", "kind / reason", *head)]
    for row in shown:
        if row["status"] != "used":
            cells.append((row["path"], "skipped", row["reason"], *[""] * len(head)))
        elif chat and "examples" in row:
            counts = (row["examples"], row["prompt_tokens"], row["trained_tokens"])
            cells.append((row["path"], "used", row["kind"], *map(_count, counts)))
        else:
            counts = [str(row.get("documents") or ""), _count(row.get("tokens"))]
            cells.append((row["path"], "used", row["kind"], *counts[:1], *([""] * chat), counts[1]))
    used = [c for c in cells if c[1] != "skipped"]  # a reason may run on past the column
    widths = [min(60, max(len(c[0]) for c in cells)), 7, max(len(c[2]) for c in used)]
    counts = [max(9, len(h)) for h in head[:-1]] + [max(10, len(head[-1]))]
    lines = []
    for p, s, k, *numbers in cells:
        line = f"{p:<{widths[0]}}  {s:<{widths[1]}}  {k:<{widths[2]}}"
        line += "".join(f"  {n:>{w}}" for n, w in zip(numbers, counts, strict=True))
        lines.append(line.rstrip())
    if len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more files (all in results.json: file_table)")
    return "\n".join(lines)
