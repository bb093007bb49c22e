"""The data flags of `textgen train` and `textgen tune`: where the text comes
from (PATHs and/or a `datasets` dataset) and how it is cut and split."""

from __future__ import annotations

import argparse

from textgen_core.config import DataConfig
from textgen_core.data import hub_datasets
from textgen_core.errors import TextgenError


def add_data_flags(p: argparse.ArgumentParser) -> None:
    d = DataConfig()
    p.add_argument("--chunk-size", type=int, default=d.chunk_size, help="default %(default)s")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="default %(default)s")
    p.add_argument(
        "--test-fraction", type=float, default=d.test_fraction, help="default %(default)s"
    )
    p.add_argument(
        "--dataset",
        metavar="NAME",
        help="also train on this datasets dataset: a Hub name, a local folder of "
        "parquet/json/csv files, or a folder written by save_to_disk; one document per row",
    )
    p.add_argument("--dataset-config", metavar="C", help="its configuration (subset), if any")
    p.add_argument(
        "--dataset-split", default=d.dataset_split, help="its split (default %(default)s)"
    )
    p.add_argument(
        "--text-column", default=d.text_column, help="its text column (default %(default)s)"
    )
    add_doc_separator_flag(p)


def add_doc_separator_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--doc-separator",
        metavar="STRING",
        default=DataConfig().doc_separator,
        help="cut each file into documents at this string (e.g. '***' between poems); "
        "the split by document then uses them (default: one file, one document)",
    )


def data_config(args: argparse.Namespace) -> DataConfig:
    return DataConfig(
        chunk_size=args.chunk_size,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
        dataset=args.dataset,
        dataset_config=args.dataset_config,
        dataset_split=args.dataset_split,
        text_column=args.text_column,
        doc_separator=args.doc_separator,
    )


def data_sources(paths: list[str], data: DataConfig) -> list:
    """What `ingest.load_corpus` reads: the PATHs, then the dataset if one is set."""
    dataset = hub_datasets.from_config(data)
    if not paths and dataset is None:
        raise TextgenError("PATH: give files or folders to train on, or --dataset NAME")
    return [*paths, dataset] if dataset is not None else list(paths)
