"""`textgen generate` and `textgen eval` take their flags from the settings
dataclasses, under the names and defaults they had."""

from __future__ import annotations

import argparse

from textgen_core.cli.flags import settings
from textgen_core.cli.main import build_parser
from textgen_core.config import DataConfig, DecodeConfig, EvalConfig, GenerateConfig

# The flags and defaults before they were derived from the dataclasses.
GENERATE_BEFORE = {
    "--revision": None,
    "--prompt": "",
    "--max-new-tokens": 100,
    "--temperature": 0.8,
    "--top-k": 50,
    "--top-p": 0.95,
    "--repetition-penalty": 1.1,
    "--seed": None,
    "--num-return-sequences": 1,
    "--stop": None,
    "--precision": "auto",
}
EVAL_BEFORE = {
    "--revision": None,
    "--chunk-size": 200,
    "--batch-size": 16,
    "--doc-separator": None,
    "--memorization": False,
}


def options(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {s for a in sub.choices[command]._actions for s in a.option_strings}


def test_generate_and_eval_keep_their_flags():
    assert set(GENERATE_BEFORE) <= options("generate")
    assert set(EVAL_BEFORE) <= options("eval")


def test_generate_defaults_are_the_ones_users_had():
    args = build_parser().parse_args(["generate", "m"])
    cfg, decode = settings(args, GenerateConfig), settings(args, DecodeConfig)
    assert cfg == GenerateConfig() and decode == DecodeConfig()
    had = {flag: value for flag, value in GENERATE_BEFORE.items() if value is not None}
    now = {
        "--prompt": args.prompt,
        "--max-new-tokens": cfg.max_new_tokens,
        "--temperature": cfg.temperature,
        "--top-k": cfg.top_k,
        "--top-p": cfg.top_p,
        "--repetition-penalty": cfg.repetition_penalty,
        "--num-return-sequences": cfg.num_return_sequences,
        "--precision": decode.precision,
    }
    assert now == had and cfg.seed is None and cfg.stop == []


def test_generate_flags_fill_the_settings_and_stop_repeats():
    argv = ["generate", "m", "--temperature", "0", "--seed", "3", "--stop", "a,b", "--stop", "c"]
    args = build_parser().parse_args([*argv, "--precision", "int8"])
    cfg = settings(args, GenerateConfig)
    assert (cfg.temperature, cfg.seed, cfg.stop) == (0.0, 3, ["a,b", "c"])
    assert settings(args, DecodeConfig).precision == "int8"


def test_eval_defaults_and_flags_come_from_data_and_eval_settings():
    args = build_parser().parse_args(["eval", "m", "p"])
    assert settings(args, DataConfig) == DataConfig() and settings(args, EvalConfig) == EvalConfig()
    assert (DataConfig().chunk_size, EvalConfig().batch_size) == (200, 16)
    args = build_parser().parse_args(
        ["eval", "m", "p", "--chunk-size", "64", "--doc-separator", "***", "--memorization"]
    )
    data, cfg = settings(args, DataConfig), settings(args, EvalConfig)
    assert (data.chunk_size, data.doc_separator, cfg.memorization) == (64, "***", True)
    assert "--val-fraction" not in options("eval")  # only how PATH is cut
