"""`textgen compare` over real (tiny) runs: what differs, the figures, the plot."""

from __future__ import annotations

import pytest
from support.cli import cli

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.quality import compare


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_model, corpus_dir):
    from textgen_core.train.run import train

    root = tmp_path_factory.mktemp("compare")
    for name, lr in (("slow", 1e-3), ("fast", 3e-3)):
        cfg = TrainConfig(
            model=str(tiny_model),
            max_steps=4,
            eval_steps=2,
            lr=lr,
            early_stopping_patience=None,
            sample_tokens=8,
            memorization_prompts=0,
            data=DataConfig(chunk_size=64),
        )
        train([corpus_dir], root / name, cfg)
    return root / "slow", root / "fast"


def test_runs_with_different_learning_rates_differ_in_exactly_that_setting(two_runs):
    runs = compare.load_runs(list(two_runs))
    assert compare.differing_settings(runs) == ["lr"]
    headers, rows = compare.table(runs)
    assert headers[:4] == ["run", "base model", "data", "lr"]
    assert [row[0] for row in rows] == ["slow", "fast"]
    assert [row[3] for row in rows] == ["0.001", "0.003"]
    val_loss = headers.index("val loss")
    assert all(float(row[val_loss]) > 0 for row in rows)


def test_compare_command_prints_the_table_and_writes_overlaid_curves(two_runs, tmp_path):
    png = tmp_path / "new_folder" / "curves.png"  # the folder is created
    done = cli("compare", *two_runs, "--output", png)
    assert done.returncode == 0, done.stderr
    assert "settings that differ: lr" in done.stdout
    header = done.stdout.splitlines()[0].split()
    assert header[:5] == ["run", "base", "model", "data", "lr"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = compare.load_runs(list(two_runs))
    assert {p["run"] for p in compare.loss_points(runs)} == {"slow", "fast"}


def test_final_samples_line_up_by_prompt(two_runs):
    runs = compare.load_runs(list(two_runs))
    headers, rows = compare.samples_side_by_side(runs)
    assert headers == ["prompt", "slow", "fast"]
    assert len(rows) == 2  # the same two default prompts: same data, same split
    assert all(row[1] != compare.MISSING and row[2] != compare.MISSING for row in rows)


def test_a_folder_without_results_is_refused_with_its_name(tmp_path):
    done = cli("compare", tmp_path)
    assert done.returncode == 2
    assert f"error: RUN_DIR {tmp_path}: no results.json there" in done.stderr
