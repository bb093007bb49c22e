"""The calibration cache: a run's timings kept per machine and model shape, in
`$TEXTGEN_CACHE/calibration.json` (else ~/.cache/textgen), so that a shape this
machine has measured is planned from one fresh step (estimate.py)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

from textgen_core.config import TrainConfig
from textgen_core.cpuinfo import cpuinfo_field


def cache_file() -> Path:
    base = os.environ.get("TEXTGEN_CACHE") or Path.home() / ".cache" / "textgen"
    return Path(base) / "calibration.json"


def _machine() -> str:
    import torch

    cpu = cpuinfo_field("model name") or platform.processor()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return f"{cpu}|{os.cpu_count()}|{torch.get_num_threads()}|{gpu}|{torch.__version__}"


# What a step's cost depends on in the configs of Llama, Qwen, Gemma and most others
# (GPT-2's names its shape n_layer, n_embd, n_head, and its key keeps those alone).
_FAMILY_SHAPE = (
    "num_hidden_layers",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "sliding_window",
    "final_logit_softcapping",
)


def key(model, cfg: TrainConfig, precision: str, eval_batch: int) -> str:
    """Machine, model shape (its family included) and the settings that change a
    step's cost."""
    config = getattr(model, "config", None)
    shape = {
        k: getattr(config, k, None)
        for k in ("model_type", "n_layer", "n_embd", "n_head", "hidden_size", "vocab_size")
    }
    if shape["n_layer"] is None:  # not GPT-2's config: its shape has other names
        shape.update((k, v) for k in _FAMILY_SHAPE if (v := getattr(config, k, None)) is not None)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    parts = [
        _machine(),
        json.dumps(shape, sort_keys=True),
        str(trainable),
        str(cfg.batch_size),
        str(cfg.gradient_accumulation_steps),
        str(cfg.data.chunk_size),
        precision,
        str(eval_batch),
        str(cfg.memorization_prompts),
        str(cfg.activation_checkpointing),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def read() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def write(key: str, measured: dict) -> None:
    """Keep `measured` (a calibration's fields) under `key`, beside the others."""
    entries = read()
    kept = ("step_s", "eval_batch_s", "eval_batch", "save_s", "sample_token_s", "decode_step_s")
    entries[key] = {k: measured[k] for k in kept}
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(path)
    except OSError:
        pass  # an estimate without a cache is still an estimate
