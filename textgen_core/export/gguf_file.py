"""A GPT-2 model and its tokenizer as one GGUF file, written with `gguf` (llama.cpp's
own writer), following llama.cpp's convert_hf_to_gguf.py for GPT-2: the same tensor
names (gguf's TensorNameMap), Conv1D weights transposed, norms, biases and position
embeddings kept in F32, the BPE tokenizer as tokens + merges + types, `gpt-2`
pre-tokenizer, BOS/EOS.

The vocabulary padding rows and `[PAD]` that textgen adds are left out of the file
(`kept_vocab`): textgen never generates them (they are suppressed in its generation
config), and llama.cpp's samplers ignore token types, so a token that is in the file
can be sampled. Leaving them out is the only way no runtime can ever produce them.
"""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.errors import TextgenError

QUANTIZE = {
    "f16": "half precision: about 2 bytes per weight; parity with textgen to 0.1%",
    "q8_0": "8-bit blocks: about half the size of f16 and faster on CPU; perplexity "
    "typically within 1-2%",
}
_TRANSPOSED = (".c_attn.weight", ".c_proj.weight", ".c_fc.weight")  # GPT-2's Conv1D layout
_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")  # ggml_gelu is the tanh approximation


def check_architecture(model, name: str) -> None:
    """GGUF's GPT-2 graph in llama.cpp: pre-norm blocks, tanh-GELU MLP, plain scaled
    attention. Anything else would load and compute something different."""
    config = model.config
    if config.model_type != "gpt2":
        raise TextgenError(
            f"{name}: GGUF export supports the GPT-2 architecture (distilgpt2, gpt2, "
            f"scratch:*); this model is {config.model_type!r}. Use --to onnx instead"
        )
    unsupported = []
    if config.activation_function not in _GELU:
        unsupported.append(f"activation_function={config.activation_function}")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if getattr(config, flag, False):
            unsupported.append(f"{flag}=True")
    if not getattr(config, "scale_attn_weights", True):
        unsupported.append("scale_attn_weights=False")
    if unsupported:
        raise TextgenError(
            f"{name}: llama.cpp's GPT-2 cannot express {', '.join(unsupported)}; "
            "use --to onnx instead"
        )


def kept_vocab(model, tokenizer) -> int:
    """Token ids [0, n) go into the file: the trailing ids textgen never generates
    (vocabulary padding rows, and `[PAD]` when it was appended) are cut off."""
    rows = model.get_input_embeddings().weight.shape[0]
    never = set(model.generation_config.suppress_tokens or [])
    n = rows
    while n > 0 and (n - 1) in never:
        n -= 1
    return min(n, len(tokenizer))


def _merges(tokenizer) -> list[str]:
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "BPE":
        raise TextgenError("tokenizer: GGUF's gpt2 tokenizer needs a byte-level BPE tokenizer")
    return [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]


def _add_tokenizer(writer, tokenizer, n_vocab: int) -> None:
    import gguf

    tokens = tokenizer.convert_ids_to_tokens(list(range(n_vocab)))
    if any(t is None for t in tokens):
        missing = next(i for i, t in enumerate(tokens) if t is None)
        raise TextgenError(f"tokenizer: token id {missing} has no text; the vocabulary has gaps")
    special = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    types = [
        gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL for token in tokens
    ]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(_merges(tokenizer))
    for token_id, add in (
        (tokenizer.bos_token_id, writer.add_bos_token_id),
        (tokenizer.eos_token_id, writer.add_eos_token_id),
    ):
        if token_id is not None and token_id < n_vocab:
            add(token_id)
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id < n_vocab:
        writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_add_bos_token(False)  # GPT-2 does not start a text with a BOS token


def _tensors(model, n_vocab: int, quantize: str):
    """(gguf name, numpy data, ggml type) of every weight, as llama.cpp's converter
    writes them."""
    import gguf
    import numpy as np

    qtype = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT2, model.config.n_layer)
    tied = model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
    for name, tensor in model.state_dict().items():
        if name.endswith((".attn.bias", ".attn.masked_bias")) or (
            name == "lm_head.weight" and tied
        ):
            continue
        data = tensor.detach().float().cpu().numpy()
        if name.endswith(_TRANSPOSED):
            data = np.ascontiguousarray(data.T)
        if name in ("transformer.wte.weight", "lm_head.weight"):
            data = np.ascontiguousarray(data[:n_vocab])
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise TextgenError(f"GGUF export: no GGUF name for the weight {name}")
        if data.ndim <= 1 or new.endswith("_norm.weight") or new.startswith("position_embd"):
            yield new, data, gguf.GGMLQuantizationType.F32
        else:
            yield new, data, qtype[quantize]


def write_gguf(model, tokenizer, path: Path, *, quantize: str = "f16", name: str = "") -> dict:
    """Write `model` (GPT-2, fp32) and `tokenizer` to `path`; returns what was written."""
    import gguf
    import numpy as np

    if quantize not in QUANTIZE:
        raise TextgenError(f"--quantize {quantize}: GGUF takes one of {', '.join(QUANTIZE)}")
    check_architecture(model, name)
    config = model.config
    n_vocab = kept_vocab(model, tokenizer)
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_name(name or "textgen model")
    writer.add_block_count(config.n_layer)
    writer.add_context_length(config.n_positions)
    writer.add_embedding_length(config.n_embd)
    writer.add_feed_forward_length(config.n_inner or 4 * config.n_embd)
    writer.add_head_count(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_epsilon)
    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
    writer.add_file_type(file_type[quantize])
    _add_tokenizer(writer, tokenizer, n_vocab)
    for tensor_name, data, qtype in _tensors(model, n_vocab, quantize):
        if qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(tensor_name, data.astype(np.float16))
        elif qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(tensor_name, data)
        else:
            writer.add_tensor(tensor_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"vocab_in_file": n_vocab, "vocab_rows_in_model": config.vocab_size}
