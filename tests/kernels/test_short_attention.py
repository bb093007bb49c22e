"""Short bf16 rows' causal attention materialized while training: the same step
as sdpa's (to bf16's precision) on every family with grouped or plain heads,
taken only where it holds, and sdpa again after the block."""

from __future__ import annotations

import pytest
import torch
from support.models import TINY_FAMILIES
from transformers import AutoConfig, AutoModelForCausalLM

from textgen_core.kernels import short_attention
from textgen_core.kernels.lm_loss import causal_lm_loss
from textgen_core.kernels.short_attention import MAX_TOKENS, short_sequence_attention

FAMILIES = ["llama", "qwen2", "qwen3", "gemma3_text"]


def tiny(model_type):
    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, **{**TINY_FAMILIES[model_type], "vocab_size": 256})
    return AutoModelForCausalLM.from_config(config).train()


def batch(tokens=48, padded=False):
    ids = torch.randint(0, 256, (2, tokens), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    if padded:
        mask[1, -5:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": ids}


@pytest.fixture
def taken(monkeypatch):
    """How many attention calls materialized and how many went to sdpa."""
    counts = {True: 0, False: 0}
    original = short_attention._materialize

    def spy(*args, **kwargs):
        answer = bool(original(*args, **kwargs))
        counts[answer] += 1
        return answer

    monkeypatch.setattr(short_attention, "_materialize", spy)
    return counts


def bf16_step(model, rows, block):
    model.zero_grad()
    with block, torch.autocast("cpu", dtype=torch.bfloat16):
        loss = causal_lm_loss(model, **rows)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_a_bf16_step_matches_sdpa_and_every_layer_materializes(model_type, taken):
    model = tiny(model_type)
    rows = batch()
    sdpa_loss, sdpa_grads = bf16_step(model, rows, torch.enable_grad())
    loss, grads = bf16_step(model, rows, short_sequence_attention(model, "bf16"))
    assert taken == {True: model.config.num_hidden_layers, False: 0}
    assert loss == pytest.approx(sdpa_loss, rel=2e-3)
    for mine, theirs in zip(grads, sdpa_grads, strict=True):
        assert torch.allclose(mine, theirs, rtol=0.05, atol=0.02 * theirs.abs().max().item())
    assert model.config._attn_implementation == "sdpa"


def test_padded_long_or_gradient_free_calls_fp32_and_checkpointed_runs_stay_on_sdpa(taken):
    model = tiny("llama")
    layers = model.config.num_hidden_layers
    for rows in (batch(padded=True), batch(tokens=MAX_TOKENS + 1)):
        bf16_step(model, rows, short_sequence_attention(model, "bf16"))
    with short_sequence_attention(model, "bf16"), torch.no_grad():
        model(**batch())
    assert taken == {True: 0, False: 3 * layers}
    with short_sequence_attention(model, "fp32"):
        assert model.config._attn_implementation == "sdpa"
    model.activation_checkpointing_enable()
    with short_sequence_attention(model, "bf16"):
        assert model.config._attn_implementation == "sdpa"


def test_sdpa_comes_back_when_the_block_raises():
    model = tiny("llama")
    with pytest.raises(RuntimeError), short_sequence_attention(model, "bf16"):
        assert model.config._attn_implementation == short_attention.NAME
        raise RuntimeError("a failed step")
    assert model.config._attn_implementation == "sdpa"


def test_a_layer_keeps_only_bf16_probabilities_for_its_backward():
    """The memory a materialized step costs: per layer one batch x heads x tokens^2
    copy of the probabilities, in bf16 (transformers' eager attention keeps a float32
    copy beside it, 2x the bytes)."""
    model = tiny("llama")
    rows, tokens = batch(), batch()["input_ids"].shape[1]
    kept = []

    def pack(tensor):
        if tensor.shape[-2:] == (tokens, tokens):
            kept.append((tensor.dtype, tensor.untyped_storage().data_ptr()))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        bf16_step(model, rows, short_sequence_attention(model, "bf16"))
    layers = model.config.num_hidden_layers
    assert {dtype for dtype, _ in kept} == {torch.bfloat16}
    assert len({storage for _, storage in kept}) == layers
