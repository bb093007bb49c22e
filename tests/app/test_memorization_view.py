"""The app shows the memorization verdict under its names for the uploaded files."""

from __future__ import annotations

from textgen_core.app.job_results import shown_results
from textgen_core.app.ui.render import results_markdown
from textgen_core.train.results import RunResults

STORED = "/srv/textgen_data/jobs/abc/uploads/3f9a-chapter.txt"
RESULTS = {
    "base_test_loss": 5.0,
    "test_loss": 3.0,
    "base_test_perplexity": 148.4,
    "test_perplexity": 20.1,
    "steps": 10,
    "train_seconds": 12.0,
    "train_tokens": 1000,
    "val_tokens": 100,
    "test_tokens": 100,
    "files_used": [STORED],
    "files_skipped": [],
    "test_per_file": {},
    "memorization": {
        "prompts": 32,
        "continuation_tokens": 128,
        "longest_copied_example": {"text": "To be, or not to be", "file": STORED},
        "verdict": "copies: 41% of generated 8-grams appear in the training text vs 3% for "
        "the author's own unseen text; longest copied passage 212 tokens from 3f9a-chapter.txt",
    },
}


def test_results_show_the_verdict_with_the_uploaders_file_name():
    shown = shown_results(RunResults.from_dict(RESULTS), {STORED: "chapter-3.txt"})
    assert shown["memorization"]["longest_copied_example"]["file"] == "chapter-3.txt"
    text = results_markdown(shown)
    assert "**Memorization** (32 held-out prompts, 128 tokens each): copies: 41%" in text
    assert "212 tokens from chapter-3.txt" in text and "3f9a" not in text


def test_results_without_a_memorization_block_render_as_before():
    plain = {k: v for k, v in RESULTS.items() if k != "memorization"}
    assert "Memorization" not in results_markdown(shown_results(RunResults.from_dict(plain), {}))
