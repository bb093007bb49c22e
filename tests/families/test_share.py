"""Sharing a model of each family: the web app's Generate, `push` with its model card,
and the demo Space, on the matrix's trained runs (conftest.py)."""

from __future__ import annotations

import pytest
from support.cli import textgen
from support.models import FAMILIES
from support.servers import AppServer
from support.space_runner import SpaceProcess, write_bundle

from textgen_core.cli.main import main
from textgen_core.hub.repo import push_model

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

SETTINGS = dict(max_new_tokens=12, temperature=0.0, top_k=50, top_p=0.95, repetition_penalty=1.1)
PROMPT = "To be, or not"


def greedy_generate(capsys, model, *extra) -> str:
    """The continuation `textgen generate` prints for greedy decoding (prompt left out)."""
    capsys.readouterr()
    args = ["generate", model, "--prompt", PROMPT, "--temperature", "0", "--max-new-tokens", "12"]
    assert main([str(a) for a in [*args, *extra]]) == 0
    return capsys.readouterr().out[len(PROMPT) : -1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    server = AppServer(tmp_path_factory.mktemp("app_families") / "data").start()
    yield Client(server.url, verbose=False)
    server.stop()


@pytest.mark.parametrize("model_type", FAMILIES)
def test_app_generate_tab_gives_what_textgen_generate_does(capsys, app, family_run, model_type):
    model = family_run(model_type, "full").model
    text = app.predict(str(model), PROMPT, *SETTINGS.values(), 1, api_name="/generate")
    assert text == greedy_generate(capsys, model)


def test_push_and_demo_space_of_a_gemma_run_name_its_family_and_generate(hub, family_run, tmp_path):
    run = family_run("gemma3_text", "lora")
    push_model(run.root, "alice/gemma")
    card = hub.files("alice/gemma")["README.md"].decode()
    assert "Base model family: Gemma 3 (`gemma3_text`)" in card
    assert "Gemma Terms of Use" in card and 'license: "gemma"' in card
    deploy = textgen("deploy-space", "alice/gemma-demo", "--model", "alice/gemma")
    assert deploy.returncode == 0, deploy.stderr
    bundle = write_bundle(hub, "alice/gemma-demo", tmp_path / "demo")
    space = SpaceProcess(hub, "alice/gemma-demo", bundle).start()
    try:
        client = Client(space.url, verbose=False)
        text = client.predict(PROMPT, 12, 0, 50, 0.95, 1.1, -1, api_name="/generate")
    finally:
        space.stop()
    revision = hub.repo("alice/gemma").sha  # from_pretrained reads HF_ENDPOINT at import:
    done = textgen(  # so the Hub model is generated from in a subprocess
        "generate", "alice/gemma", "--revision", revision, "--prompt", PROMPT,
        "--temperature", "0", "--max-new-tokens", "12",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert text == done.stdout[len(PROMPT) : -1]
