"""samples.jsonl as files: tolerant reading, truncation for resume, the
before/after pairs and the summary lines."""

from __future__ import annotations

import json

from textgen_core.quality.samples import (
    append_samples,
    before_after,
    format_samples,
    read_samples,
    timeline,
    truncate_samples,
)


def _records(steps, prompts=("To be", "My lord")):
    return [{"step": s, "prompt": p, "text": f" text {p} {s}"} for s in steps for p in prompts]


def test_truncate_keeps_samples_up_to_the_checkpoint_and_drops_a_half_written_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    append_samples(path, _records([0, 5, 10, 15]))
    with open(path, "a") as f:
        f.write('{"step": 20, "prompt": "To b')  # a kill mid-write
    assert [r["step"] for r in read_samples(path)] == [0, 0, 5, 5, 10, 10, 15, 15]

    truncate_samples(path, 10)
    assert read_samples(path) == _records([0, 5, 10])
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_before_after_pairs_the_base_model_with_the_chosen_evaluation():
    rows = before_after(_records([0, 5, 10, 15]), step=10)
    assert rows == [
        {"prompt": "To be", "step": 10, "base": " text To be 0", "fine_tuned": " text To be 10"},
        {
            "prompt": "My lord",
            "step": 10,
            "base": " text My lord 0",
            "fine_tuned": " text My lord 10",
        },
    ]
    # an unknown step (e.g. no best checkpoint) falls back to the last evaluation
    assert {r["step"] for r in before_after(_records([0, 5, 15]), step=None)} == {15}
    assert before_after(_records([0])) == []


def test_timeline_orders_each_prompt_by_step():
    shuffled = _records([10]) + _records([0]) + _records([5])
    assert [s for s, _ in timeline(shuffled)["To be"]] == [0, 5, 10]


def test_summary_shows_base_first_and_last_evaluation_of_each_prompt():
    text = format_samples(_records([0, 20, 30, 40]))
    assert "prompt 'To be'" in text and "prompt 'My lord'" in text
    assert "base model: To be text To be 0" in text
    assert "step 20: To be text To be 20" in text
    assert "step 40: To be text To be 40" in text
    assert "step 30" not in text
    assert format_samples([]) == ""
