"""Frozen weights stored in bf16 while a bf16 run trains (LoRA, mostly).

Under bf16 autocast every linear layer casts its float32 weight to bf16 at each
forward pass, and autocast caches only the casts of weights that take gradients:
a frozen weight (every base weight of a LoRA run) is cast again at every step,
and its bf16 copy is held for the backward pass beside the float32 original.
A frozen weight whose values are bf16 numbers already (those of every published
bf16 checkpoint, loaded into float32 by textgen) loses nothing stored as bf16:
the autocast forward multiplies exactly the same numbers, the casts go, and the
weight takes half the memory (Qwen3-0.6B with LoRA: 1.1 GB less at its peak and
13% less time per step on a 2-core AMD EPYC, BENCHMARKS.md). Weights with other values are left alone, so a run's numbers
never change.

`bf16_frozen_weights(model, precision)` stores them so for the duration of a
`with` block (the training steps) and puts float32 back on exit; `float32_weights`
puts float32 back for the duration of a block inside it (evaluation, which runs
in float32, and samples). Anything else that runs the model outside autocast
meanwhile still multiplies in float32 (the layer widens its weight for that
call), only slower.

The LoRA branch wastes casts of its own: PEFT widens each LoRA layer's input to
its adapter's float32 dtype, and autocast narrows it back to bf16 for the
adapter's first product, so every targeted layer's input is copied twice a step
(and its gradient once more) to multiply the same numbers. `lora_inputs_as_given`
turns that widening off during a bf16 run's steps, with PEFT's own switch.
`bf16_steps` is the block a bf16 run's training steps run in: both, and the
attention of `kernels/short_attention.py`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from textgen_core.kernels.short_attention import short_sequence_attention


class Bf16FrozenLinear(torch.nn.Linear):
    """A frozen `nn.Linear` whose weight is stored in bf16 (the class of a layer
    while `bf16_frozen_weights` holds it: same parameters, same state-dict keys)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if not torch.is_autocast_enabled(x.device.type):
            weight = weight.to(x.dtype)  # exact: a bf16 value widened
        return F.linear(x, weight, self.bias)


def _exact_in_bf16(weight: torch.Tensor) -> bool:
    return torch.equal(weight, weight.to(torch.bfloat16).to(weight.dtype))


def _frozen_linears(model: torch.nn.Module) -> list[torch.nn.Linear]:
    """The frozen float32 linear layers holding bf16 numbers, but the LM head: the
    fused loss reads its weight, which is often the input embeddings' too."""
    head = model.get_output_embeddings()
    return [
        m
        for m in model.modules()
        if type(m) is torch.nn.Linear
        and m is not head
        and not m.weight.requires_grad
        and m.weight.dtype == torch.float32
        and _exact_in_bf16(m.weight.data)
    ]


def _store(layers, dtype, cls) -> None:
    for layer in layers:
        layer.weight.data = layer.weight.data.to(dtype)
        layer.__class__ = cls


@contextlib.contextmanager
def bf16_frozen_weights(model: torch.nn.Module, precision: str) -> Iterator[int]:
    """Within the block, in a bf16 run (`precision` resolved), the frozen linear
    weights of `model` whose values are bf16 numbers are stored as bf16; yields
    how many. Float32 again on exit, with the same values."""
    layers = _frozen_linears(model) if precision == "bf16" else []
    _store(layers, torch.bfloat16, Bf16FrozenLinear)
    try:
        yield len(layers)
    finally:
        _store(layers, torch.float32, torch.nn.Linear)


@contextlib.contextmanager
def float32_weights(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, the layers stored in bf16 by `bf16_frozen_weights` hold
    float32 weights again (one conversion each, not one per call)."""
    layers = [m for m in model.modules() if type(m) is Bf16FrozenLinear]
    _store(layers, torch.float32, torch.nn.Linear)
    try:
        yield
    finally:
        _store(layers, torch.bfloat16, Bf16FrozenLinear)


@contextlib.contextmanager
def lora_inputs_as_given(model: torch.nn.Module, precision: str) -> Iterator[None]:
    """Within the block, in a bf16 run, PEFT's LoRA layers take their input in the
    dtype it comes in (bf16, from the autocast product before them) instead of
    widening it to float32 first (with LoRA's bulk dropout: 22.3 -> 17.0 s a step
    and 11.2 -> 9.0 GB peak RSS on the Qwen3-0.6B architecture, BENCHMARKS.md)."""
    if precision != "bf16" or "peft" not in sys.modules:  # a LoRA model has imported peft
        yield
        return
    from peft.helpers import disable_input_dtype_casting

    with disable_input_dtype_casting(model):
        yield


@contextlib.contextmanager
def bf16_steps(model: torch.nn.Module, precision: str) -> Iterator[int]:
    """The block a run's training steps run in: in a bf16 run, frozen weights
    stored in bf16 (`bf16_frozen_weights`, whose count it yields), LoRA inputs
    left in bf16 (`lora_inputs_as_given`) and short rows' attention materialized
    (`kernels.short_attention`); nothing otherwise."""
    with (
        bf16_frozen_weights(model, precision) as stored,
        lora_inputs_as_given(model, precision),
        short_sequence_attention(model, precision),
    ):
        yield stored
