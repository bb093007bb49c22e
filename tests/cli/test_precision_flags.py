"""--precision and --time-budget reach the settings; bad values exit with status 2."""

from __future__ import annotations

import pytest

from textgen_core.cli.main import build_parser, main
from textgen_core.cli.train_flags import train_config


def test_train_flags_set_precision_and_time_budget():
    args = build_parser().parse_args(
        ["train", "texts/", "--output", "out", "--precision", "bf16", "--time-budget", "1h30m"]
    )
    cfg = train_config(args)
    assert (cfg.precision, cfg.time_budget) == ("bf16", "1h30m")
    defaults = train_config(build_parser().parse_args(["train", "texts/", "--output", "out"]))
    assert (defaults.precision, defaults.time_budget) == ("auto", None)


def test_bad_time_budget_names_the_flag_and_exits_2(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("some text " * 50)
    code = main(["train", str(tmp_path), "--output", str(tmp_path / "o"), "--time-budget", "soon"])
    assert code == 2
    assert "--time-budget: 'soon' is not a duration" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["train", "x", "--output", "o"], ["generate", "m"]])
def test_unknown_precision_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command, "--precision", "fp8"])
    assert exit_.value.code == 2
    assert "--precision" in capsys.readouterr().err
