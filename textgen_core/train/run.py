"""The training run: files in, model folder and honest report out.

The Hugging Face Trainer does the loop (AdamW with decay/no-decay groups,
linear warmup, accumulation, clipping, early stopping, best-model reload,
exact resume) as `trainer.py` sets it up. This module runs a whole run around
it: data, model, the settings check and the same CPU thread count on resume,
before/after test evaluation, the model folder and the report.
"""

from __future__ import annotations

import time
from pathlib import Path

from transformers import (
    set_seed,
)

from textgen_core.config import TrainConfig
from textgen_core.data.ingest import load_corpus
from textgen_core.data.prepare import make_splits
from textgen_core.errors import TextgenError
from textgen_core.kernels.memory import reuse_freed_memory
from textgen_core.model.loading import (
    apply_lora,
    freeze_embeddings,
    load_for_inference,
    load_model,
    load_tokenizer,
    parameter_counts,
)
from textgen_core.train import checkpoints, distributed, report
from textgen_core.train import threads as cpu_threads
from textgen_core.train.callbacks import (
    GracefulStop,
    TrainingInterrupted,
)
from textgen_core.train.evaluate import EvalResult, evaluate_loss
from textgen_core.train.model_card import render_model_card
from textgen_core.train.report import RunPaths
from textgen_core.train.trainer import build_trainer


def _check_output(out: RunPaths, resume: bool) -> None:
    if resume and not out.record.exists() and checkpoints.all_checkpoints(out.checkpoints):
        return  # checkpoints from the Hub: nothing recorded locally to compare with
    if not resume and (out.record.exists() or checkpoints.all_checkpoints(out.checkpoints)):
        raise TextgenError(
            f"--output {out.root}: already holds a training run; "
            "pass --resume to continue it, or choose another --output"
        )
    if resume and not out.record.exists():
        raise TextgenError(
            f"--resume: {out.root} holds no run to resume; start it without --resume"
        )


def _resume_point(out: RunPaths, record: dict, force: bool, warn) -> Path | None:
    saved = report.read_json(out.record) if out.record.exists() else record
    saved.setdefault("processes", 1)  # recorded before runs could have several
    saved["config"] = _with_defaults(saved.get("config"))  # settings added since
    keys = ("config", "data_fingerprint", "processes")
    changed = [key for key in keys if saved.get(key) != record.get(key)]
    if changed and not force:
        before, after = saved.get("config", {}), record["config"]
        diffs = [
            f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
            for k in after
            if before.get(k) != after.get(k)
        ]
        if "data_fingerprint" in changed:
            diffs.append("the training files changed")
        if "processes" in changed:  # another batch split and data order
            diffs.append(f"processes: {saved['processes']} -> {record['processes']}")
        raise TextgenError(
            f"--resume: settings differ from the run in {out.root} ({'; '.join(diffs)}); "
            "use the same settings, or add --force"
        )
    latest = checkpoints.resume_point(out.checkpoints, fall_back=force, warn=warn)
    if latest is None:
        warn(f"no complete checkpoint in {out.checkpoints}; training starts from the beginning")
        return None
    if distributed.is_main():
        report.truncate_metrics(out.metrics, checkpoints.step_of(latest))
    return latest


def _with_defaults(config: dict | None) -> dict | None:
    """A recorded config with settings added since it was written at their defaults."""
    try:
        return TrainConfig.from_dict(config).to_dict()
    except (TypeError, ValueError, AttributeError):
        return config


def train(
    paths,
    output,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    force: bool = False,
    quiet: bool = False,
    callbacks=(),
    warn=print,
    hub=None,
    score_test: bool = True,
) -> dict:
    """Fine-tune `cfg.model` on the files under `paths`; write the output folder
    of DESIGN.md to `output` and return the results dict. `hub` mirrors
    checkpoints to (or resumes from) a Hub repo. `score_test=False` leaves the
    test split unscored (its figures None), as a search's trials must."""
    cfg.validate()
    distributed.start()
    if not distributed.is_main():  # under torchrun the main process speaks for all
        warn, quiet = _silent, True
    out = RunPaths(output)
    if hub and hub.pull and distributed.on_main(lambda: hub.download(out.checkpoints)):
        resume = True
    _check_output(out, resume)
    corpus, tokenizer, splits = prepare_data(paths, cfg, warn=warn, quiet=quiet)
    record = {
        "config": cfg.to_dict(),
        # From the digests taken when the files were scanned: no second read.
        "data_fingerprint": corpus.fingerprint(paths=False),
        "processes": distributed.world_size(),
    }
    checkpoint = _resume_point(out, record, force, warn) if resume else None
    cpu_threads.use_recorded(checkpoint, warn)
    model = _trainable_model(cfg, tokenizer)
    trained_parameters = parameter_counts(model)
    base = _score(model, splits, quiet) if score_test else None
    _open_output(out, record, fresh=checkpoint is None)
    if hub and hub.push:
        callbacks = [*callbacks, hub.callback()]
    trainer = build_trainer(model, splits, cfg, out, quiet, callbacks, tokenizer=tokenizer)
    reuse_freed_memory()
    seen_before = _tokens_seen(checkpoint)
    start = time.time()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.time() - start
    if any(isinstance(c, GracefulStop) and c.requested for c in trainer.callback_handler.callbacks):
        raise TrainingInterrupted(f"stopped at step {trainer.state.global_step}; checkpoint saved")
    model = save_model(trainer.model, tokenizer, out.model, cfg, write=distributed.is_main())
    final = _score(model, splits, quiet) if score_test else None
    memorization = _memorization(model, tokenizer, splits, cfg) if score_test else None
    results = _results(
        cfg, corpus, splits, base, final, trainer, seconds, seen_before, memorization
    )
    results.update(trained_parameters)
    _write_report(out, results, cfg)
    return results


def prepare_data(paths, cfg: TrainConfig, *, warn=print, quiet: bool = False):
    """(corpus, tokenizer, splits) of the files under `paths`, skipped files
    named through `warn`. Every process of a distributed run prepares the same
    seeded splits (from the data cache when it holds them)."""
    corpus = load_corpus(paths)
    for skipped in corpus.skipped:
        warn(f"warning: skipped {skipped.path}: {skipped.reason}")
    corpus.require_text()
    tokenizer = load_tokenizer(cfg.model, revision=cfg.revision)
    return corpus, tokenizer, make_splits(corpus, tokenizer, cfg.data, quiet=quiet)


def score_on_test(paths, model_folder, cfg: TrainConfig, *, quiet: bool = False) -> dict:
    """`held_out_figures` of the model saved in `model_folder`, trained with
    `cfg` on `paths` without scoring the test split (`score_test=False`)."""
    _, tokenizer, splits = prepare_data(paths, cfg, warn=_silent, quiet=quiet)
    base = _score(_trainable_model(cfg, tokenizer), splits, quiet)
    model, _ = load_for_inference(str(model_folder))
    return held_out_figures(base, _score(model, splits, quiet))


def _trainable_model(cfg: TrainConfig, tokenizer):
    set_seed(cfg.seed)  # LoRA's random init, and anything else drawn before the Trainer
    model = load_model(cfg.model, tokenizer, seed=cfg.seed, revision=cfg.revision)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    return apply_lora(model, cfg.lora) if cfg.lora else model


def _score(model, splits, quiet: bool):
    return evaluate_loss(model, splits.test, files=splits.files, progress=not quiet)


def _open_output(out: RunPaths, record: dict, fresh: bool) -> None:
    distributed.barrier()  # all processes have checked the output folder: now it may change
    if distributed.is_main():
        out.root.mkdir(parents=True, exist_ok=True)
        report.write_json(out.record, record)
        if fresh:
            out.metrics.unlink(missing_ok=True)


def _write_report(out: RunPaths, results: dict, cfg: TrainConfig) -> None:
    if not distributed.is_main():
        return
    report.write_json(out.results, results)
    report.plot_losses(report.read_metrics(out.metrics), out.plot, title=cfg.model)
    checkpoints.write_atomic(out.card, render_model_card(results, cfg.to_dict(), repo_id=None))


def _silent(message: str) -> None:
    pass


def save_model(model, tokenizer, folder: Path, cfg: TrainConfig, write: bool = True):
    """Save the trained model; for LoRA, the adapter in `adapter/` (with the
    resized embeddings, so `[PAD]` survives) and, unless told not to, the merged
    full model beside it. Returns the model to evaluate. With `write` false
    (processes other than the main one) nothing is written, but the returned
    model is the same."""
    if cfg.lora is None:
        if write:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        return model
    if write:
        model.save_pretrained(folder / "adapter", save_embedding_layers=True)
        tokenizer.save_pretrained(folder / "adapter")
    if not cfg.lora.merge:
        return model
    merged = model.merge_and_unload()
    if write:
        merged.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return merged


def _tokens_seen(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    return int(report.read_json(checkpoint / "trainer_state.json").get("num_input_tokens_seen", 0))


def _memorization(model, tokenizer, splits, cfg: TrainConfig) -> dict | None:
    """Whether the model copies its training text (quality.memorization), on
    the main process only; None when turned off."""
    if not cfg.memorization_prompts or not distributed.is_main():
        return None
    from textgen_core.quality.memorization import memorization_report

    return memorization_report(
        model, tokenizer, splits, prompts=cfg.memorization_prompts, seed=cfg.seed
    )


def _results(
    cfg, corpus, splits, base, final, trainer, seconds, seen_before, memorization=None
) -> dict:
    state = trainer.state
    tokens_this_run = int(state.num_input_tokens_seen) - seen_before
    return {
        "base_model": cfg.model,
        "train_loss": _last_train_loss(state.log_history),
        "val_loss": state.best_metric,
        **held_out_figures(base, final),
        "train_tokens": splits.tokens("train"),
        "val_tokens": splits.tokens("validation"),
        "test_tokens": splits.tokens("test"),
        "split_by": splits.split_by,
        "chunks": {name: len(getattr(splits, name)) for name in ("train", "validation", "test")},
        "steps": state.global_step,
        "processes": distributed.world_size(),
        "effective_batch_size": cfg.batch_size
        * cfg.gradient_accumulation_steps
        * distributed.world_size(),
        "epochs_completed": state.epoch,
        "best_checkpoint": state.best_model_checkpoint,
        "train_seconds": seconds,
        "train_tokens_per_second": tokens_this_run / seconds if seconds > 0 else 0.0,
        "files_used": corpus.files_used,
        "files_skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped],
        "config": cfg.to_dict(),
        "memorization": memorization,
    }


def held_out_figures(base: EvalResult | None, final: EvalResult | None) -> dict:
    """The test-split part of results.json: base and fine-tuned loss and
    perplexity, overall and per file; None where the test split went unscored."""
    if base is None or final is None:
        keys = ("test_loss", "test_perplexity", "base_test_loss", "base_test_perplexity")
        return {**dict.fromkeys(keys), "test_per_file": {}, "test_tokens_scored": 0}
    per_file = {
        path: {
            **stats,
            "base_loss": base.per_file[path]["loss"],
            "base_perplexity": base.per_file[path]["perplexity"],
        }
        for path, stats in final.per_file.items()
    }
    return {
        "test_loss": final.loss,
        "test_perplexity": final.perplexity,
        "base_test_loss": base.loss,
        "base_test_perplexity": base.perplexity,
        "test_per_file": per_file,
        "test_tokens_scored": final.tokens,
    }


def _last_train_loss(history: list[dict]) -> float | None:
    losses = [h["loss"] for h in history if "loss" in h]
    return losses[-1] if losses else None
