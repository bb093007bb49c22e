"""Causal attention over short bf16 sequences, materialized, while training on CPU.

PyTorch's CPU flash attention (what `sdpa` runs) is slow in bf16 for the short
rows textgen trains on by default (200 tokens): it works through blocks too
small to keep its products busy and recomputes the probabilities in the
backward pass. Forming the scores with two batched products and a float32
softmax, and keeping the probabilities for the backward pass (as transformers'
`eager` attention does, on a causal mask drawn here), took 17.9 against 25.4 ms
for one SmolLM2-135M layer's forward and backward (8 x 200 tokens), 45 against
71 ms for Qwen3-0.6B's, 20 against 29 ms for Gemma-3-270M's, on a 2-core AMD
EPYC with AVX-512 BF16; at 256 tokens the two were mixed and at 512 flash
attention took half the time, and in float32 flash attention won at every
length, hence the bounds below (benchmarks/attention_layer.py measures all three
ways). The price is memory: the bf16 probabilities kept per layer, batch x
heads x tokens^2 x 2 bytes (0.17 GB over SmolLM2's 30 layers at 8 x 200).
transformers' eager attention keeps their float32 softmax as well (3x the
bytes); here the softmax keeps only its bf16 result (`_SoftmaxToBf16`).

`short_sequence_attention(model, precision)` makes a bf16 run's model use it for
the duration of a `with` block (the training steps). Every other call (a padded
batch's mask, evaluation without gradients, decoding, longer rows, dropout or
soft-capping in the attention) goes to `sdpa` as before, and so does every call
of a run with activation checkpointing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch

NAME = "textgen_short_bf16"
"""The attention implementation's name in transformers' registry."""

MAX_TOKENS = 200
"""The longest row it materializes: faster in every family's shape measured at
128 and 200 tokens (see above); at 256 mixed on one day and faster on another
(BENCHMARKS.md), so 200 until whole steps at 256 are measured."""


def _compute_dtype(query: torch.Tensor) -> torch.dtype:
    """The dtype attention multiplies in: autocast's (the rotary embedding
    hands float32 queries to it) or the query's own."""
    if torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu")
    return query.dtype


def _materialize(module, query, key, value, attention_mask, dropout=0.0, **kwargs) -> bool:
    """Whether this call is one it takes: a training step's causal attention
    (no mask: transformers passes none for unpadded causal rows) on CPU in
    bf16, short, without dropout, soft-capping, biases or sinks."""
    length = query.shape[2]
    return (
        query.device.type == "cpu"
        and hasattr(module, "num_key_value_groups")
        and _compute_dtype(query) == torch.bfloat16
        and torch.is_grad_enabled()
        and attention_mask is None
        and kwargs.get("is_causal", getattr(module, "is_causal", True))
        and 1 < length == key.shape[2] <= MAX_TOKENS
        and not dropout
        and all(kwargs.get(name) is None for name in ("softcap", "position_bias", "s_aux"))
    )


@functools.lru_cache(maxsize=4)
def causal_mask(length: int) -> torch.Tensor:
    """The additive bf16 causal mask of `length` rows (0 on and below the
    diagonal, -inf above), drawn once per length rather than in every layer's
    call; only read."""
    future = torch.ones(length, length, dtype=torch.bool).triu_(1)
    return torch.zeros(length, length, dtype=torch.bfloat16).masked_fill_(future, float("-inf"))


class _SoftmaxToBf16(torch.autograd.Function):
    """softmax(scores in float32) in bf16, keeping only that bf16 result for the
    backward pass. transformers' eager attention (`softmax(..., dtype=float32)
    .to(bf16)`) keeps the float32 probabilities as well (twice the bytes of the
    bf16 ones the value product keeps): 0.35 GB over SmolLM2-135M's 30 layers at
    8 x 200 tokens. The backward, y * (g - sum(y * g)), is PyTorch's own softmax
    backward kernel run on the bf16 probabilities, which the value product
    multiplies with anyway (gradients within bf16's step of eager's)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(torch.bfloat16)
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (probs,) = ctx.saved_tensors
        return torch.ops.aten._softmax_backward_data(grad, probs, -1, torch.bfloat16)


def _materialized(module, query, key, value, scaling: float) -> torch.Tensor:
    """Causal attention with the probabilities formed in full (as transformers'
    `eager_attention_forward`, on a causal mask drawn here); batch x tokens x
    heads x width."""
    from transformers.models.llama.modeling_llama import repeat_kv

    dtype = _compute_dtype(query)
    query, key, value = (t.to(dtype) for t in (query, key, value))
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    scores = torch.matmul(query, key.transpose(2, 3)).mul_(scaling)
    scores.add_(causal_mask(query.shape[2]))
    probs = _SoftmaxToBf16.apply(scores)
    return torch.matmul(probs, value).transpose(1, 2).contiguous()


def attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """transformers' attention-function signature; returns (output as batch x
    tokens x heads x width, None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if not _materialize(module, query, key, value, attention_mask, dropout, **kwargs):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    return _materialized(module, query, key, value, scaling), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # masks as sdpa gets them


@contextlib.contextmanager
def short_sequence_attention(model: torch.nn.Module, precision: str) -> Iterator[None]:
    """Within the block, in a bf16 run of a model on `sdpa` attention, its
    attention materializes short causal rows (above); `sdpa` again on exit. Not
    with activation checkpointing, which is asked for to keep less memory."""
    config = getattr(model, "config", None)
    if (
        precision != "bf16"
        or getattr(config, "_attn_implementation", None) != "sdpa"
        or getattr(model, "is_activation_checkpointing", False)
    ):
        yield
        return
    _register()
    model.set_attn_implementation(NAME)
    try:
        yield
    finally:
        model.set_attn_implementation("sdpa")
