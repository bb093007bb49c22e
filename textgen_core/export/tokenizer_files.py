"""The tokenizer files an export ships: textgen's tokenizer (with a SentencePiece
`tokenizer.model` where it has one), reading a prompt as textgen does, and for a
GGUF file cut to the token ids the file holds.

textgen prompts without the tokenizer's special tokens (`PROMPT_SPECIAL_TOKENS`:
no BOS, as its training documents have none). The shipped files say so too
(`add_bos_token` false, no post-processor to add one), so llama.cpp, Ollama, ONNX
Runtime and Transformers.js read a prompt as textgen does; a chat template writes
its own BOS.
"""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.generate.sampling import PROMPT_SPECIAL_TOKENS
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
    if not PROMPT_SPECIAL_TOKENS:
        data["post_processor"] = None  # what would add a BOS (read before the config)
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
    if not PROMPT_SPECIAL_TOKENS:
        config.update(add_bos_token=False, add_eos_token=False)
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
