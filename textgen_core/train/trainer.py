"""The Hugging Face Trainer as textgen runs it: its arguments (the seed recipe)
and a subclass that adds what the Trainer lacks — token-weighted validation
without logits, the fused LM-head loss, checkpoints marked complete only once
fully written (with a clear stop when the disk fills) and fault points for the
kill tests. `train.py` drives a whole run around it.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    ProgressCallback,
    Trainer,
    TrainingArguments,
)

from textgen_core import log
from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.kernels.frozen_bf16 import float32_weights
from textgen_core.kernels.lm_loss import fused_in_trainer, trainer_compute_loss
from textgen_core.kernels.memory import release_freed_memory
from textgen_core.model.loading import save_tokenizer
from textgen_core.train import checkpoints, distributed, faults
from textgen_core.train import threads as cpu_threads
from textgen_core.train.batches import collate_trimmed
from textgen_core.train.budget import BudgetKeeper, Schedule
from textgen_core.train.callbacks import GracefulStop, LiveProgress, MetricsLog
from textgen_core.train.evaluate import evaluate_loss

if TYPE_CHECKING:
    from textgen_core.run_folder import RunPaths

_TRAINING_BATCH_KEYS = ("input_ids", "attention_mask", "labels")  # what the collator yields


class TextgenTrainer(Trainer):
    """Trainer with token-weighted validation and complete-marked checkpoints."""

    def __init__(self, *args, keep_checkpoints: int = 2, tokenizer=None, schedule=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.keep_checkpoints = keep_checkpoints
        self.schedule = schedule  # a time budget's learning-rate Schedule (budget.py)
        # Saved into every checkpoint, so each one loads on its own (eval,
        # generate, push). Not passed as `processing_class`, which would also
        # swap the data collator for a padding one.
        self.tokenizer_to_save = tokenizer
        self.loss_paths: set[str] = set()  # "fused" / "stock", over this process's steps

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        faults.fault_point("step", self.state.global_step + 1)
        if model.training:
            fused = fused_in_trainer(self, model, inputs, return_outputs)
            self.loss_paths.add("fused" if fused else "stock")
        # Fused, chunked LM head + cross-entropy and oneDNN matmuls where they are
        # faster: 1.1-2x the stock Trainer's tokens/s on CPU with the same losses
        # (BENCHMARKS.md).
        return trainer_compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    def loss_computation(self) -> str:
        """How the training steps computed the loss: "fused", "stock" or both. A run
        resumed at its last step takes no step here: then, the path a training
        batch takes (the same model and trainer decide it)."""
        paths = self.loss_paths or {
            "fused"
            if fused_in_trainer(self, self.model, dict.fromkeys(_TRAINING_BATCH_KEYS))
            else "stock"
        }
        return ", ".join(sorted(paths))

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None and self.schedule is not None:
            from torch.optim.lr_scheduler import LambdaLR

            schedule = self.schedule
            # A lambda, not the Schedule: LambdaLR would save a callable object's
            # fields into scheduler.pt and restore them over the plan that a
            # resumed run reads from its record (budget.py).
            self.lr_scheduler = LambdaLR(optimizer or self.optimizer, lambda s: schedule(s))
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        # The Trainer's own loss is a mean of per-batch means; ours weighs each
        # token equally and keeps no logits, so it is both truer and faster.
        faults.fault_point("eval", self.state.global_step)
        # The training steps' freed blocks are shaped for them, not for evaluation's
        # (kernels.memory): returned first, they do not add to its peak.
        release_freed_memory()
        start = time.time()
        # Evaluation and the samples taken after it in float32, as the model is saved.
        with float32_weights(self.model), plain_forward(self.model):
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
            if self.tokenizer_to_save is not None:
                save_tokenizer(self.tokenizer_to_save, folder)
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


@contextlib.contextmanager
def plain_forward(model) -> Iterator[None]:
    """Within the block, `model.forward` is the model's own, without the autocast
    that a bf16/fp16 Trainer wraps around it for the training steps (see
    `without_autocast_wrapper`): the samples taken at an evaluation decode as
    those before training did and as the saved model will."""
    wrapped, original = model.__dict__.get("forward"), model.__dict__.get("_original_forward")
    if wrapped is None or original is None:
        yield
        return
    model.forward = original
    try:
        yield
    finally:
        model.forward = wrapped


def without_autocast_wrapper(model):
    """`model` with the autocast that a bf16/fp16 Trainer wraps around its
    `forward` (accelerate's mixed precision) taken off again. Left on, what runs
    the trained model after training (the memorization check's generation, a
    caller of `train()`) would decode in autocast: per token 7.6-9.6x slower with
    distilgpt2's shape on an H200, 4.7x on an AVX2 CPU (BENCHMARKS.md, GPU)."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model, keep_fp32_wrapper=False)


def _steps(cfg: TrainConfig, train_chunks: int, processes: int = 1) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps). Each process takes
    `cfg.batch_size` chunks per micro-batch, as the Trainer's data loader does."""
    batches = math.ceil(math.ceil(train_chunks / cfg.batch_size) / processes)
    per_epoch = max(1, math.ceil(batches / cfg.gradient_accumulation_steps))
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    return per_epoch, total


def training_arguments(
    cfg: TrainConfig,
    out: RunPaths,
    train_chunks: int,
    precision: str | None = None,
    planned_steps: int | None = None,
):
    """The Trainer's arguments; `precision` is a resolved one (fp32, bf16,
    fp16: textgen_core.precision), None keeping the old choice (bf16/fp16 on CUDA).
    `planned_steps`: the steps a time budget plans (at most those the settings
    give, which stay the Trainer's bound), which set the logging interval."""
    import torch

    processes = distributed.world_size()
    per_epoch, total = _steps(cfg, train_chunks, processes)
    eval_steps = min(cfg.eval_steps or per_epoch, total)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    fp16 = cuda and not bf16
    if precision is not None:
        bf16, fp16 = precision == "bf16", precision == "fp16"
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
        logging_steps=max(1, min(50, (planned_steps or total) // 20)),
        include_num_input_tokens_seen="non_padding",
        seed=cfg.seed,
        bf16=bf16,
        fp16=fp16,
        disable_tqdm=not log.progress_bars(),
        report_to="none",
        dataloader_pin_memory=cuda,
        # CPU processes launched by torchrun only form a DDP group with use_cpu.
        use_cpu=(processes > 1 or bf16) and not cuda,  # transformers wants it for CPU bf16
        # Every trainable weight gets a gradient each step: skip DDP's search.
        ddp_find_unused_parameters=False,
        log_level_replica="passive",  # other processes as quiet as the main one
    )


def build_trainer(
    model,
    splits,
    cfg: TrainConfig,
    out: RunPaths,
    callbacks=(),
    precision=None,
    tokenizer=None,
    budget: BudgetKeeper | None = None,
):
    """The Trainer of a run; with `budget`, held to its plan's steps and schedule."""
    planned = budget.plan.steps if budget else None
    args = training_arguments(cfg, out, len(splits.train), precision, planned)
    extra = [MetricsLog(out.metrics), *callbacks, *([budget] if budget else [])]
    if threading.current_thread() is threading.main_thread():  # signals reach only the main thread
        extra.append(GracefulStop())
    if cfg.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = TextgenTrainer(
        model=model,
        args=args,
        train_dataset=splits.train,
        eval_dataset=splits.validation,
        # Prompt/answer rows are padded to the longest example: each batch is cut to its own.
        data_collator=collate_trimmed if splits.chat is not None else None,
        callbacks=extra,
        keep_checkpoints=cfg.save_total_limit,
        tokenizer=tokenizer,
        schedule=Schedule(budget.plan) if budget else None,
    )
    trainer.remove_callback(PrinterCallback)
    if log.progress_bars():
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LiveProgress())
    return trainer
