"""Hyperparameter search: a tiny study end to end, resume, failed trials, no test peeking."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from support.cli import cli, textgen
from support.runs import LEAN, LEAN_CONFIG

from textgen_core.config import DataConfig, TrainConfig
from textgen_core.train.results import RunResults
from textgen_core.tune import search as tune_module

# A few steps per trial on the tiny model: the search machinery is under test, not the model.
FAST = ["--epochs", "1", "--max-steps", "3", "--chunk-size", "64", "--quiet", *LEAN]


def load(out: Path) -> optuna.Study:
    return optuna.load_study(study_name="textgen-tune", storage=f"sqlite:///{out / 'study.db'}")


@pytest.fixture(scope="module")
def searched(tmp_path_factory, tiny_model, corpus_dir):
    out = tmp_path_factory.mktemp("tune") / "search"
    args = [corpus_dir, "--output", out, "--model", tiny_model, *FAST]
    done = textgen("tune", *args, "--trials", "3")
    return out, args, done


def test_search_writes_study_table_best_config_plot_and_comparison(searched):
    out, _, done = searched
    assert done.returncode == 0, done.stderr
    for name in ("study.db", "trials.csv", "best_config.json", "history.png", "tune_results.json"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert {"lr", "batch_size", "warmup_ratio", "weight_decay", "epochs"} <= set(rows[0])
    summary = json.loads((out / "tune_results.json").read_text())
    best = load(out).best_trial
    assert summary["best_trial"] == best.number
    assert (out / "trials" / str(best.number) / "model" / "model.safetensors").exists()
    # The first trial ran the command's own settings: it is the default run,
    # so no extra run was needed and the best is no worse on validation loss.
    first = load(out).trials[0]
    assert first.params["lr"] == 5e-5 and first.params["batch_size"] == 8
    assert summary["default"]["folder"] == str(out / "trials" / "0")
    assert not (out / "default").exists()
    assert summary["best"]["val_loss"] <= summary["default"]["val_loss"]
    assert summary["best"]["test_loss"] > 0 and summary["default"]["test_loss"] > 0
    assert "test loss / perplexity: best" in done.stdout and "default settings" in done.stdout


def test_objective_is_the_trials_validation_loss_never_test(searched):
    out, _, _ = searched
    study = load(out)
    summary = json.loads((out / "tune_results.json").read_text())
    for trial in study.trials:
        if trial.state == optuna.trial.TrialState.COMPLETE:
            results = json.loads((out / "trials" / str(trial.number) / "results.json").read_text())
            assert trial.value == results["val_loss"]
            if trial.number not in (0, study.best_trial.number):  # test split never scored
                assert results["test_loss"] is None and results["test_per_file"] == {}
    # Only the best trial and the default settings' (trial 0) were scored on the
    # test split, after the search, with the same base-model figures.
    best = json.loads((out / "trials" / str(study.best_trial.number) / "results.json").read_text())
    assert best["test_loss"] == summary["best"]["test_loss"] > 0
    assert best["test_tokens_scored"] == summary["default"]["test_tokens_scored"] > 0
    assert best["base_test_loss"] == summary["default"]["base_test_loss"]


def test_per_device_batch_stays_within_the_batch_size_flag(searched):
    out, _, _ = searched
    for trial in load(out).trials:
        cfg = trial.user_attrs["config"]
        assert cfg["batch_size"] <= 8
        assert cfg["batch_size"] * cfg["gradient_accumulation_steps"] == trial.params["batch_size"]


def test_best_config_is_accepted_by_train_and_flags_override_it(searched, corpus_dir, tmp_path):
    out, _, _ = searched
    best = json.loads((out / "best_config.json").read_text())
    run = tmp_path / "retrain"
    done = textgen(
        "train",
        corpus_dir,
        "--output",
        run,
        "--config",
        out / "best_config.json",
        "--max-steps",
        "2",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    used = json.loads((run / "results.json").read_text())["config"]
    assert used["max_steps"] == 2  # the flag
    assert used["lr"] == best["lr"] and used["model"] == best["model"]  # the file
    assert used["data"]["chunk_size"] == 64


def test_rerun_with_the_same_output_adds_to_the_same_study(searched):
    out, args, _ = searched
    done = textgen("tune", *args, "--trials", "1")
    assert done.returncode == 0, done.stderr
    assert len(load(out).trials) == 4
    assert len(list(csv.DictReader((out / "trials.csv").open()))) == 4


def test_failed_trial_is_recorded_with_its_reason_and_search_goes_on(
    tmp_path, tiny_model, corpus_dir, monkeypatch
):
    real_train = tune_module.train

    def flaky_train(paths, output, cfg, **kwargs):
        if Path(output).name == "1":
            raise RuntimeError("CUDA out of memory (simulated)")
        results = real_train(paths, output, cfg, **kwargs)
        # The objective must not need the test numbers: hide them from it.
        return RunResults.from_dict(
            {k: v for k, v in results.to_dict().items() if not k.startswith(("test", "base_test"))}
        )

    monkeypatch.setattr(tune_module, "train", flaky_train)
    # A batch of 2 is outside the searched choices: the default settings get a run of their own.
    base = TrainConfig(
        model=str(tiny_model),
        epochs=1,
        max_steps=2,
        batch_size=2,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    summary = tune_module.tune([corpus_dir], tmp_path, base, trials=3)
    states = {t.number: (t.state, t.user_attrs.get("failure")) for t in load(tmp_path).trials}
    assert states[1] == (
        optuna.trial.TrialState.FAIL,
        "RuntimeError: CUDA out of memory (simulated)",
    )
    assert states[0][0] == states[2][0] == optuna.trial.TrialState.COMPLETE
    rows = {r["number"]: r for r in csv.DictReader((tmp_path / "trials.csv").open())}
    assert rows["1"]["state"] == "fail" and "out of memory" in rows["1"]["failure"]
    assert summary["trials"] == {"complete": 2, "pruned": 0, "fail": 1}
    assert summary["default"]["folder"] == str(tmp_path / "default")
    assert summary["default"]["test_loss"] > 0 and summary["best"]["test_loss"] > 0


def test_pruned_trial_stops_training_early_and_is_marked_pruned(
    tmp_path, tiny_model, corpus_dir, monkeypatch
):
    def should_prune(trial):
        return trial.number == 1

    monkeypatch.setattr(optuna.trial.Trial, "should_prune", should_prune)
    base = TrainConfig(
        model=str(tiny_model),
        epochs=1,
        max_steps=4,
        eval_steps=1,
        data=DataConfig(chunk_size=64),
        **LEAN_CONFIG,
    )
    summary = tune_module.tune([corpus_dir], tmp_path, base, trials=2)
    pruned = load(tmp_path).trials[1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert len(pruned.intermediate_values) == 1  # reported once, then stopped
    assert json.loads((tmp_path / "trials" / "1" / "results.json").read_text())["steps"] == 1
    assert summary["trials"] == {"complete": 1, "pruned": 1, "fail": 0}


def test_bad_config_file_and_bad_trial_count_exit_2_naming_the_flag(tmp_path, capsys):
    from textgen_core.cli.main import main

    assert (
        main(["train", str(tmp_path), "--output", str(tmp_path / "o"), "--config", "nope.json"])
        == 2
    )
    assert "--config nope.json" in capsys.readouterr().err
    assert main(["tune", str(tmp_path), "--output", str(tmp_path / "t"), "--trials", "0"]) == 2
    assert "--trials" in capsys.readouterr().err


def test_search_space_caps_the_device_batch_and_adds_lora_rank(tiny_model):
    from textgen_core.config import LoraConfig

    base = TrainConfig(model="scratch:tiny", batch_size=4, epochs=2, lora=LoraConfig())
    params = dict(lr=2e-2, batch_size=16, warmup_ratio=0.1, weight_decay=0.05, epochs=2)
    cfg = tune_module.suggest_config(
        optuna.trial.FixedTrial({**params, "lora_r": 32, "lora_alpha": 64}), base
    )
    assert (cfg.batch_size, cfg.gradient_accumulation_steps) == (4, 4)
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lr, cfg.epochs) == (32, 64, 2e-2, 2)
    cfg.validate()


def test_resuming_with_other_data_settings_is_refused(searched, corpus_dir, tiny_model):
    out, _, _ = searched
    done = cli(
        "tune",
        corpus_dir,
        "--output",
        out,
        "--model",
        tiny_model,
        "--trials",
        "1",
        "--chunk-size",
        "32",
        "--quiet",
    )
    assert done.returncode == 2
    assert "chunk_size" in done.stderr and "--study-name" in done.stderr
