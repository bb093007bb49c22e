"""The bundled demo's settings: a model trained from scratch (the offline fallback)
trains within a time budget, so the demo takes about the same time on any CPU; a
bad budget is refused before the previous demo run is replaced."""

from __future__ import annotations

from textgen_core.cli.demo import SCRATCH_BUDGET, demo_config
from textgen_core.cli.main import main
from textgen_core.config import parse_duration
from textgen_core.run_folder import RunPaths


def test_a_model_from_scratch_trains_within_the_budget_and_a_pretrained_one_40_steps():
    scratch = demo_config("scratch:tiny")
    assert scratch.time_budget == SCRATCH_BUDGET and parse_duration(SCRATCH_BUDGET) == 120
    assert scratch.epochs == 2  # the budget, not the data, ends it on a 2-core CPU
    assert demo_config("scratch:tiny", "10m").time_budget == "10m"
    pretrained = demo_config("distilgpt2")
    assert (pretrained.time_budget, pretrained.max_steps) == (None, 40)
    assert demo_config("distilgpt2", "5m").time_budget == "5m"


def test_a_bad_time_budget_is_refused_before_the_previous_demo_run_is_replaced(tmp_path, capsys):
    previous = RunPaths(tmp_path / "demo")
    previous.root.mkdir()
    previous.record.write_text("{}")
    argv = ["demo", "--output", str(previous.root), "--model", "scratch:tiny"]
    assert main([*argv, "--time-budget", "5x"]) == 2
    assert "--time-budget: '5x' is not a duration" in capsys.readouterr().err
    assert previous.record.read_text() == "{}"
