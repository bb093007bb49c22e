"""The training flags of `textgen train` and `textgen tune`, derived from
`TrainConfig` (`cli/flags.py`), and the TrainConfig they build: the dataclass
defaults, then `--config FILE` (e.g. tune's best_config.json), then the flags
the user typed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textgen_core.cli.flags import add_flags, flags_of, given
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError


def add_train_flags(p: argparse.ArgumentParser) -> None:
    add_flags(p, TrainConfig)


def train_config(args: argparse.Namespace, config_file: str | None = None) -> TrainConfig:
    typed = given(args, TrainConfig)
    base = _saved(config_file) if config_file else TrainConfig().to_dict()
    if "lora" in typed and "lora" not in vars(args) and base.get("lora") is None:
        flags = {flag.dest: flag.name for flag in flags_of(TrainConfig)}
        first = flags["lora." + next(iter(typed["lora"]))]
        raise TextgenError(f"{first}: only applies with --lora")
    cfg = TrainConfig.from_dict(_merge(base, typed))
    cfg.data.seed = cfg.seed  # one seed for initialisation, data order and the split
    return cfg


def _saved(path: str) -> dict:
    try:
        return TrainConfig.from_dict(json.loads(Path(path).read_text())).to_dict()
    except OSError as exc:
        raise TextgenError(f"--config {path}: cannot read it ({exc.strerror})") from exc
    except (ValueError, TypeError) as exc:
        raise TextgenError(f"--config {path}: not a TrainConfig JSON file ({exc})") from exc


def _merge(base: dict, typed: dict) -> dict:
    merged = dict(base)
    for key, value in typed.items():
        if isinstance(value, dict):
            merged[key] = _merge(base.get(key) or {}, value)
        else:
            merged[key] = value
    return merged
