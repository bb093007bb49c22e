"""The training flags of `textgen train` and `textgen tune` and the
TrainConfig they build, with `--config FILE` (e.g. tune's best_config.json)
underneath the flags the command line set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textgen_core.cli.data_flags import add_data_flags, data_config
from textgen_core.config import LoraConfig, TrainConfig
from textgen_core.errors import TextgenError


def add_train_flags(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    p.add_argument(
        "--model",
        default=d.model,
        help="Hub id, local folder, or scratch:distilgpt2 / scratch:tiny (default %(default)s)",
    )
    p.add_argument("--revision", help="branch, tag or commit of a Hub model (default: main)")
    p.add_argument("--epochs", type=float, default=d.epochs, help="default %(default)s")
    p.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="chunks per micro-batch in each process; under torchrun / accelerate launch the "
        "effective batch is this x processes x accumulation steps (default %(default)s)",
    )
    p.add_argument(
        "--gradient-accumulation-steps",
        type=int,
        default=d.gradient_accumulation_steps,
        help="micro-batches per optimizer step (default %(default)s)",
    )
    p.add_argument(
        "--lr", type=float, default=d.lr, help="peak learning rate (default %(default)s)"
    )
    p.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio, help="default %(default)s")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="default %(default)s")
    p.add_argument(
        "--max-grad-norm", type=float, default=d.max_grad_norm, help="default %(default)s"
    )
    add_data_flags(p)
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps")
    p.add_argument(
        "--eval-steps",
        type=int,
        default=None,
        help="evaluate and checkpoint every N steps (default: every epoch)",
    )
    p.add_argument(
        "--early-stopping-patience",
        type=int,
        default=d.early_stopping_patience,
        help="evaluations without improvement before stopping; 0 = never (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="default %(default)s")
    p.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="keep the token and position embeddings fixed. GPT-2 ties its output layer to "
        "the token embeddings, so the output layer stays fixed too: about half the trainable "
        "weights and ~0.5 GB less memory for distilgpt2, at most a few percent faster, but "
        "the model adapts less (slightly higher validation loss; BENCHMARKS.md)",
    )
    lora = LoraConfig()
    p.add_argument(
        "--lora",
        action="store_true",
        help="train a LoRA adapter (PEFT) instead of all weights: far fewer trained "
        "parameters and less optimizer memory, usually a higher loss than full "
        "fine-tuning",
    )
    p.add_argument("--lora-r", type=int, default=lora.r, help="default %(default)s")
    p.add_argument("--lora-alpha", type=int, default=lora.alpha, help="default %(default)s")
    p.add_argument("--lora-dropout", type=float, default=lora.dropout, help="default %(default)s")
    p.add_argument(
        "--lora-targets",
        help="comma-separated module names (default: c_attn,c_proj,"
        "c_fc on GPT-2, PEFT's defaults otherwise)",
    )
    p.add_argument(
        "--no-merge",
        action="store_true",
        help="with --lora, save only the adapter (model/adapter), not a merged model",
    )
    p.add_argument(
        "--memorization-prompts",
        type=int,
        default=d.memorization_prompts,
        help="after training, continue this many held-out prompts (128 tokens each) and "
        "measure how much of the text is copied from the training files; about a minute "
        "for distilgpt2 on a laptop CPU; 0 = skip (default %(default)s)",
    )


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model,
        revision=args.revision,
        epochs=args.epochs,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        lr=args.lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        max_steps=args.max_steps,
        eval_steps=args.eval_steps,
        early_stopping_patience=args.early_stopping_patience or None,
        seed=args.seed,
        lora=_lora_config(args),
        freeze_embeddings=args.freeze_embeddings,
        data=data_config(args),
        memorization_prompts=args.memorization_prompts,
    )


def _lora_config(args: argparse.Namespace) -> LoraConfig | None:
    if not args.lora:
        if args.no_merge:
            raise TextgenError("--no-merge: only applies with --lora")
        return None
    targets = [t.strip() for t in args.lora_targets.split(",")] if args.lora_targets else None
    return LoraConfig(
        r=args.lora_r,
        alpha=args.lora_alpha,
        dropout=args.lora_dropout,
        targets=targets,
        merge=not args.no_merge,
    )


def with_config_file(cfg: TrainConfig, path: str | None) -> TrainConfig:
    """Settings from a saved TrainConfig (e.g. tune's best_config.json), then the
    flags the command line set: a flag still at its default leaves the file's value."""
    if path is None:
        return cfg
    try:
        saved = TrainConfig.from_dict(json.loads(Path(path).read_text()))
    except OSError as exc:
        raise TextgenError(f"--config {path}: cannot read it ({exc.strerror})") from exc
    except (ValueError, TypeError) as exc:
        raise TextgenError(f"--config {path}: not a TrainConfig JSON file ({exc})") from exc
    return TrainConfig.from_dict(
        _overrides(saved.to_dict(), cfg.to_dict(), TrainConfig().to_dict())
    )


def _overrides(saved: dict, flags: dict, defaults: dict) -> dict:
    merged = dict(saved)
    for key, value in flags.items():
        default = defaults.get(key)
        if isinstance(value, dict) and isinstance(saved.get(key), dict):
            merged[key] = _overrides(saved[key], value, default or LoraConfig().__dict__)
        elif value != default:
            merged[key] = value
    return merged
