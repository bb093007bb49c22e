"""Decoding from bf16 or int8 weights: valid text, stop strings honoured,
logits close to fp32's, and the original model left untouched."""

from __future__ import annotations

import pytest
import torch

from textgen_core.config import GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.generate.decode_weights import for_decoding, load_for_decoding
from textgen_core.generate.sampling import generate, stream
from textgen_core.model.loading import load_for_inference
from textgen_core.precision import cpu_bf16_native, resolve_decode

PRECISIONS = [
    "int8",
    pytest.param("bf16", marks=pytest.mark.skipif(not cpu_bf16_native(), reason="no CPU bf16")),
]
GREEDY = dict(temperature=0, max_new_tokens=24, repetition_penalty=1.0)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_low_precision_decode_gives_text_and_stops_at_stop_string(tiny_model, precision):
    model, tokenizer = load_for_decoding(str(tiny_model), precision)
    text = generate(model, tokenizer, "To be, or not", GenerateConfig(**GREEDY))[0]
    assert isinstance(text, str) and text.strip()
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    cut = text[: text.find(stop)]
    cfg = GenerateConfig(**GREEDY, stop=[stop])
    assert generate(model, tokenizer, "To be, or not", cfg)[0] == cut
    assert "".join(stream(model, tokenizer, "To be, or not", cfg)) == cut


@pytest.mark.parametrize("precision", PRECISIONS)
def test_low_precision_logits_stay_close_to_fp32_and_leave_the_model_alone(tiny_model, precision):
    model, tokenizer = load_for_inference(str(tiny_model))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = for_decoding(model, precision)
    ids = tokenizer("It was the best of times", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        ref, got = model(ids).logits, fast(ids).logits.float()
    assert fast is not model
    assert not torch.equal(got, ref)  # really converted
    assert (got - ref).abs().max() < 0.05 * ref.abs().max()
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_int8_replaces_gpt2_conv1d_with_quantized_linear(tiny_model):
    from transformers.pytorch_utils import Conv1D

    model, _ = load_for_inference(str(tiny_model))
    fast = for_decoding(model, "int8")
    quantized = torch.ao.nn.quantized.dynamic.Linear
    assert not any(isinstance(m, Conv1D) for m in fast.modules())
    attention, mlp = fast.transformer.h[0].attn, fast.transformer.h[0].mlp
    for layer in (attention.c_attn, attention.c_proj, mlp.c_fc, mlp.c_proj, fast.lm_head):
        assert isinstance(layer, quantized)
    assert fast.transformer.wte.weight.dtype == torch.float32  # input embeddings stay float


def test_decode_precision_names_the_flag_when_refused():
    assert resolve_decode("auto") == "fp32"
    with pytest.raises(TextgenError, match="--precision: must be one of auto, fp32, bf16, int8"):
        resolve_decode("fp16")
    with pytest.raises(TextgenError, match="--precision int8: decoding precision applies on CPU"):
        resolve_decode("int8", "cuda")
