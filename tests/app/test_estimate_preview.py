"""The Train tab's time estimate, shown before Start."""

from __future__ import annotations

from textgen_core.app.ui.handlers import Handlers

FORM = dict(epochs=1, batch=8, lr=1e-3, warmup=0.1, chunk=64, seed=42, lora=False, sep="")


def test_estimate_shows_minutes_on_this_machine_before_training(tiny_model, corpus_dir):
    h = Handlers(None, None, None, 512)  # the estimate needs no job store or server
    files = sorted(str(p) for p in corpus_dir.iterdir())
    shown = h.estimate(files, str(tiny_model), **FORM, precision="fp32", budget="")
    assert shown.startswith("**Time:** about ") and "on this machine" in shown
    budgeted = h.estimate(files, str(tiny_model), **FORM, precision="fp32", budget="1h")
    assert "--time-budget 60 min sets" in budgeted


def test_estimate_without_files_or_with_a_bad_budget_says_so(tiny_model, corpus_dir):
    h = Handlers(None, None, None, 512)
    assert "Upload text files" in h.estimate(
        [], str(tiny_model), **FORM, precision="auto", budget=""
    )
    files = [str(next(corpus_dir.iterdir()))]
    shown = h.estimate(files, str(tiny_model), **FORM, precision="auto", budget="soon")
    assert shown.startswith("**Cannot estimate:** --time-budget: 'soon' is not a duration")
