"""bf16 mixed precision: the fused loss and the matmul routing follow autocast,
and `--precision` resolves to what the device can run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from transformers import GPT2Config, GPT2LMHeadModel

from textgen_core import precision
from textgen_core.errors import TextgenError
from textgen_core.kernels import linear_cross_entropy
from textgen_core.kernels.cpu_matmul import fast_cpu_matmuls
from textgen_core.kernels.linear_cross_entropy import (
    IGNORE_INDEX,
    chunk_groups,
    fused_linear_cross_entropy,
    row_chunks,
)
from textgen_core.kernels.lm_loss import causal_lm_loss

needs_bf16 = pytest.mark.skipif(not precision.cpu_bf16_native(), reason="no native CPU bf16")


def rows(n=300, width=64, vocab=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, width, generator=g)
    weight = torch.randn(vocab, width, generator=g) * 0.2
    targets = torch.randint(0, vocab, (n,), generator=g)
    targets[::7] = IGNORE_INDEX
    return hidden, weight, targets


def loss_and_grads(fn, hidden, weight):
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = fn(h, w)
    loss.backward()
    return loss.detach(), h.grad, w.grad


def stock_head_loss(targets):
    """What transformers does: the head as a linear layer (bf16 under autocast),
    then cross-entropy on float32 logits."""
    return lambda h, w: F.cross_entropy(F.linear(h, w).float(), targets, ignore_index=IGNORE_INDEX)


def fused_loss(targets, chunk_rows=128):
    return lambda h, w: fused_linear_cross_entropy(h, w, targets, chunk_rows=chunk_rows)


@needs_bf16
@pytest.mark.parametrize("chunk_rows", [128, 8])  # 8: the weight gradient summed over groups
def test_fused_loss_under_bf16_autocast_matches_the_autocast_reference(chunk_rows):
    hidden, weight, targets = rows()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = loss_and_grads(stock_head_loss(targets), hidden, weight)
        got = loss_and_grads(fused_loss(targets, chunk_rows), hidden, weight)
    exact = loss_and_grads(stock_head_loss(targets), hidden.double(), weight.double())
    for r, g in zip(ref, got, strict=True):
        assert g.dtype == torch.float32  # master weights and their gradients stay float32
        torch.testing.assert_close(g, r, rtol=2e-2, atol=2e-3)
    # The products really ran in bf16: the fused result carries bf16 rounding
    # (it is not the float32 answer), the same size of error as the reference's.
    fp32_err = (loss_and_grads(fused_loss(targets), hidden, weight)[2] - exact[2]).abs().max()
    bf16_err = (got[2] - exact[2]).abs().max()
    ref_err = (ref[2] - exact[2]).abs().max()
    assert bf16_err > 10 * fp32_err
    assert bf16_err < 3 * ref_err


class WeightSizedProducts(TorchFunctionMode):
    """Counts the matrix products whose result has `shape`."""

    def __init__(self, shape):
        super().__init__()
        self.shape, self.count = tuple(shape), 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.mm and tuple(out.shape) == self.shape:
            self.count += 1
        return out


@needs_bf16
def test_small_bf16_chunks_sum_their_weight_gradient_in_groups(monkeypatch):
    """A large vocabulary's chunks are small; one weight-sized product (and one
    pass over the float32 weight gradient) per group of chunks, not per chunk."""
    monkeypatch.setattr(linear_cross_entropy, "WEIGHT_GRAD_ROWS", 100)
    hidden, weight, targets = rows()
    counted = int((targets != IGNORE_INDEX).sum())  # 257 rows: 33 chunks of at most 8
    with torch.autocast("cpu", dtype=torch.bfloat16), WeightSizedProducts(weight.shape) as mm:
        loss_and_grads(fused_loss(targets, chunk_rows=8), hidden, weight)
    assert mm.count == len(chunk_groups(row_chunks(counted, 8), 100)) == 3


def test_chunk_groups_keep_order_and_hold_at_most_the_rows_asked():
    chunks = row_chunks(257, 8)
    groups = chunk_groups(chunks, 100)
    assert [c for g in groups for c in g] == chunks
    assert all(sum(c.stop - c.start for c in g) <= 100 for g in groups)
    assert chunk_groups(row_chunks(300, 150), 100) == [[slice(0, 150)], [slice(150, 300)]]


@needs_bf16
def test_bf16_and_fp32_first_step_loss_agree_within_bf16_tolerance():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=500, n_positions=64, n_embd=64, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 500, (4, 48), generator=torch.Generator().manual_seed(1))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    fp32 = causal_lm_loss(model, **batch)
    with precision.autocast("bf16"):
        bf16 = causal_lm_loss(model, **batch)
    assert bf16.dtype == torch.float32
    assert not torch.equal(bf16, fp32)  # autocast took effect
    torch.testing.assert_close(bf16, fp32, rtol=1e-2, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).loss, fp32, rtol=1e-5, atol=1e-6)


def test_onednn_routing_leaves_autocast_products_in_bf16():
    x, weight = torch.randn(6, 8), torch.randn(5, 8)
    with fast_cpu_matmuls(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert F.linear(x, weight).dtype == torch.bfloat16
        assert torch.addmm(torch.zeros(5), x, weight.t()).dtype == torch.bfloat16
    with fast_cpu_matmuls():
        assert F.linear(x, weight).dtype == torch.float32


def test_precision_resolves_per_device(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    assert precision.resolve("auto", "cpu") == ("bf16" if precision.AUTO_CPU_BF16 else "fp32")
    assert precision.resolve("bf16", "cpu") == "bf16"
    assert precision.resolve("fp32", "cpu") == "fp32"
    if precision.AUTO_CPU_BF16:  # tiny models keep fp32: their products are too small
        assert precision.resolve("auto", "cpu", width=32) == "fp32"
        assert precision.resolve("auto", "cpu", width=768) == "bf16"
        assert precision.resolve("bf16", "cpu", width=32) == "bf16"  # asked for: honoured
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    assert precision.resolve("auto", "cpu") == "fp32"
    with pytest.raises(TextgenError, match="--precision bf16: this CPU has no native bf16"):
        precision.resolve("bf16", "cpu")


def test_precision_refuses_fp16_on_cpu_and_unknown_names():
    with pytest.raises(TextgenError, match="--precision fp16: only on CUDA"):
        precision.resolve("fp16", "cpu")
    with pytest.raises(TextgenError, match="--precision: must be one of auto, fp32, bf16, fp16"):
        precision.resolve("half", "cpu")
