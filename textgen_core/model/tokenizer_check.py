"""Which tokenizer belongs to a model folder, and whether it can be the model's.

A checkpoint written by older textgen versions holds weights but no tokenizer
files. Given such a folder, transformers 5.x does not fail: it builds a GPT-2
tokenizer from the model's config with a vocabulary of two tokens that encodes
every text to nothing, and every figure computed with it is garbage (a loss
over two tokens). So a checkpoint of a run without tokenizer files takes the
tokenizer of its run (the run's `model/` folder, else the base model recorded
in `textgen_run.json`: the same files and the same added `[PAD]`, so the same
ids), and any tokenizer that cannot be the model's is refused by name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.run_folder import RUN_RECORD  # written by every training run at its root

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
)
PROBE = "The quick brown fox jumps over the lazy dog. 42\n"
# A tokenizer may be a little smaller than the embedding matrix (textgen pads
# the rows to a multiple of 64, other models pad more); one with less than
# half the rows cannot be the one the model was trained with.
MIN_VOCAB_SHARE = 0.5
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


def has_tokenizer_files(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def run_root(folder: Path) -> Path | None:
    """The run folder of `folder` when it is a run's checkpoint or model folder
    (RUN/checkpoints/checkpoint-N, RUN/model, RUN/model/adapter)."""
    folder = Path(folder).resolve()
    if _CHECKPOINT.match(folder.name) and folder.parent.name == "checkpoints":
        candidate = folder.parent.parent
    elif folder.name == "model":
        candidate = folder.parent
    elif folder.name == "adapter" and folder.parent.name == "model":
        candidate = folder.parent.parent
    else:
        return None
    return candidate if (candidate / RUN_RECORD).is_file() else None


def tokenizer_source(name: str) -> tuple[str, str | None]:
    """(where to load the tokenizer of model `name` from, revision to pass):
    `name` itself, unless it is a run's folder without tokenizer files."""
    folder = Path(name)
    if not folder.is_dir() or has_tokenizer_files(folder):
        return name, None
    root = run_root(folder)
    if root is None:
        return name, None
    if has_tokenizer_files(root / "model"):
        return str(root / "model"), None
    try:
        config = json.loads((root / RUN_RECORD).read_text())["config"]
        return config["model"], config.get("revision")
    except (OSError, ValueError, KeyError):
        return name, None


def check_tokenizer(model, tokenizer, name: str) -> None:
    """Refuse a tokenizer that cannot be `model`'s: a vocabulary far smaller
    than the embedding rows, or a probe text that encodes to nothing."""
    rows = model.get_input_embeddings().weight.shape[0]
    vocab = len(tokenizer)
    probe = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    if vocab >= MIN_VOCAB_SHARE * rows and probe:
        return
    problem = (
        f"its tokenizer has {vocab} tokens for the model's {rows} embedding rows"
        if vocab < MIN_VOCAB_SHARE * rows
        else "its tokenizer encodes text to no tokens at all"
    )
    raise TextgenError(
        f"{name}: {problem}, so it is not this model's tokenizer (the folder lacks "
        f"tokenizer files: {', '.join(TOKENIZER_FILES[:3])}). Pass the model/ folder of the run "
        "instead, keep the checkpoint inside its run folder (RUN/checkpoints/checkpoint-N, "
        f"beside RUN/{RUN_RECORD}) so its tokenizer is found, or copy the base model's "
        "tokenizer files into the folder"
    )
