"""The command line's flags come from the settings dataclasses, stay what users
typed before, and a flag the user typed always beats --config."""

from __future__ import annotations

import argparse
import json

import pytest

from textgen_core.cli.flags import field_docs
from textgen_core.cli.main import build_parser
from textgen_core.cli.train_flags import train_config
from textgen_core.config import LoraConfig, TrainConfig
from textgen_core.errors import TextgenError

# `textgen train --help` before the flags were derived from the dataclasses.
TRAIN_FLAGS_BEFORE = """--output --model --revision --epochs --batch-size --gradient-accumulation-steps
--lr --warmup-ratio --weight-decay --max-grad-norm --chunk-size --val-fraction --test-fraction
--dataset --dataset-config --dataset-split --text-column --max-steps --eval-steps
--early-stopping-patience --seed --freeze-embeddings --lora --lora-r --lora-alpha --lora-dropout
--lora-targets --no-merge --resume --force --quiet --push-to-hub --hub-checkpoints
--resume-from-hub --token --config""".split()


def flags(command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s: a for a in sub.choices[command]._actions for s in a.option_strings}


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", "x", "--output", "o", *argv])


def test_train_keeps_every_flag_it_had():
    missing = [f for f in TRAIN_FLAGS_BEFORE if f not in flags("train")]
    assert missing == []


def test_help_text_is_the_field_docstring():
    train = flags("train")
    assert train["--lr"].help.startswith(field_docs(TrainConfig)["lr"].rstrip("."))
    assert "(default 5e-05)" in train["--lr"].help
    assert "(default 8)" in train["--lora-r"].help  # LoRA is off by default, its defaults shown


def test_flags_build_the_nested_settings():
    cfg = train_config(
        parse(
            "--lr",
            "1e-3",
            "--chunk-size",
            "64",
            "--lora",
            "--lora-r",
            "4",
            "--lora-targets",
            "c_attn, c_proj",
            "--no-merge",
            "--seed",
            "7",
            "--early-stopping-patience",
            "0",
        )
    )
    assert (cfg.lr, cfg.data.chunk_size, cfg.seed, cfg.data.seed) == (1e-3, 64, 7, 7)
    assert (cfg.lora.r, cfg.lora.targets, cfg.lora.merge) == (4, ["c_attn", "c_proj"], False)
    assert cfg.early_stopping_patience is None
    assert train_config(parse()) == TrainConfig()


def test_a_typed_flag_beats_config_even_at_its_default_value(tmp_path):
    saved = TrainConfig(lr=1e-3, epochs=7)
    saved.data.chunk_size = 64
    path = tmp_path / "best_config.json"
    path.write_text(json.dumps(saved.to_dict()))
    default_lr = TrainConfig().lr
    cfg = train_config(parse("--lr", str(default_lr), "--config", str(path)), str(path))
    assert cfg.lr == default_lr  # typed, though equal to the default
    assert (cfg.epochs, cfg.data.chunk_size) == (7, 64)  # not typed: the file's


def test_a_bare_lora_switch_turns_lora_on_with_its_defaults():
    assert train_config(parse("--lora")).lora == LoraConfig()
    assert TrainConfig.from_dict({"lora": {}}).lora == LoraConfig()


def test_lora_flags_without_lora_are_refused_by_name():
    with pytest.raises(TextgenError, match="^--lora-r: only applies with --lora"):
        train_config(parse("--lora-r", "4"))
    with pytest.raises(TextgenError, match="^--no-merge: only applies with --lora"):
        train_config(parse("--no-merge"))
