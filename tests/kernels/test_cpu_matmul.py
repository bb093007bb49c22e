"""oneDNN-routed matmuls and the one-kernel GELU compute the same fp32 math."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.activations import NewGELUActivation

from textgen_core.kernels import cpu_matmul
from textgen_core.kernels.cpu_matmul import fast_cpu_matmuls, fused_gelu, onednn_matmul_available

needs_onednn = pytest.mark.skipif(not onednn_matmul_available(), reason="no oneDNN matmul")


@pytest.fixture(autouse=True)
def _route_to_onednn(monkeypatch):
    """Exercise the routing on every CPU (by default it is off on Intel CPUs, and for
    training on CPUs without AVX-512)."""
    monkeypatch.setattr(
        cpu_matmul, "onednn_preferred", lambda decoding=False: onednn_matmul_available()
    )


@needs_onednn
@pytest.mark.parametrize(
    ("vendor", "flags", "env", "decoding", "routed"),
    [
        ("AuthenticAMD", {"avx2", "avx512f"}, "auto", False, True),
        ("AuthenticAMD", {"avx2"}, "auto", False, False),
        ("AuthenticAMD", {"avx2"}, "auto", True, True),
        ("AuthenticAMD", {"avx2"}, "onednn", False, True),
        ("AuthenticAMD", {"avx2", "avx512f"}, "default", True, False),
        ("GenuineIntel", {"avx2", "avx512f"}, "auto", False, False),
        ("GenuineIntel", {"avx2", "avx512f"}, "auto", True, False),
        ("GenuineIntel", {"avx2", "avx512f"}, "onednn", False, True),
    ],
)
def test_onednn_is_preferred_where_it_was_measured_faster(
    monkeypatch, vendor, flags, env, decoding, routed
):
    """Training's products on AMD CPUs with AVX-512; decoding's on any AMD CPU;
    never on Intel's unless asked."""
    monkeypatch.undo()  # the real policy, not the fixture's
    monkeypatch.setenv("TEXTGEN_CPU_MATMUL", env)
    monkeypatch.setattr(cpu_matmul, "_cpu_vendor", lambda: vendor)
    monkeypatch.setattr(cpu_matmul, "cpu_flags", lambda: flags)
    cpu_matmul.onednn_matmul_available.cache_clear()
    cpu_matmul.onednn_preferred.cache_clear()
    try:
        assert cpu_matmul.onednn_preferred(decoding) is routed
    finally:
        cpu_matmul.onednn_preferred.cache_clear()
        cpu_matmul.onednn_matmul_available.cache_clear()


def leaves(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 5, 8, generator=g, requires_grad=True)
    weight = torch.randn(6, 8, generator=g, requires_grad=True)
    bias = torch.randn(6, generator=g, requires_grad=True)
    return x, weight, bias


def grads_of(fn, tensors):
    out = fn(*tensors)
    out.backward(torch.ones_like(out))
    return out.detach(), [None if t.grad is None else t.grad.clone() for t in tensors]


@needs_onednn
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w, b: F.linear(x, w, b),
        lambda x, w, b: F.linear(x, w),
        lambda x, w, b: torch.addmm(b, x.view(-1, 8), w.t()),  # GPT-2's Conv1D
        lambda x, w, b: torch.mm(x.view(-1, 8), w.t()) + b,
    ],
    ids=["linear", "linear-no-bias", "addmm", "mm"],
)
def test_routed_products_match_pytorch_in_value_and_grads(fn):
    ref_out, ref_grads = grads_of(fn, leaves())
    with fast_cpu_matmuls():
        out, grads = grads_of(fn, leaves())
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_float64_and_batched_products_are_left_to_pytorch():
    a = torch.randn(3, 4, 5, dtype=torch.float64)
    b = torch.randn(3, 5, 2, dtype=torch.float64)
    with fast_cpu_matmuls():
        torch.testing.assert_close(torch.bmm(a, b), a @ b)
        torch.testing.assert_close(F.linear(a, b[0].T), a @ b[0])


@pytest.mark.parametrize("decoding", [False, True])
def test_a_model_off_the_cpu_runs_without_the_hook(decoding):
    """The mode's Python hook sees every op of a forward: a GPU model (here on the
    meta device) must not pay it, while a CPU model still gets the routing."""
    config = GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=16)
    on_cpu = GPT2LMHeadModel(config)
    with torch.device("meta"):
        elsewhere = GPT2LMHeadModel(config)
    with fast_cpu_matmuls(on_cpu, decoding=decoding):
        assert torch._C._is_torch_function_mode_enabled() is onednn_matmul_available()
    with fast_cpu_matmuls(elsewhere, decoding=decoding):
        assert not torch._C._is_torch_function_mode_enabled()


def test_fused_gelu_swaps_only_inside_the_block_and_keeps_outputs():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 50, (2, 7))
    ref = model(ids).logits
    with fused_gelu(model):
        assert not any(type(m) is NewGELUActivation for m in model.modules())
        got = model(ids).logits
    assert sum(type(m) is NewGELUActivation for m in model.modules()) == 2
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_reuse_freed_memory_is_safe_to_call_twice():
    from textgen_core.kernels.memory import reuse_freed_memory

    first = reuse_freed_memory()
    assert reuse_freed_memory() == first
    assert torch.ones(1 << 20).sum() == 1 << 20
