"""`textgen serve` and `textgen app` take their serving flags from one dataclass
(`ServeConfig`), under the same names and defaults; the app's old names still work."""

from __future__ import annotations

import argparse

import pytest

from textgen_core.app.settings import AppConfig
from textgen_core.cli.flags import settings
from textgen_core.cli.main import build_parser, main
from textgen_core.config import DecodeConfig
from textgen_core.serve.settings import ServeConfig

# Every flag of `textgen app` and `textgen serve` before ServeConfig existed.
APP_FLAGS_BEFORE = """--host --port --share --auth --max-file-mb --max-total-mb --max-new-tokens
--generate-concurrency --generate-batch --queue-size --precision --max-jobs --api-key""".split()
SERVE_FLAGS_BEFORE = "--host --port --api-key --max-batch --queue-size".split()
SERVING = ["--max-batch", "3", "--queue-size", "9", "--api-key", "k", "--max-request-mb", "2"]


def command_parser(command: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def options(command: str) -> set[str]:
    return {s for a in command_parser(command)._actions for s in a.option_strings}


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_serve_and_app_keep_every_flag_they_had():
    assert [f for f in APP_FLAGS_BEFORE if f not in options("app")] == []
    assert [f for f in SERVE_FLAGS_BEFORE if f not in options("serve")] == []


def test_serve_and_app_read_the_same_serving_flags_into_the_same_settings():
    expected = ServeConfig(3, 9, "k", 2.0, DecodeConfig(precision="int8"))
    served = settings(parse("serve", "m", *SERVING, "--precision", "int8"), ServeConfig)
    app = settings(parse("app", *SERVING, "--precision", "int8"), AppConfig)
    assert served == expected and app.serve == expected


def test_defaults_are_the_dataclasses(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    assert settings(parse("serve", "m"), ServeConfig) == ServeConfig()
    assert settings(parse("app"), AppConfig) == AppConfig()
    assert AppConfig().port == 7860 and ServeConfig().max_request_mb == 1.0


def test_the_apps_old_generate_batch_sets_max_batch_and_names_the_new_flag(capsys):
    cfg = settings(parse("app", "--generate-batch", "4"), AppConfig)
    assert cfg.serve.max_batch == 4
    assert "--generate-batch is now --max-batch" in capsys.readouterr().err
    assert "--generate-batch" not in command_parser("app").format_help()  # works, not shown


def test_the_app_reads_its_address_and_login_from_a_spaces_variables(monkeypatch):
    monkeypatch.setenv("GRADIO_SERVER_PORT", "9999")
    monkeypatch.setenv("TEXTGEN_AUTH", "ann:secret")
    monkeypatch.delenv("TEXTGEN_API_KEY", raising=False)
    cfg = settings(parse("app"), AppConfig)
    assert cfg.port == 9999 and cfg.login() == ("ann", "secret")
    assert cfg.api_key() == "ann:secret"  # the /v1 key defaults to the login
    monkeypatch.setenv("TEXTGEN_API_KEY", "sk-1")
    assert cfg.api_key() == "sk-1"
    assert settings(parse("app", "--api-key", "sk-2"), AppConfig).api_key() == "sk-2"


@pytest.mark.parametrize(
    "argv, named",
    [
        (["serve", "m", "--max-batch", "0"], "--max-batch: must be at least 1"),
        (["serve", "m", "--queue-size", "0"], "--queue-size: must be at least 1"),
        (["serve", "m", "--max-request-mb", "0"], "--max-request-mb: must be positive"),
        (["app", "--max-batch", "0"], "--max-batch: must be at least 1"),
        (["app", "--auth", "nopassword"], "--auth: must be USER:PASS"),
    ],
)
def test_bad_serving_values_exit_2_naming_the_flag(argv, named, capsys):
    assert main(argv) == 2
    assert named in capsys.readouterr().err
