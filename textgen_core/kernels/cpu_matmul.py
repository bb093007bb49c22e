"""Running the same fp32 math faster on CPU: matrix products through oneDNN
instead of MKL, and GPT-2's tanh-GELU as one kernel instead of eight.

PyTorch sends float32 `mm`/`addmm`/`linear` on x86 CPUs to MKL. On AMD CPUs
with AVX-512 MKL does not use its AVX-512 kernels, while oneDNN (also bundled
with PyTorch) detects the instruction set itself: on a 2-core AMD EPYC with
AVX-512 oneDNN runs the GPT-2 shapes at ~190 GFLOP/s against MKL's ~90, in plain
IEEE fp32 (no reduced-precision math); see BENCHMARKS.md. Where the CPU has no
AVX-512, MKL's AVX2 kernels run training's products faster (an AVX2-only AMD
EPYC: MKL 171, oneDNN 87 GFLOP/s) but decoding's few-row products slower; on
Intel CPUs MKL is the faster: `onednn_preferred` decides.

`fast_cpu_matmuls()` is a context manager that routes the 2-D products of
linear layers (`F.linear`, `torch.addmm` as in GPT-2's Conv1D, and the LM head)
through oneDNN with a custom autograd function, so backward uses oneDNN too.
Nothing about the model changes: no patched modules, nothing saved differently.
Anything it does not recognise (other devices or dtypes, batched products,
attention), and everything under CPU autocast, goes to PyTorch unchanged. Set
TEXTGEN_CPU_MATMUL=default to turn it off, =onednn to turn it on where MKL is kept.

`fused_gelu(model)` swaps transformers' `NewGELUActivation` (GPT-2's
"gelu_new", written as eight element-wise ops) for `F.gelu(approximate="tanh")`,
the same formula in one kernel, for the duration of a forward pass only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from textgen_core.cpuinfo import cpu_flags, cpuinfo_field


@functools.cache
def onednn_matmul_available() -> bool:
    """oneDNN fp32 matmul is usable: x86-64 build with MKLDNN and the op present."""
    if os.environ.get("TEXTGEN_CPU_MATMUL", "auto") not in ("auto", "onednn"):
        return False
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        op = torch.ops.mkldnn._linear_pointwise
        a = torch.ones(2, 3)
        return bool(
            torch.equal(op(a, torch.ones(4, 3), None, "none", [], ""), torch.full((2, 4), 3.0))
        )
    except (AttributeError, RuntimeError):
        return False


def _cpu_vendor() -> str:
    return cpuinfo_field("vendor_id")


@functools.cache
def onednn_preferred(decoding: bool = False) -> bool:
    """Route float32 products to oneDNN: where it is available and either asked
    for (TEXTGEN_CPU_MATMUL=onednn) or the CPU is not Intel's and has AVX-512,
    or, for `decoding` (a few rows per product: one new token per sequence),
    any CPU not Intel's. Measured side by side (BENCHMARKS.md): on AMD CPUs with
    AVX-512 oneDNN ran GPT-2's MLP shape 1.1-2.4x faster than MKL; on an
    AVX2-only AMD EPYC MKL ran a training step's products (forward and backward)
    1.4-1.6x faster and a distilgpt2 step 1.4x faster, while oneDNN ran 8-row
    products 1.3-2.3x faster (2 threads); on a Sapphire Rapids Xeon MKL ran the
    MLP shape at 40-62 GFLOP/s against oneDNN's ~20."""
    choice = os.environ.get("TEXTGEN_CPU_MATMUL", "auto")
    if not onednn_matmul_available():
        return False
    if choice == "onednn":
        return True
    return _cpu_vendor() != "GenuineIntel" and (decoding or "avx512f" in cpu_flags())


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None):
    """x @ weight.T (+ bias) for 2-D float32 CPU tensors; no autograd."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


def onednn_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b for 2-D float32 CPU tensors; no autograd. Strided views are fine."""
    return onednn_linear(a, b.t())


def _usable(*tensors: torch.Tensor | None) -> bool:
    return all(
        t is None or (t.device.type == "cpu" and t.dtype == torch.float32 and not t.is_sparse)
        for t in tensors
    )


class _Linear(torch.autograd.Function):
    """y = x @ weight_t + bias with x 2-D and weight_t (in, out), both passes on oneDNN."""

    @staticmethod
    def forward(ctx: Any, x, weight_t, bias):
        ctx.save_for_backward(x, weight_t)
        ctx.has_bias = bias is not None
        return onednn_linear(x, weight_t.t(), bias)

    @staticmethod
    def backward(ctx: Any, grad):
        x, weight_t = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = onednn_mm(grad, weight_t.t()) if ctx.needs_input_grad[0] else None
        grad_w = onednn_mm(x.t(), grad) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _linear(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, weight_t, bias)
    ):
        return _Linear.apply(x, weight_t, bias)
    return onednn_linear(x, weight_t.t(), bias)


class OneDnnMatmuls(TorchFunctionMode):
    """Routes `F.linear` and plain `torch.addmm`/`torch.mm` on CPU float32 to oneDNN."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if torch.is_autocast_enabled("cpu"):
            # Under bf16 autocast PyTorch already runs these products on oneDNN
            # (bf16, AMX or AVX512_BF16); routing them here would keep them fp32.
            return func(*args, **kwargs)
        if func is F.linear:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if _usable(x, weight, bias) and weight.dim() == 2 and x.dim() >= 2:
                flat = x.reshape(-1, x.shape[-1])
                return _linear(flat, weight.t(), bias).view(*x.shape[:-1], weight.shape[0])
        elif func is torch.addmm and not kwargs and len(args) == 3:
            bias, x, weight_t = args
            if _usable(bias, x, weight_t) and bias.dim() == 1 and x.dim() == 2:
                return _linear(x, weight_t, bias)
        elif func is torch.mm and not kwargs and len(args) == 2:
            if _usable(*args):
                return _linear(args[0], args[1], None)
        return func(*args, **kwargs)


def recomputes(model: torch.nn.Module) -> bool:
    """Whether `model` recomputes its blocks' forward in the backward pass
    (activation checkpointing). The recompute runs outside any context its
    forward ran in, and must save exactly what the forward saved, so the
    contexts below stand aside for such a model."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def _on_cpu(model: torch.nn.Module) -> bool:
    weight = next(model.parameters(), None)
    return weight is None or weight.device.type == "cpu"


@contextlib.contextmanager
def fast_cpu_matmuls(
    model: torch.nn.Module | None = None, decoding: bool = False
) -> Iterator[None]:
    """Run the enclosed forward's linear layers (of `model`, when given) on oneDNN
    where that is preferred (for `decoding`: see `onednn_preferred`), unless
    `model` is not on the CPU (the mode's Python hook runs for every op of the
    forward: a GPU step would pay it with nothing routed) or recomputes its
    layers in a backward (training only)."""
    if not onednn_preferred(decoding) or (
        model is not None and (not _on_cpu(model) or (not decoding and recomputes(model)))
    ):
        yield
        return
    with OneDnnMatmuls():
        yield


@contextlib.contextmanager
def fused_gelu(model: torch.nn.Module) -> Iterator[None]:
    """Within the block, GPT-2's python tanh-GELU modules are replaced by the
    single-kernel `F.gelu(x, approximate="tanh")`: the same function (results
    agree to float rounding), ~2x less time and memory traffic. The model is
    restored on exit; autograd graphs built inside keep working. Nothing is
    swapped in a model that recomputes its forward (`recomputes`)."""
    from transformers.activations import GELUTanh, NewGELUActivation

    if recomputes(model):
        yield
        return
    swapped = []
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is NewGELUActivation:
                swapped.append((module, name, child))
    try:
        for module, name, _ in swapped:
            setattr(module, name, GELUTanh())
        yield
    finally:
        for module, name, child in swapped:
            setattr(module, name, child)
