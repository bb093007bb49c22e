"""What a finished training run adds up to: the `RunResults` (results.json) built
from the Trainer's state, the data splits, the corpus and the test scores."""

from __future__ import annotations

from pathlib import Path

from textgen_core import run_folder
from textgen_core.data.file_table import file_rows
from textgen_core.train import distributed, sample_callback
from textgen_core.train.evaluate import EvalResult
from textgen_core.train.results import RunResults


def tokens_seen(checkpoint: Path | None) -> int:
    """Input tokens the run had trained on when `checkpoint` was saved (0 for a fresh run)."""
    if checkpoint is None:
        return 0
    return int(
        run_folder.read_json(checkpoint / "trainer_state.json").get("num_input_tokens_seen", 0)
    )


def run_results(
    cfg, corpus, splits, base, final, trainer, seconds, seen_before, speed=None, memorization=None
) -> RunResults:
    """results.json of a run whose Trainer has finished: `base`/`final` are the test
    scores (None when unscored), `seconds` this process's training time, and
    `seen_before` the tokens trained on before a resume (the speed counts this run's)."""
    state = trainer.state
    tokens_this_run = int(state.num_input_tokens_seen) - seen_before
    return RunResults(
        base_model=cfg.model,
        train_loss=_last_train_loss(state.log_history),
        val_loss=state.best_metric,
        **held_out_figures(base, final),
        train_tokens=splits.tokens("train"),
        val_tokens=splits.tokens("validation"),
        test_tokens=splits.tokens("test"),
        split_by=splits.split_by,
        chunks={name: len(getattr(splits, name)) for name in ("train", "validation", "test")},
        steps=state.global_step,
        processes=distributed.world_size(),
        effective_batch_size=cfg.batch_size
        * cfg.gradient_accumulation_steps
        * distributed.world_size(),
        epochs_completed=state.epoch,
        best_checkpoint=state.best_model_checkpoint,
        train_seconds=seconds,
        train_tokens_per_second=tokens_this_run / seconds if seconds > 0 else 0.0,
        files_used=corpus.files_used,
        files_skipped=[{"path": s.path, "reason": s.reason} for s in corpus.skipped],
        config=cfg.to_dict(),
        file_table=corpus.file_table or file_rows(corpus),
        samples=sample_callback.final_samples(trainer),
        # precision (resolved), estimated_seconds (before training: calibration +
        # arithmetic), time_budget_seconds (None without --time-budget) and
        # run_seconds (base scoring to final scoring, what the estimate covers).
        **(speed or {}),
        memorization=memorization,
    )


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
