"""The training run: files in, model folder and honest report out.

The Hugging Face Trainer does the loop (AdamW with decay/no-decay groups,
linear warmup, accumulation, clipping, early stopping, best-model reload,
exact resume). textgen adds what it lacks: token-weighted validation,
checkpoints marked complete only once fully written (and a clear stop when the
disk fills), the same CPU thread count and a settings check on resume, a
metrics log, and before/after test evaluation.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)

from textgen_core import checkpoints, cpu_threads, distributed, faults, report
from textgen_core.callbacks import (
    GracefulStop,
    HubSync,
    LiveProgress,
    MetricsLog,
    TrainingInterrupted,
)
from textgen_core.config import TrainConfig
from textgen_core.cpu_memory import reuse_freed_memory
from textgen_core.data import make_splits
from textgen_core.errors import TextgenError
from textgen_core.evaluate import evaluate_loss, perplexity
from textgen_core.ingest import Corpus, load_corpus
from textgen_core.lm_loss import trainer_compute_loss
from textgen_core.model_card import render_model_card
from textgen_core.modeling import (
    apply_lora,
    freeze_embeddings,
    load_model,
    load_tokenizer,
    parameter_counts,
)


@dataclass
class RunPaths:
    root: Path

    def __post_init__(self):
        self.root = Path(self.root)
        self.model = self.root / "model"
        self.checkpoints = self.root / "checkpoints"
        self.metrics = self.root / "metrics.jsonl"
        self.results = self.root / "results.json"
        self.plot = self.root / "loss.png"
        self.card = self.root / "README.md"
        self.record = self.root / "textgen_run.json"


class TextgenTrainer(Trainer):
    """Trainer with token-weighted validation and complete-marked checkpoints."""

    def __init__(self, *args, keep_checkpoints: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_checkpoints = keep_checkpoints

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        faults.fault_point("step", self.state.global_step + 1)
        # Fused, chunked LM head + cross-entropy and oneDNN matmuls: ~2x the
        # stock Trainer's tokens/s on CPU with the same losses (BENCHMARKS.md).
        return trainer_compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        # The Trainer's own loss is a mean of per-batch means; ours weighs each
        # token equally and keeps no logits, so it is both truer and faster.
        faults.fault_point("eval", self.state.global_step)
        start = time.time()
        result = evaluate_loss(
            self.model,
            eval_dataset if eval_dataset is not None else self.eval_dataset,
            batch_size=self.args.per_device_eval_batch_size,
        )
        metrics = {
            f"{metric_key_prefix}_loss": result.loss,
            f"{metric_key_prefix}_perplexity": result.perplexity,
            f"{metric_key_prefix}_runtime": round(time.time() - start, 3),
        }
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, metrics
        )
        return metrics

    def _save_checkpoint(self, model, trial):
        step = self.state.global_step
        folder = Path(self.args.output_dir) / f"checkpoint-{step}"
        try:
            super()._save_checkpoint(model, trial)
            # Every process writes part of a checkpoint (its rng_state_<rank>.pth):
            # the main process marks it complete once all of them are done.
            self.accelerator.wait_for_everyone()
            if not self.args.should_save:
                return
            faults.fault_point("before_marker", step)
            checkpoints.mark_complete(folder, **cpu_threads.current())
        except Exception as exc:
            if isinstance(exc, TextgenError) or not checkpoints.out_of_space(exc, folder):
                raise
            raise checkpoints.save_failed_for_space(folder) from exc
        faults.fault_point("after_marker", step)
        checkpoints.rotate(
            folder.parent, self.keep_checkpoints, protect=self.state.best_model_checkpoint
        )

    def _save_optimizer_and_scheduler(self, output_dir):
        faults.fault_point("mid_save", self.state.global_step)
        faults.disk_full_point(self.state.global_step, Path(output_dir) / "optimizer.pt")
        super()._save_optimizer_and_scheduler(output_dir)

    # The Trainer loads these with torch.load(weights_only=True), which refuses
    # pickled code; say which checkpoint was refused instead of a bare traceback.
    def _load_optimizer_and_scheduler(self, checkpoint):
        if checkpoint is None:
            return
        with checkpoints.refusing_unsafe_state(f"{checkpoint}/optimizer.pt or scheduler.pt"):
            super()._load_optimizer_and_scheduler(checkpoint)

    def _load_rng_state(self, checkpoint):
        if checkpoint is None:
            return
        with checkpoints.refusing_unsafe_state(f"{checkpoint}/rng_state.pth"):
            super()._load_rng_state(checkpoint)


def _fingerprint(corpus: Corpus) -> str:
    digest = hashlib.sha256()
    for doc in corpus.documents:
        digest.update(doc.text.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _steps(cfg: TrainConfig, train_chunks: int, processes: int = 1) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps). Each process takes
    `cfg.batch_size` chunks per micro-batch, as the Trainer's data loader does."""
    batches = math.ceil(math.ceil(train_chunks / cfg.batch_size) / processes)
    per_epoch = max(1, math.ceil(batches / cfg.gradient_accumulation_steps))
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    return per_epoch, total


def training_arguments(cfg: TrainConfig, out: RunPaths, train_chunks: int, quiet: bool):
    import torch

    processes = distributed.world_size()
    per_epoch, total = _steps(cfg, train_chunks, processes)
    eval_steps = min(cfg.eval_steps or per_epoch, total)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(out.checkpoints),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=max(cfg.batch_size, 16),
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a share of the steps
        lr_scheduler_type="linear",
        max_grad_norm=cfg.max_grad_norm,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        restore_callback_states_from_checkpoint=True,
        logging_steps=max(1, min(50, total // 20)),
        include_num_input_tokens_seen="non_padding",
        seed=cfg.seed,
        bf16=bf16,
        fp16=cuda and not bf16,
        disable_tqdm=quiet,
        report_to="none",
        dataloader_pin_memory=cuda,
        # CPU processes launched by torchrun only form a DDP group with use_cpu.
        use_cpu=processes > 1 and not cuda,
        # Every trainable weight gets a gradient each step: skip DDP's search.
        ddp_find_unused_parameters=False,
        log_level_replica="passive",  # other processes as quiet as the main one
    )


def build_trainer(model, splits, cfg: TrainConfig, out: RunPaths, quiet: bool, callbacks=()):
    args = training_arguments(cfg, out, len(splits.train), quiet)
    extra = [MetricsLog(out.metrics), *callbacks]
    if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
        extra.append(GracefulStop())
    if cfg.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = TextgenTrainer(
        model=model,
        args=args,
        train_dataset=splits.train,
        eval_dataset=splits.validation,
        callbacks=extra,
        keep_checkpoints=cfg.save_total_limit,
    )
    trainer.remove_callback(PrinterCallback)
    if not quiet:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LiveProgress())
    return trainer


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
    hub: HubSync | None = None,
) -> dict:
    """Fine-tune `cfg.model` on the files under `paths`; write the output folder
    of DESIGN.md to `output` and return the results dict. `hub` mirrors
    checkpoints to (or resumes from) a Hub repo."""
    cfg.validate()
    distributed.start()
    if not distributed.is_main():  # under torchrun the main process speaks for all
        warn, quiet = _silent, True
    out = RunPaths(output)
    if hub and hub.pull and distributed.on_main(lambda: hub.download(out.checkpoints)):
        resume = True
    _check_output(out, resume)
    corpus = load_corpus(paths)
    for skipped in corpus.skipped:
        warn(f"warning: skipped {skipped.path}: {skipped.reason}")
    corpus.require_text()
    tokenizer = load_tokenizer(cfg.model, revision=cfg.revision)
    # Every process prepares the same seeded splits in memory: nothing to share.
    splits = make_splits(corpus, tokenizer, cfg.data, quiet=quiet)
    record = {
        "config": cfg.to_dict(),
        "data_fingerprint": _fingerprint(corpus),
        "processes": distributed.world_size(),
    }
    checkpoint = _resume_point(out, record, force, warn) if resume else None
    cpu_threads.use_recorded(checkpoint, warn)
    set_seed(cfg.seed)  # LoRA's random init, and anything else drawn before the Trainer
    model = load_model(cfg.model, tokenizer, seed=cfg.seed, revision=cfg.revision)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    if cfg.lora:
        model = apply_lora(model, cfg.lora)
    trained_parameters = parameter_counts(model)
    base = evaluate_loss(model, splits.test, files=splits.files, progress=not quiet)
    distributed.barrier()  # all processes have checked the output folder: now it may change
    if distributed.is_main():
        out.root.mkdir(parents=True, exist_ok=True)
        report.write_json(out.record, record)
        if checkpoint is None:
            out.metrics.unlink(missing_ok=True)
    if hub and hub.push:
        callbacks = [*callbacks, hub.callback()]
    trainer = build_trainer(model, splits, cfg, out, quiet, callbacks)
    reuse_freed_memory()
    seen_before = _tokens_seen(checkpoint)
    start = time.time()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.time() - start
    if any(isinstance(c, GracefulStop) and c.requested for c in trainer.callback_handler.callbacks):
        raise TrainingInterrupted(f"stopped at step {trainer.state.global_step}; checkpoint saved")
    model = save_model(trainer.model, tokenizer, out.model, cfg, write=distributed.is_main())
    final = evaluate_loss(model, splits.test, files=splits.files, progress=not quiet)
    results = _results(cfg, corpus, splits, base, final, trainer, seconds, seen_before)
    results.update(trained_parameters)
    if distributed.is_main():
        report.write_json(out.results, results)
        report.plot_losses(report.read_metrics(out.metrics), out.plot, title=cfg.model)
        checkpoints.write_atomic(out.card, render_model_card(results, cfg.to_dict(), repo_id=None))
    return results


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


def _results(cfg, corpus, splits, base, final, trainer, seconds, seen_before) -> dict:
    state = trainer.state
    tokens_this_run = int(state.num_input_tokens_seen) - seen_before
    per_file = {
        path: {
            **stats,
            "base_loss": base.per_file[path]["loss"],
            "base_perplexity": base.per_file[path]["perplexity"],
        }
        for path, stats in final.per_file.items()
    }
    return {
        "base_model": cfg.model,
        "train_loss": _last_train_loss(state.log_history),
        "val_loss": state.best_metric,
        "test_loss": final.loss,
        "test_perplexity": final.perplexity,
        "base_test_loss": base.loss,
        "base_test_perplexity": perplexity(base.loss),
        "test_per_file": per_file,
        "train_tokens": splits.tokens("train"),
        "val_tokens": splits.tokens("validation"),
        "test_tokens": splits.tokens("test"),
        "test_tokens_scored": final.tokens,
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
    }


def _last_train_loss(history: list[dict]) -> float | None:
    losses = [h["loss"] for h in history if "loss" in h]
    return losses[-1] if losses else None
