"""Where `textgen train` and `textgen tune` read text from: the PATHs and/or a
`datasets` dataset (the data flags themselves are derived from DataConfig)."""

from __future__ import annotations

from textgen_core.config import DataConfig
from textgen_core.data import hub_datasets
from textgen_core.errors import TextgenError


def data_sources(paths: list[str], data: DataConfig) -> list:
    """What `ingest.load_corpus` reads: the PATHs, then the dataset if one is set."""
    dataset = hub_datasets.from_config(data)
    if not paths and dataset is None:
        raise TextgenError("PATH: give files or folders to train on, or --dataset NAME")
    return [*paths, dataset] if dataset is not None else list(paths)
