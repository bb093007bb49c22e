"""Tiny training runs: the one config factory the in-process tests train with, and
the `textgen train` command line the subprocess tests run."""

from __future__ import annotations

import os
import sys

import pytest
from safetensors.torch import load_file

from support import zygote
from support.models import FAMILIES
from support.servers import with_repo_path
from textgen_core.config import DataConfig, TrainConfig

# The memorization report and the samples at each evaluation take about half of a
# tiny run's time: tests of other things leave them out, their own tests keep them.
NO_MEMORIZATION = ["--memorization-prompts", "0"]
LEAN = [*NO_MEMORIZATION, "--sample-tokens", "0"]
LEAN_CONFIG = dict(memorization_prompts=0, sample_tokens=0)
REPORTS = dict(
    memorization_prompts=TrainConfig.memorization_prompts, sample_tokens=TrainConfig.sample_tokens
)
"""The memorization report and the samples at their defaults (what LEAN_CONFIG leaves out)."""


# The family matrix (tests/families/conftest.py): every family, fully fine-tuned and
# with LoRA, each trained once per session by `textgen train` with these settings.
MODES = ("full", "lora")
MODE_ARGS = {"full": [], "lora": ["--lora"]}
TRAIN_ARGS = [
    "--max-steps", "3", "--batch-size", "4", "--chunk-size", "32", "--eval-steps", "3",
    "--lr", "5e-3", "--early-stopping-patience", "0", "--memorization-prompts", "2",
    "--sample-tokens", "8", "--quiet",
]  # fmt: skip


MATRIX = [pytest.param(f, m, id=f"{f}-{m}") for f in FAMILIES for m in MODES]
"""(model_type, mode) of every run of the matrix, as pytest parameters."""


def tiny_config(model, **overrides) -> TrainConfig:
    """A tiny run of `model`: 2 epochs at lr 3e-3 in chunks of 64 tokens, batches of 8,
    no early stopping, no memorization report, no samples (`overrides` change any)."""
    values = dict(
        model=str(model),
        epochs=2,
        lr=3e-3,
        batch_size=8,
        early_stopping_patience=None,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    return TrainConfig(**{**values, **overrides})


def cli_command(out, corpus, model, resume=False, extra=(), samples=False) -> list[str]:
    """`textgen train` of a tiny run: 2 epochs, a checkpoint every 5 steps, no
    memorization report, and samples only with `samples`."""
    cmd = [
        sys.executable,
        "-m",
        "textgen_core",
        "train",
        str(corpus),
        "--output",
        str(out),
        "--model",
        str(model),
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--chunk-size",
        "64",
        "--eval-steps",
        "5",
        "--early-stopping-patience",
        "0",
        "--quiet",
        *(NO_MEMORIZATION if samples else LEAN),
    ]
    return cmd + (["--resume"] if resume else []) + list(extra)


def cli_train(out, corpus, model, fault=None, resume=False, extra=(), env=(), samples=False):
    return zygote.run(
        cli_command(out, corpus, model, resume, extra, samples),
        env=with_repo_path({**os.environ, "TEXTGEN_FAULT": fault or "", **dict(env)}),
        timeout=600,
    )


def weights(out):
    return load_file(str(out / "model" / "model.safetensors"))
