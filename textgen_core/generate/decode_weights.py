"""Decoding from smaller weights: bf16 or int8 copies of a model for CPU.

Generating one token for one stream reads every weight once for a handful of
FLOPs, so on CPU it is bound by memory traffic, not arithmetic: weights half
(bf16) or a quarter (int8) the size are read that much faster.

- `bf16`: the whole model cast to bfloat16, where the CPU computes bf16
  natively (AVX512_BF16 or AMX); refused elsewhere (emulated bf16 is slower).
- `int8`: PyTorch's dynamic quantization (`torch.ao.quantization.quantize_dynamic`):
  the weights of linear layers stored as int8 with a per-tensor scale, the
  activations quantized on the fly. GPT-2's attention and MLP use
  transformers' `Conv1D` (a linear layer with its weight stored transposed),
  which quantize_dynamic does not know; those are first turned into
  equivalent `nn.Linear` layers. The tied LM head becomes an int8 copy; the
  input embeddings stay float32.
- `fp32` (and `auto`, for now: outputs then stay identical to before): unchanged.

Which of them a `--precision` value means here is `textgen_core.precision.resolve_decode`.

Greedy outputs of bf16 and int8 can differ from fp32's where two tokens are
nearly tied; benchmarks/generate_throughput.py reports the divergence rate.
"""

from __future__ import annotations

from textgen_core.errors import TextgenError
from textgen_core.precision import resolve_decode


def _conv1d_to_linear(model) -> None:
    """Replace every transformers Conv1D (y = x @ W + b, W: in x out) by the
    same map as an nn.Linear (W stored out x in), in place."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.nf)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(module, name, linear)


def for_decoding(model, precision: str):
    """A model that decodes in `precision` (resolved: fp32, bf16, int8). fp32
    returns `model` itself; bf16 and int8 return a converted copy, leaving the
    original untouched."""
    import copy

    import torch

    if precision == "fp32":
        return model
    fast = copy.deepcopy(model).eval()
    if precision == "bf16":
        return fast.to(torch.bfloat16)
    if precision != "int8":
        raise TextgenError(f"--precision: cannot decode in {precision!r}")
    _conv1d_to_linear(fast)
    head = fast.get_output_embeddings()
    if head is not None and head.weight is fast.get_input_embeddings().weight:
        # Untie, so quantizing the head leaves the float input embeddings alone.
        head.weight = torch.nn.Parameter(head.weight.detach().clone())
    import warnings

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # PyTorch marks torch.ao quantization deprecated in favour of torchao;
        # it still ships and works in this torch. Don't print that at users.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return quantize_dynamic(fast, {torch.nn.Linear}, dtype=torch.qint8)


def load_for_decoding(name: str, precision: str = "auto", revision: str | None = None):
    """(model, tokenizer) of `name` (see model.loading.load_for_inference),
    converted for decoding in `precision`."""
    from textgen_core.model.loading import load_for_inference

    model, tokenizer = load_for_inference(name, revision=revision)
    device = next(model.parameters()).device.type
    return for_decoding(model, resolve_decode(precision, device)), tokenizer
