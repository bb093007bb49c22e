"""LoRA's dropout with masks drawn in bulk: nn.Dropout's distribution, scale and
gradient, decided by torch's seed, and put on every LoRA layer textgen trains."""

from __future__ import annotations

import pytest
import torch
from support.models import build_tiny_family_model

from textgen_core.config import LoraConfig
from textgen_core.kernels.lora_dropout import FastDropout, fast_lora_dropout, keep_mask
from textgen_core.model.loading import apply_lora, load_model, load_tokenizer


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_an_element_is_kept_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    kept = keep_mask((1000, 1000), p).double().mean().item()
    sigma = (p * (1 - p) / 1e6) ** 0.5
    assert abs(kept - (1 - p)) < 5 * sigma
    rows = keep_mask((1000, 1000), p).double().mean(dim=1)
    assert rows.std().item() == pytest.approx((p * (1 - p) / 1000) ** 0.5, rel=0.2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kept_elements_and_their_gradients_are_scaled_as_nn_dropout_scales_them(dtype):
    x = torch.randn(64, 128).to(dtype).requires_grad_()
    torch.manual_seed(1)
    out = FastDropout(0.1).train()(x)
    out.backward(torch.ones_like(out))
    kept = out != 0
    assert 0.8 < kept.float().mean() < 0.97
    reference = torch.nn.functional.dropout(torch.ones_like(x), 0.1)  # its scale, in dtype
    scale = reference[reference != 0][0]
    assert torch.equal(out[kept], x.detach()[kept].mul(1 / 0.9))  # rounded once, as nn.Dropout
    assert torch.equal(x.grad, torch.where(kept, scale, torch.zeros((), dtype=dtype)))


def test_torch_seed_decides_every_mask_and_eval_or_zero_p_pass_through():
    x = torch.ones(32, 32)
    dropout = FastDropout(0.3).train()
    torch.manual_seed(5)
    first = dropout(x)
    torch.manual_seed(5)
    assert torch.equal(dropout(x), first)
    assert not torch.equal(dropout(x), first)
    assert torch.equal(dropout.eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)


def test_every_lora_layer_textgen_trains_gets_it(tmp_path):
    folder = str(build_tiny_family_model(tmp_path / "llama", "llama"))
    model = load_model(folder, load_tokenizer(folder))
    model = fast_lora_dropout(apply_lora(model, LoraConfig(r=4, dropout=0.1)))
    dropouts = [d for m in model.modules() for d in getattr(m, "lora_dropout", {}).values()]
    assert len(dropouts) == 2 * 7  # two blocks of q, k, v, o, gate, up, down
    assert all(type(d) is FastDropout and d.p == 0.1 for d in dropouts)
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
