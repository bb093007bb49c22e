"""--activation-checkpointing trades time for memory and nothing else: the same
run with and without it takes the same steps to the same weights and losses."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from support.runs import LEAN_CONFIG

from textgen_core.config import DataConfig, LoraConfig, TrainConfig
from textgen_core.kernels import cpu_matmul
from textgen_core.train.run import train


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_checkpointed_run_equals_the_plain_one(
    tmp_path, family_model, corpus_dir, lora, monkeypatch
):
    # fp32 products go through oneDNN where the CPU allows it, as on AMD CPUs with
    # AVX-512 by default: a recompute outside that routing once saved other tensors
    # than the forward had (CheckpointError), so it is exercised on every x86 machine.
    monkeypatch.setattr(
        cpu_matmul, "onednn_preferred", lambda decoding=False: cpu_matmul.onednn_matmul_available()
    )
    model = family_model("llama")
    runs = {}
    for checkpointing in (False, True):
        out = tmp_path / f"checkpointing_{checkpointing}"
        cfg = TrainConfig(
            model=str(model),
            max_steps=4,
            lr=3e-3,
            batch_size=4,
            early_stopping_patience=None,
            lora=LoraConfig(merge=True) if lora else None,
            activation_checkpointing=checkpointing,
            data=DataConfig(chunk_size=64),
            **LEAN_CONFIG,
        )
        runs[checkpointing] = (train([corpus_dir], out, cfg), out)
    (plain, plain_out), (checkpointed, checkpointed_out) = runs[False], runs[True]
    assert checkpointed["steps"] == plain["steps"] == 4
    assert checkpointed["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-5)
    assert checkpointed["test_loss"] == pytest.approx(plain["test_loss"], rel=1e-5)
    assert checkpointed["test_loss"] < checkpointed["base_test_loss"]
    mine = load_file(checkpointed_out / "model" / "model.safetensors")
    theirs = load_file(plain_out / "model" / "model.safetensors")
    assert mine.keys() == theirs.keys()
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], rtol=1e-4, atol=1e-6, msg=name)
    configs = [json.loads((out / "model" / "config.json").read_text()) for out in (
        checkpointed_out, plain_out)]  # fmt: skip
    assert configs[0] == configs[1]  # the saved model carries no trace of it
