"""The precision a run trains in, and the same one again on --resume.

The run record (textgen_run.json) keeps the *resolved* precision in its
config, so a run started with `auto` on a bf16 machine says bf16. `--resume`
with `auto` restores it; an explicit different one is a changed setting,
refused without --force like any other, so a run never silently continues in
another number format. Runs recorded before precision existed trained as the
old code did: fp32 on CPU, bf16 (or fp16) on CUDA.
"""

from __future__ import annotations

from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.precision import resolve
from textgen_core.run_folder import RunPaths, read_json


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def legacy_precision() -> str:
    """What a run recorded without a precision trained in."""
    return "fp32" if _device() == "cpu" else resolve("auto", "cuda")


def recorded_precision(out: RunPaths) -> str | None:
    if not out.record.exists():
        return None
    config = read_json(out.record).get("config", {})
    return config.get("precision") or legacy_precision()


def model_width(cfg: TrainConfig) -> int | None:
    """Hidden size of `cfg.model` from its config alone (no weights), or None."""
    from textgen_core.model.loading import base_config

    config = base_config(cfg.model, revision=cfg.revision)
    if config is None:  # no network: auto decides without it
        return None
    return getattr(config, "n_embd", None) or getattr(config, "hidden_size", None)


def run_precision(cfg: TrainConfig, out: RunPaths, resume: bool, force: bool) -> str:
    """The resolved precision ("fp32", "bf16", "fp16") this run trains in."""
    saved = recorded_precision(out) if resume else None
    if saved is None or cfg.precision != "auto":
        width = model_width(cfg) if cfg.precision == "auto" else None
        return resolve(cfg.precision, _device(), width=width)
    try:
        return resolve(saved, _device())
    except TextgenError as exc:
        if force:
            return resolve("auto", _device(), width=model_width(cfg))
        raise TextgenError(
            f"--resume: the run in {out.root} trained in {saved}, which this machine cannot "
            f"run ({exc}); to continue it in another precision add --force"
        ) from None
