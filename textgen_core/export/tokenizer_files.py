"""The tokenizer files an export ships: textgen's tokenizer (with a SentencePiece
`tokenizer.model` where it has one), reading a prompt as textgen does, and for a
GGUF file cut to the token ids the file holds.

textgen reads a prompt as its training documents begin: after the tokenizer's
start ids (`data.tokens.start_ids`: Gemma's and Llama 3's BOS, none for GPT-2 or
Qwen), never with an EOS. The shipped files say exactly that (`add_bos_token`, a
post-processor that adds the start ids and nothing else), so llama.cpp, Ollama,
ONNX Runtime and Transformers.js read a prompt as textgen does; a chat template
writes its own BOS.
"""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.data.tokens import start_ids
from textgen_core.model.loading import save_tokenizer


def save(tokenizer, folder: Path, n_vocab: int | None = None) -> None:
    """Write `tokenizer` to `folder`; with `n_vocab`, drop the added tokens (`[PAD]`)
    whose ids are past it, and any special-token name that points at one."""
    save_tokenizer(tokenizer, folder)
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    kept = [t for t in data["added_tokens"] if n_vocab is None or t["id"] < n_vocab]
    gone = {t["content"] for t in data["added_tokens"]} - {t["content"] for t in kept}
    data["added_tokens"] = kept
    start = start_ids(tokenizer)
    data["post_processor"] = _adding(tokenizer, start) if start else None
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    decoder = config.get("added_tokens_decoder", {})
    config["added_tokens_decoder"] = {
        k: v for k, v in decoder.items() if n_vocab is None or int(k) < n_vocab
    }
    for key, value in list(config.items()):
        if key.endswith("_token") and value in gone:
            del config[key]
    config.update(add_bos_token=bool(start), add_eos_token=False)
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


def _adding(tokenizer, start: list[int]) -> dict:
    """A tokenizers post-processor that puts the `start` ids before a text (and
    before each of a pair) and adds nothing after it."""
    names = tokenizer.convert_ids_to_tokens(start)
    first = [{"SpecialToken": {"id": name, "type_id": 0}} for name in names]
    text = {"Sequence": {"id": "A", "type_id": 0}}
    pair = {"Sequence": {"id": "B", "type_id": 1}}
    return {
        "type": "TemplateProcessing",
        "single": [*first, text],
        "pair": [*first, text, *first, pair],
        "special_tokens": {
            name: {"id": name, "ids": [i], "tokens": [name]}
            for name, i in zip(names, start, strict=True)
        },
    }
