"""--freeze-embeddings: only the embeddings (and the head tied to them) stay fixed."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from support.runs import LEAN_CONFIG

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.model.loading import (
    freeze_embeddings,
    load_model,
    load_tokenizer,
    parameter_counts,
)
from textgen_core.train.run import train


def test_freeze_embeddings_freezes_token_position_and_tied_head(tiny_model):
    tokenizer = load_tokenizer(str(tiny_model))
    model = load_model(str(tiny_model), tokenizer)
    assert sorted(freeze_embeddings(model)) == ["transformer.wpe.weight", "transformer.wte.weight"]
    assert not model.lm_head.weight.requires_grad  # tied to wte
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        not n.startswith(("transformer.wte", "transformer.wpe")) for n in trainable
    )


def test_short_run_with_frozen_embeddings_changes_only_the_rest_and_loss_falls(
    tmp_path, tiny_model, corpus_dir
):
    cfg = TrainConfig(
        model=str(tiny_model),
        max_steps=12,
        lr=3e-3,
        batch_size=8,
        early_stopping_patience=None,
        freeze_embeddings=True,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    results = train([corpus_dir], tmp_path / "out", cfg)
    tokenizer = load_tokenizer(str(tiny_model))
    before = load_model(str(tiny_model), tokenizer).state_dict()
    after = load_file(tmp_path / "out" / "model" / "model.safetensors")
    frozen = {"transformer.wte.weight", "transformer.wpe.weight"}
    for name, value in after.items():
        if name.endswith(".attn.bias") or name.endswith("masked_bias"):
            continue
        same = torch.equal(value, before[name])
        assert same == (name in frozen), name
    assert results["test_loss"] < results["base_test_loss"]
    assert results["trainable_parameters"] < results["total_parameters"]
    counts = parameter_counts(load_model(str(tiny_model), tokenizer))
    assert results["total_parameters"] == counts["total_parameters"]
