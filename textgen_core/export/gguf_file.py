"""A model and its tokenizer as one GGUF file, written by llama.cpp's own converter
(`converter`) from a Hugging Face folder that textgen prepares (`converter_input`):
each family's tensor layout, its tokenizer (byte-level BPE with the family's
pre-tokenizer, recognised by the converter from how the tokenizer splits a probe
text; Gemma's SentencePiece) and its chat template (`tokenizer.chat_template`) come
out as llama.cpp reads them. textgen wrote GPT-2 files with a writer of its own
until more families came: the converter does for each family what that writer did
for one, and is updated with the llama.cpp that reads its files. Its cost, measured
on the tiny test models: 3.5-5 s of CPU a file (its process imports torch and
transformers, then reads the tokenizer), against well under a second in process.

The vocabulary padding rows and `[PAD]` that textgen adds are left out of the file
(`kept_vocab`): textgen never generates them (they are suppressed in its generation
config), and llama.cpp's samplers ignore token types, so a token that is in the file
can be sampled. Leaving them out is the only way no runtime can ever produce them.
Only trailing ids can go: a pad token inside the tokenizer's own vocabulary (Qwen's
`<|endoftext|>`, Gemma's `<pad>`) keeps its id, as a control token.

Gemma needs its SentencePiece `tokenizer.model`. Without it the converter builds a
BPE vocabulary from tokenizer.json, which tokenizes as textgen does but which
llama.cpp decodes wrongly (measured: byte-fallback tokens come out as the text
"<0xF0><0x93><0x80><0x80>" instead of the character they spell), so the export
refuses rather than write a file that garbles rare characters.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.export import converter, tokenizer_files

QUANTIZE = {
    "f16": "half precision: about 2 bytes per weight; parity with textgen to 0.1%",
    "q8_0": "8-bit blocks: about half the size of f16 and faster on CPU; perplexity "
    "typically within 1-2%",
}
SENTENCEPIECE = "tokenizer.model"
_SENTENCEPIECE_FAMILIES = ("gemma3_text",)
_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")  # ggml_gelu is the tanh approximation


def check_architecture(model, name: str) -> None:
    """What llama.cpp's graph of the family cannot express. GPT-2's is pre-norm
    blocks, a tanh-GELU MLP 4x wide and plain scaled attention; anything else would
    load and compute something different."""
    config = model.config
    if config.model_type == "gemma3_text":
        _check_gemma(config, name)
    if config.model_type != "gpt2":
        return
    unsupported = []
    if config.activation_function not in _GELU:
        unsupported.append(f"activation_function={config.activation_function}")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if getattr(config, flag, False):
            unsupported.append(f"{flag}=True")
    if not getattr(config, "scale_attn_weights", True):
        unsupported.append("scale_attn_weights=False")
    if config.n_inner not in (None, 4 * config.n_embd):
        unsupported.append(f"n_inner={config.n_inner}")
    if unsupported:
        raise TextgenError(
            f"{name}: llama.cpp's GPT-2 cannot express {', '.join(unsupported)}; "
            "use --to onnx instead"
        )


def _check_gemma(config, name: str) -> None:
    """llama.cpp scales Gemma 3's attention by 1/sqrt(head_dim), or by
    1/sqrt(hidden_size / heads) when it has 62 layers (27B): the published models'
    query_pre_attn_scalar."""
    expected = config.head_dim
    if config.num_hidden_layers == 62:
        expected = config.hidden_size // config.num_attention_heads
    if config.query_pre_attn_scalar != expected:
        raise TextgenError(
            f"{name}: llama.cpp's Gemma 3 scales attention by {expected}, this model by "
            f"query_pre_attn_scalar={config.query_pre_attn_scalar}; use --to onnx instead"
        )


def check_tokenizer(tokenizer, model_type: str, name: str) -> None:
    """Gemma's GGUF vocabulary is built from its SentencePiece model: refuse, naming
    the file, when the tokenizer came without it (see the module docstring)."""
    if model_type not in _SENTENCEPIECE_FAMILIES:
        return
    vocab_file = getattr(tokenizer, "vocab_file", None)
    if not vocab_file or not Path(vocab_file).is_file():
        raise TextgenError(
            f"{name}: GGUF export of a {model_type} model needs the SentencePiece "
            f"{SENTENCEPIECE} beside its tokenizer.json (llama.cpp builds Gemma's vocabulary "
            f"from it), and this model's tokenizer has none. Copy {SENTENCEPIECE} from the "
            "base model's repository (e.g. google/gemma-3-270m) into the model folder, or "
            "use --to onnx"
        )
    try:
        import sentencepiece  # noqa: F401  (llama.cpp's converter reads tokenizer.model with it)
    except ImportError:
        raise TextgenError(
            f"{name}: GGUF export of a {model_type} model reads {SENTENCEPIECE} with the "
            "sentencepiece package; install it: pip install sentencepiece==0.2.3"
        ) from None


def kept_vocab(model, tokenizer) -> int:
    """Token ids [0, n) go into the file: the trailing ids textgen never generates
    (vocabulary padding rows, and `[PAD]` when it was appended) are cut off."""
    rows = model.get_input_embeddings().weight.shape[0]
    never = set(model.generation_config.suppress_tokens or [])
    n = rows
    while n > 0 and (n - 1) in never:
        n -= 1
    return min(n, len(tokenizer))


def _weights(model, n_vocab: int) -> dict:
    """The state dict with the embedding (and an untied LM head) cut to `n_vocab`
    rows; a tied head is left out, standing on the embedding as in save_pretrained."""
    head = model.get_output_embeddings()
    vocab = {model.get_input_embeddings().weight.data_ptr()}
    vocab |= {head.weight.data_ptr()} if head is not None else set()
    weights, seen = {}, set()
    for key, tensor in model.state_dict().items():
        shared = tensor.data_ptr() in seen
        seen.add(tensor.data_ptr())
        if tensor.data_ptr() in vocab:
            if shared:  # the tied head
                continue
            tensor = tensor[:n_vocab]
        weights[key] = tensor.detach().contiguous()
    return weights


def _config(model, n_vocab: int) -> dict:
    config = model.config.to_dict()
    config.pop("_name_or_path", None)  # a local path is nothing to publish in the file
    config["vocab_size"] = n_vocab
    config["architectures"] = [type(model).__name__]  # how the converter picks the family
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if isinstance(config.get(key), int) and config[key] >= n_vocab:
            config[key] = None
    if config["model_type"] == "gpt2":  # the converter reads GPT-2's context from n_ctx
        config["n_ctx"] = model.config.n_positions
    return config


def converter_input(model, tokenizer, folder: Path, n_vocab: int) -> None:
    """`model` (fp32) and `tokenizer` as the Hugging Face folder the converter reads,
    cut to the first `n_vocab` token ids."""
    from safetensors.torch import save_file

    save_file(_weights(model, n_vocab), str(folder / "model.safetensors"), {"format": "pt"})
    (folder / "config.json").write_text(json.dumps(_config(model, n_vocab), indent=2))
    tokenizer_files.save(tokenizer, folder, n_vocab)


def write_gguf(model, tokenizer, path: Path, *, quantize: str = "f16", name: str = "") -> dict:
    """Write `model` (fp32, a supported family) and `tokenizer` to `path`; returns
    what was written."""
    if quantize not in QUANTIZE:
        raise TextgenError(f"--quantize {quantize}: GGUF takes one of {', '.join(QUANTIZE)}")
    check_architecture(model, name)
    n_vocab = kept_vocab(model, tokenizer)
    # The input folder sits beside the output: on its disk, and gone with it.
    name = name or "textgen model"
    with tempfile.TemporaryDirectory(prefix=".gguf-input-", dir=path.parent) as work:
        # The converter reads the file's name metadata from its input folder's name.
        folder = Path(work) / (re.sub(r"[^\w.-]+", "-", name).strip(".-") or "model")
        folder.mkdir()
        converter_input(model, tokenizer, folder, n_vocab)
        converter.convert(folder, path, outtype=quantize, name=name)
    return {
        "vocab_in_file": n_vocab,
        "vocab_rows_in_model": model.get_input_embeddings().weight.shape[0],
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "converter": f"llama.cpp convert_hf_to_gguf.py (llama-cpp-python {converter.LLAMA_CPP_PYTHON})",
    }
