"""A causal LM as an ONNX folder that ONNX Runtime and Transformers.js load:
`onnx/model.onnx` (fp32) and, with int8, `onnx/model_quantized.onnx` (dynamic int8
from `onnxruntime.quantization`), beside config.json, generation_config.json and the
tokenizer files.

One graph with past key values, inputs and outputs named as optimum names them
(`input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key|value` ->
`logits`, `present.{i}.key|value`): the first call passes a past of length 0, each
next token passes the presents back, so generation never recomputes the prefix.

Exported with torch.onnx's TorchScript tracer around a small wrapper that turns the
flat past tensors into transformers' DynamicCache. optimum's exporter (optimum-onnx)
does not support transformers 5 yet, and torch.onnx's dynamo exporter specialises
the size-0 first past away; the traced graph is checked against PyTorch in
onnxruntime by `parity`. Eager attention is traced, so the graph builds its causal
mask from the shapes it is given rather than baking in SDPA's is_causal shortcut.
The past holds each family's key/value heads (fewer than its query heads under
grouped-query attention) at its own head size, and a model with sliding-window
layers (Gemma 3) gets a windowed mask for those: its cache keeps every position,
the mask decides what each layer sees.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.export import tokenizer_files

QUANTIZE = {
    "fp32": "full precision (the default): logits within 1e-4 of textgen's",
    "int8": "also writes a dynamic int8 model: about a quarter of the fp32 size, "
    "perplexity typically within 2%",
}
OPSET = 17


def _causal_mask(attention_mask, position_ids, window: int | None = None):
    """The additive (batch, 1, new, total) mask, built from tensors only: the tracer
    would freeze the Python integers transformers' own mask code computes from the
    example's shapes. Key j is visible to the query at position p when j <= p, the
    attention mask keeps j and, with a sliding `window`, p - j < window."""
    import torch

    keys = torch.cumsum(torch.ones_like(attention_mask), dim=1) - 1  # 0..total-1
    allowed = (keys[:, None, :] <= position_ids[:, :, None]) & (attention_mask[:, None, :] > 0)
    if window is not None:
        allowed = allowed & (position_ids[:, :, None] - keys[:, None, :] < window)
    blocked = torch.tensor(torch.finfo(torch.float32).min)
    return torch.where(allowed, torch.tensor(0.0), blocked)[:, None]


def _masks(config, attention_mask, position_ids):
    """The mask for each kind of layer the model has: one tensor, or (Qwen, Gemma 3:
    `layer_types`) a mask per layer type, which their forward takes as it is."""
    kinds = set(getattr(config, "layer_types", None) or [])
    if not kinds:
        return _causal_mask(attention_mask, position_ids)
    window = getattr(config, "sliding_window", None)
    return {
        kind: _causal_mask(
            attention_mask, position_ids, window if kind == "sliding_attention" else None
        )
        for kind in kinds
    }


def _wrapper(model):
    import torch
    from transformers import DynamicCache

    class WithPast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
            out = self.model(
                input_ids=input_ids,
                attention_mask=_masks(model.config, attention_mask, position_ids),
                position_ids=position_ids,
                cache=DynamicCache(pairs),
                use_cache=True,
            )
            present = [
                t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)
            ]
            return (out.logits, *present)

    # eval(): torch.onnx.export puts the module back in the mode it found it in,
    # and a fresh Module is in training mode, which would switch dropout on.
    return WithPast().eval()


def layout(model) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of the past key values: grouped-query
    attention (Llama, Qwen, Gemma) keeps fewer key/value heads than query heads, and
    Qwen3 and Gemma 3 set their head size apart from hidden size / heads."""
    config = model.config
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_size = getattr(config, "head_dim", None) or hidden // heads
    return layers, getattr(config, "num_key_value_heads", None) or heads, head_size


def io_names(layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    present = [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    return ["input_ids", "attention_mask", "position_ids", *past], ["logits", *present]


def _example(layers: int, heads: int, head_size: int, past_len: int = 3, new: int = 2):
    import torch

    total = past_len + new
    past = [torch.zeros(1, heads, past_len, head_size) for _ in range(2 * layers)]
    return (
        torch.ones(1, new, dtype=torch.long),
        torch.ones(1, total, dtype=torch.long),
        torch.arange(past_len, total).unsqueeze(0),
        *past,
    )


def export_graph(model, path: Path) -> None:
    """Trace `model` (eval mode) with past key values into the ONNX file `path`."""
    import torch

    layers, heads, head_size = layout(model)
    inputs, outputs = io_names(layers)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    axes["attention_mask"] = {0: "batch", 1: "total_sequence"}
    axes["position_ids"] = {0: "batch", 1: "sequence"}
    for name in inputs[3:]:
        axes[name] = {0: "batch", 2: "past_sequence"}
    for name in outputs[1:]:
        axes[name] = {0: "batch", 2: "total_sequence"}
    previous = model.config._attn_implementation
    model.config._attn_implementation = "eager"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every Python value it records as a constant; the
            # values here (mask fill, empty-cache placeholders) are constants.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                _wrapper(model),
                _example(layers, heads, head_size),
                str(path),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # the tracer's failures name the operation it cannot express
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TextgenError(
            f"ONNX export: {model.config.model_type} could not be expressed ({first})"
        ) from None
    finally:
        model.config._attn_implementation = previous


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 (weights int8, activations quantized on the fly): the standard
    CPU recipe of onnxruntime.quantization for transformer decoders, with 7-bit weights
    (`reduce_range`). The file runs on whatever CPU its user has, and on x86 CPUs
    without VNNI onnxruntime multiplies uint8 activations by int8 weights with an
    instruction whose pairwise sums saturate at 16 bits; 7-bit weights keep those sums
    in range (onnxruntime's and Optimum's advice for AVX2 / AVX-512 without VNNI).
    Measured on the tests' tiny GPT-2, 2-core AMD EPYC with AVX2 only: perplexity
    +2.6% with 8-bit weights, -0.1% with 7-bit."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, reduce_range=True)


def write_onnx_folder(model, tokenizer, folder: Path, *, quantize: str = "fp32") -> dict:
    """Write the ONNX folder (see the module docstring) to `folder`, a new folder."""
    if quantize not in QUANTIZE:
        raise TextgenError(f"--quantize {quantize}: ONNX takes one of {', '.join(QUANTIZE)}")
    (folder / "onnx").mkdir(parents=True)
    export_graph(model, folder / "onnx" / "model.onnx")
    files = {"fp32": "onnx/model.onnx"}
    if quantize == "int8":
        quantize_int8(folder / "onnx" / "model.onnx", folder / "onnx" / "model_quantized.onnx")
        files["int8"] = "onnx/model_quantized.onnx"
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    tokenizer_files.save(tokenizer, folder)
    return files
