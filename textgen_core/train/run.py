"""The training run: files in, model folder and honest report out.

The Hugging Face Trainer does the loop (AdamW with decay/no-decay groups,
linear warmup, accumulation, clipping, early stopping, best-model reload,
exact resume) as `trainer.py` sets it up. This module runs a whole run around
it: data, model, the settings check and the same CPU thread count on resume,
before/after test evaluation, the model folder and the report.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from transformers import (
    set_seed,
)

from textgen_core import log, run_folder
from textgen_core.chat_template import ensure_chat_template
from textgen_core.config import TrainConfig, parse_duration
from textgen_core.data.chat_formats import Columns
from textgen_core.data.file_table import (
    cut_note,
    file_rows,
    format_file_table,
    left_out,
    tokens_per_file,
)
from textgen_core.data.ingest import load_corpus
from textgen_core.data.prepare import make_splits
from textgen_core.errors import TextgenError
from textgen_core.kernels.frozen_bf16 import bf16_steps
from textgen_core.kernels.lora_dropout import fast_lora_dropout
from textgen_core.kernels.memory import release_freed_memory, reuse_freed_memory
from textgen_core.model.loading import (
    apply_lora,
    embeddings_resized,
    freeze_embeddings,
    load_for_inference,
    load_model,
    load_tokenizer,
    parameter_counts,
    save_tokenizer,
)
from textgen_core.quality.samples import BASE_STEP
from textgen_core.run_folder import RunPaths
from textgen_core.train import distributed, estimate, report, sample_callback
from textgen_core.train import threads as cpu_threads
from textgen_core.train.budget import BudgetKeeper, BudgetPlan
from textgen_core.train.callbacks import (
    GracefulStop,
    TrainingInterrupted,
)
from textgen_core.train.evaluate import evaluate_loss
from textgen_core.train.model_card import render_model_card
from textgen_core.train.results import RunResults
from textgen_core.train.resume import (
    check_output,
    open_output,
    record_budget,
    recorded_budget,
    resume_point,
)
from textgen_core.train.run_precision import run_precision
from textgen_core.train.run_results import held_out_figures, run_results, tokens_seen
from textgen_core.train.trainer import _steps as trainer_steps
from textgen_core.train.trainer import build_trainer, training_arguments, without_autocast_wrapper

logger = logging.getLogger(__name__)


def train(
    paths,
    output,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    force: bool = False,
    callbacks=(),
    hub=None,
    score_test: bool = True,
) -> RunResults:
    """Fine-tune `cfg.model` on the files under `paths`; write the output folder
    of DESIGN.md to `output` and return its results. `hub` mirrors
    checkpoints to (or resumes from) a Hub repo. `score_test=False` leaves the
    test split unscored (its figures None), as a search's trials must."""
    started = time.time()  # what --time-budget bounds starts here
    cfg.validate()
    distributed.start()
    if not distributed.is_main():  # under torchrun the main process speaks for all
        log.silence()
    out = RunPaths(output)
    if hub and hub.pull and distributed.on_main(lambda: hub.download(out.checkpoints)):
        resume = True
    check_output(out, resume)
    corpus, tokenizer, splits, precision, record, checkpoint, model = preamble(
        paths, cfg, out, resume=resume, force=force
    )
    sampler = sample_callback.for_run(
        out.samples, cfg, model, tokenizer, splits, show=log.progress_bars()
    )
    trained_parameters = parameter_counts(model)
    plan, budget_plan = _plan(
        model, tokenizer, splits, cfg, out, precision, checkpoint, started, score_test
    )
    release_freed_memory()  # the calibration's optimizer and activations
    record["planned_steps"] = budget_plan.steps if budget_plan else None
    record["budget_plan"] = budget_plan.to_dict() if budget_plan else None
    run_start = time.time()
    base = _score(model, splits) if score_test else None
    release_freed_memory()
    open_output(out, record, fresh=checkpoint is None)
    callbacks = _run_callbacks(callbacks, sampler, hub, model, fresh=checkpoint is None)
    keeper = None
    if budget_plan is not None:
        keeper = BudgetKeeper(
            budget_plan,
            plan,
            started,
            lambda p: record_budget(out, record, p),
            checkpoint is None,
        )
    trainer = build_trainer(
        model, splits, cfg, out, callbacks, precision, tokenizer=tokenizer, budget=keeper
    )
    seen_before = tokens_seen(checkpoint)
    start = time.time()
    with bf16_steps(model, precision):
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.time() - start
    if any(isinstance(c, GracefulStop) and c.requested for c in trainer.callback_handler.callbacks):
        raise TrainingInterrupted(f"stopped at step {trainer.state.global_step}; checkpoint saved")
    trained = without_autocast_wrapper(trainer.model)
    model = save_model(trained, tokenizer, out.model, cfg, write=distributed.is_main())
    final = _score(model, splits) if score_test else None
    memorization = _memorization(model, tokenizer, splits, cfg) if score_test else None
    speed = _speed(precision, plan, budget_plan, run_start, started)
    results = run_results(
        cfg, corpus, splits, base, final, trainer, seconds, seen_before, speed, memorization
    )
    results = dataclasses.replace(
        results,
        **trained_parameters,
        loss_computation=trainer.loss_computation(),
        model_type=model.config.model_type,  # PEFT forwards .config to the base model
    )
    _write_report(out, results, cfg)
    return results


def _run_callbacks(callbacks, sampler, hub, model, *, fresh: bool) -> list:
    """The callbacks a run trains with: the caller's, then the samples' (a fresh
    run samples the base model first: the "before" of before/after), then the
    Hub's checkpoint mirror."""
    callbacks = list(callbacks)
    if sampler is not None:
        callbacks.append(sampler)
        if fresh and distributed.is_main():
            sampler.sample(model, BASE_STEP)
    if hub and hub.push:
        callbacks.append(hub.callback())
    return callbacks


def _speed(precision: str, plan, budget_plan, run_start: float, started: float) -> dict:
    """results.json's timing figures: the estimate and budget against the clock."""
    return {
        "precision": precision,
        "estimated_seconds": plan.seconds,
        "time_budget_seconds": plan.budget_seconds,
        "run_seconds": time.time() - run_start,
        "setup_seconds": plan.spent_seconds,
        "wall_seconds": time.time() - started,
        "planned_steps": budget_plan.first_steps if budget_plan else plan.steps,
        "budget_refit": budget_plan.refit_figures() if budget_plan else None,
    }


def preamble(
    paths, cfg: TrainConfig, out: RunPaths, *, resume=False, force=False, name_skipped=True
):
    """What `train()` and the preview estimate (estimate_run) both do before
    calibrating, in this order, so the estimate times the steps training will run:
    (corpus, tokenizer, splits, resolved precision, the run record, the checkpoint
    to resume or None, the model to train)."""
    corpus, tokenizer, splits = prepare_data(paths, cfg, name_skipped=name_skipped)
    precision = run_precision(cfg, out, resume, force)
    record = {
        "config": {**cfg.to_dict(), "precision": precision},
        # From the digests taken when the files were scanned: no second read.
        "data_fingerprint": corpus.fingerprint(paths=False),
        "processes": distributed.world_size(),
    }
    checkpoint = resume_point(out, record, force) if resume else None
    cpu_threads.use_recorded(checkpoint)
    model = _trainable_model(cfg, tokenizer)
    _check_ids_fit(model, tokenizer, splits, cfg.model)
    # Before the calibration, so that its steps allocate as training's will: timed
    # without it, a tiny model's calibrated step was 1.3-1.6x the Trainer's.
    reuse_freed_memory()
    return corpus, tokenizer, splits, precision, record, checkpoint, model


def _plan(
    model,
    tokenizer,
    splits,
    cfg: TrainConfig,
    out: RunPaths,
    precision: str,
    checkpoint,
    started: float | None = None,
    score_test: bool = True,
):
    """(the estimate, the time budget's plan or None): calibrate, print the
    estimate and, with a time budget, plan the steps that fit what is left of
    it since `started`; on resume, the plan the run recorded, so its steps and
    learning-rate schedule do not move."""
    args = training_arguments(cfg, out, len(splits.train), precision)
    per_epoch, total = trainer_steps(cfg, len(splits.train), distributed.world_size())
    calibration = estimate.calibrate(model, splits, cfg, args, precision, tokenizer)
    recorded = recorded_budget(out, checkpoint, args) if cfg.time_budget else None
    fixed = dataclasses.replace(cfg, time_budget=None) if recorded else cfg
    spent = time.time() - started if started else 0.0
    plan = estimate.plan(
        calibration,
        fixed,
        recorded.steps if recorded else total,
        per_epoch,
        splits,
        spent=spent,
        score_test=score_test,
    )
    plan.ceiling = total
    if cfg.time_budget:
        plan.budget_seconds = parse_duration(cfg.time_budget)
    logger.info(plan.message())
    if not cfg.time_budget:
        return plan, None
    return plan, recorded or BudgetPlan(
        first_steps=plan.steps,
        warmup_steps=args.get_warmup_steps(plan.steps),
        steps=plan.steps,
        calibrated_step_seconds=calibration.step_s,
    )


def prepare_data(paths, cfg: TrainConfig, *, name_skipped: bool = True):
    """(corpus, tokenizer, splits) of the files under `paths`, skipped files
    (and prompt/answer rows) named in a warning. Every process of a
    distributed run prepares the same seeded splits (from the data cache when
    it holds them). With prompt/answer or chat data, a tokenizer without a
    chat template gets textgen's minimal one (chat_template)."""
    corpus = load_corpus(paths, doc_separator=cfg.data.doc_separator, columns=Columns.of(cfg.data))
    corpus.require_text()
    tokenizer = load_tokenizer(cfg.model, revision=cfg.revision)
    if corpus.chat_sources and ensure_chat_template(tokenizer) and name_skipped:
        logger.info(
            f"{cfg.model} has no chat template: prompt/answer data is rendered with "
            "textgen's minimal one (ChatML), saved with the model"
        )
    splits = make_splits(corpus, tokenizer, cfg.data)
    corpus.skipped.extend(left_out(splits.chat))
    for skipped in corpus.skipped if name_skipped else ():
        logger.warning(f"warning: skipped {skipped.path}: {skipped.reason}")
    note = cut_note(splits.chat, cfg.data.chunk_size)
    if note and name_skipped:
        logger.warning(f"warning: {note}")
    tokens = dict(zip(splits.files, tokens_per_file(splits), strict=True))
    corpus.file_table = file_rows(corpus, tokens, splits.chat)
    if name_skipped:
        logger.info(format_file_table(corpus.file_table))
    return corpus, tokenizer, splits


def score_on_test(paths, model_folder, cfg: TrainConfig) -> dict:
    """`held_out_figures` of the model saved in `model_folder`, trained with
    `cfg` on `paths` without scoring the test split (`score_test=False`)."""
    _, tokenizer, splits = prepare_data(paths, cfg, name_skipped=False)
    base = _score(_trainable_model(cfg, tokenizer), splits)
    model, _ = load_for_inference(str(model_folder))
    return held_out_figures(base, _score(model, splits))


def _trainable_model(cfg: TrainConfig, tokenizer):
    set_seed(cfg.seed)  # LoRA's random init, and anything else drawn before the Trainer
    model = load_model(cfg.model, tokenizer, seed=cfg.seed, revision=cfg.revision)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    if cfg.activation_checkpointing:
        model.activation_checkpointing_enable()  # before LoRA: PEFT keeps the setting
    return fast_lora_dropout(apply_lora(model, cfg.lora)) if cfg.lora else model


def _check_ids_fit(model, tokenizer, splits, name: str) -> None:
    """Refuse text holding a token the model has no embedding row for: a special
    token of the tokenizer past the model's rows, such as Gemma 3's
    `<image_soft_token>` written out in a file (textgen adds no row for it)."""
    import pyarrow.compute as pc

    rows = model.get_input_embeddings().weight.shape[0]
    for split in (splits.train, splits.validation, splits.test):
        ids = pc.list_flatten(split.data.table.column("input_ids"))
        highest = pc.max(ids).as_py() if len(ids) else None
        if highest is not None and highest >= rows:
            token = tokenizer.convert_ids_to_tokens(highest)
            raise TextgenError(
                f"the text holds {token!r} (token {highest}), a special token of the "
                f"tokenizer of {name} that the model has no embedding for ({rows} rows); "
                "remove it from your files"
            )


def _score(model, splits):
    return evaluate_loss(model, splits.test, files=splits.files, progress=log.progress_bars())


def _write_report(out: RunPaths, results: RunResults, cfg: TrainConfig) -> None:
    if not distributed.is_main():
        return
    run_folder.write_json(out.results, results.to_dict())
    report.plot_losses(run_folder.read_metrics(out.metrics), out.plot, title=cfg.model)
    run_folder.write_atomic(out.card, render_model_card(results, cfg.to_dict(), repo_id=None))


def save_model(model, tokenizer, folder: Path, cfg: TrainConfig, write: bool = True):
    """Save the trained model; for LoRA, the adapter in `adapter/` (with the
    embeddings where textgen resized them, so `[PAD]` survives) and, unless told not to, the merged
    full model beside it. Returns the model to evaluate. With `write` false
    (processes other than the main one) nothing is written, but the returned
    model is the same."""
    if cfg.lora is None:
        if write:
            model.save_pretrained(folder)
            save_tokenizer(tokenizer, folder)
        return model
    if write:
        resized = embeddings_resized(model, cfg.model, revision=cfg.revision)
        model.save_pretrained(folder / "adapter", save_embedding_layers=resized)
        save_tokenizer(tokenizer, folder / "adapter")
    if not cfg.lora.merge:
        return model
    merged = model.merge_and_unload()
    if write:
        merged.save_pretrained(folder)
        save_tokenizer(tokenizer, folder)
    return merged


def _memorization(model, tokenizer, splits, cfg: TrainConfig) -> dict | None:
    """Whether the model copies its training text (quality.memorization), on
    the main process only; None when turned off."""
    if not cfg.memorization_prompts or not distributed.is_main():
        return None
    from textgen_core.quality.memorization import memorization_report

    return memorization_report(
        model, tokenizer, splits, prompts=cfg.memorization_prompts, seed=cfg.seed
    )
