"""The calibration cache is keyed by model shape, and tells the families apart."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from textgen_core.config import TrainConfig
from textgen_core.train import calibration_cache

SHAPE = dict(
    vocab_size=101,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
)


def key(model_type: str, **changes) -> str:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        AutoConfig.for_model(model_type, **{**SHAPE, **changes})
    )
    return calibration_cache.key(model, TrainConfig(), "fp32", 16)


def test_same_shape_of_another_family_is_calibrated_apart():
    keys = [key(t) for t in ("llama", "qwen2", "qwen3", "gemma3_text")]
    assert len(set(keys)) == 4


def test_a_shape_change_that_keeps_the_parameter_count_is_calibrated_apart():
    """Gemma's sliding window changes a step's attention cost, not its weights."""
    assert key("gemma3_text", sliding_window=8) != key("gemma3_text", sliding_window=16)
