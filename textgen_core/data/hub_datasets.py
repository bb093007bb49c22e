"""A `datasets` dataset as a source of documents: one row, one document.

`HubDataset("NAME", config, split, column)` loads with `datasets.load_dataset`
(a Hub dataset, or a local folder of parquet/json/csv/text files), or with
`datasets.load_from_disk` when NAME is a folder written by `save_to_disk`.
Loading is not streamed: `datasets` keeps the rows in memory-mapped Arrow
files, so even a large dataset is read a batch at a time. The whole dataset is
one source (`NAME[split]`) for per-file reporting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from textgen_core.config import DataConfig
from textgen_core.data import chat_formats
from textgen_core.data.chat_formats import Columns
from textgen_core.data.conversations import rows_label
from textgen_core.errors import TextgenError

_BATCH_ROWS = 1000
_SAVED_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")


@dataclass(frozen=True)
class HubDataset:
    name: str
    config: str | None = None
    split: str = "train"
    column: str = "text"
    columns: Columns = Columns()

    @property
    def format(self) -> str:
        """chat_formats.detect of its columns: text, or a prompt/answer or chat format."""
        return chat_formats.detect(self.load().column_names, self.columns)

    @property
    def label(self) -> str:
        return f"{self.name}{f'/{self.config}' if self.config else ''}[{self.split}]"

    def load(self):
        return _load(self)

    def rows(self) -> Iterator[tuple[int, str | None]]:
        """(row number, value of the text column) for every row."""
        data = self.load().select_columns([self.column])
        row = 0
        for batch in data.iter(batch_size=_BATCH_ROWS):
            for value in batch[self.column]:
                yield row, value
                row += 1

    def records(self) -> Iterator[tuple[int, dict]]:
        """(row number, row as a dict) for every row."""
        row = 0
        for batch in self.load().iter(batch_size=_BATCH_ROWS):
            names = list(batch)
            for values in zip(*(batch[n] for n in names), strict=True):
                yield row, dict(zip(names, values, strict=True))
                row += 1

    def texts(self) -> Iterator[tuple[int, str]]:
        """(row number, text) of the rows with text."""
        return ((row, text) for row, text in self.rows() if text and not text.isspace())

    def scan(self):
        """(Source or None, [(what, why skipped)]) without keeping the texts."""
        from textgen_core.data.ingest import Source

        fmt = self.format
        if fmt != chat_formats.TEXT:
            return self._scan_chat(fmt)
        outer, count, empty = hashlib.sha256(), 0, []
        for row, text in self.rows():
            if text and not text.isspace():
                outer.update(hashlib.sha256(text.encode()).digest())
                count += 1
            else:
                empty.append(row)
        skipped = [(rows_label(self.label, empty), "empty or whitespace-only")] if empty else []
        if not count:
            return None, [(self.label, f"no text in column '{self.column}'")]
        return Source(self.label, count, outer.hexdigest(), dataset=self), skipped

    def _scan_chat(self, fmt: str):
        from textgen_core.data import conversations
        from textgen_core.data.documents import Source

        count, digest, skipped = conversations.scan(self.label, self.records(), fmt, self.columns)
        if not count:
            return None, [*skipped, (self.label, f"no usable {chat_formats.LABELS[fmt]} row")]
        source = Source(self.label, count, digest, dataset=self, format=fmt, columns=self.columns)
        return source, skipped


def from_config(data: DataConfig) -> HubDataset | None:
    """The `dataset` setting as a source `ingest.load_corpus` reads, or None."""
    if data.dataset is None:
        return None
    return HubDataset(
        data.dataset, data.dataset_config, data.dataset_split, data.text_column, Columns.of(data)
    )


@lru_cache(maxsize=4)
def _load(spec: HubDataset):
    import datasets

    try:
        path = Path(spec.name)
        if path.is_dir() and any((path / m).is_file() for m in _SAVED_MARKERS):
            data = datasets.load_from_disk(str(path))
            if isinstance(data, datasets.DatasetDict):
                if spec.split not in data:
                    raise TextgenError(
                        f"--dataset-split {spec.split}: {spec.name} has splits {', '.join(data)}"
                    )
                data = data[spec.split]
        else:
            data = datasets.load_dataset(spec.name, spec.config, split=spec.split)
    except TextgenError:
        raise
    except Exception as exc:  # any failure to load: say which dataset and why
        raise describe_dataset_error(spec.name, exc) from exc
    _check_column(spec, data)
    return data


def _check_column(spec: HubDataset, data) -> None:
    if chat_formats.detect(data.column_names, spec.columns) != chat_formats.TEXT:
        return  # prompt/answer or chat rows: each is checked as it is read
    if spec.column not in data.column_names:
        raise TextgenError(
            f"--text-column {spec.column}: {spec.label} has no such column "
            f"(columns: {', '.join(data.column_names)}); for prompt/answer pairs name their "
            "columns with --prompt-column and --response-column"
        )
    dtype = getattr(data.features[spec.column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise TextgenError(
            f"--text-column {spec.column}: in {spec.label} it holds "
            f"{data.features[spec.column]}, not text; name a text column"
        )


def describe_dataset_error(name: str, exc: Exception) -> TextgenError:
    """One line naming the dataset, why it did not load, and what to do."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    from textgen_core.errors import first_line, hub_endpoint, hub_problem

    if datasets.config.HF_HUB_OFFLINE:
        problem = f"HF_HUB_OFFLINE=1 is set and {name} is not in the local cache: unset it"
    elif isinstance(exc, DatasetNotFoundError):
        problem = (
            f"there is no dataset {name} on {hub_endpoint()} and no such local folder "
            "(or it is private or gated): check the name; for a private one, set HF_TOKEN"
        )
    else:
        problem = hub_problem(exc, name) or first_line(exc)
    return TextgenError(f"--dataset {name}: cannot load it: {problem}")
