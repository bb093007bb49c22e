"""Spaces over real HTTP against the local Hub (tests/support/hub_server.py): the studio's
privacy rules, the demo of one model, and each bundle started as the Space starts it."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from support.cli import cli, textgen
from support.hub_server import ALICE_TOKEN
from support.models import build_tiny_model
from support.space_runner import SpaceProcess, installed_closure, write_bundle

from textgen_core.errors import TextgenError
from textgen_core.hub.model_page import example_prompts, key_figures
from textgen_core.hub.repo import push_model
from textgen_core.hub.space import AUTH_SECRET, DEMO_SETTINGS, deploy_demo_space, deploy_space

ROOT = Path(__file__).resolve().parents[2]
RESULTS = {
    "base_model": "distilgpt2",
    "test_loss": 3.5,
    "test_perplexity": 33.1,
    "base_test_loss": 4.6,
    "base_test_perplexity": 99.5,
    "train_tokens": 12000,
    "val_tokens": 2000,
    "test_tokens": 1500,
    "steps": 30,
    "files_used": ["/home/someone/notes/a.txt", "/home/someone/notes/b.md"],
    "files_skipped": [{"path": "/home/someone/notes/c.bin", "reason": "not text (binary)"}],
}
SAMPLES = [
    {"step": 10, "prompt": "To be, or not", "text": " to be"},
    {"step": 10, "prompt": "Once upon a time", "text": " there"},
    {"step": 20, "prompt": "To be, or not", "text": " to be, that"},
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `textgen train`-shaped folder: a tiny GPT-2, results.json and samples.jsonl."""
    run = tmp_path_factory.mktemp("run")
    build_tiny_model(run / "model")
    (run / "results.json").write_text(json.dumps(RESULTS))
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    return run


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1))


# -- the studio: private unless the owner adds a login ---------------------------------------


def test_studio_is_private_by_default_with_the_app_package_requirements_and_readme(hub):
    url = deploy_space("alice/studio", project_root=ROOT)

    assert url == f"{hub.url}/spaces/alice/studio"
    space = hub.repo("alice/studio", "space")
    assert (space.sdk, space.hardware, space.private) == ("gradio", "t4-small", True)
    files = hub.files("alice/studio", "space")
    assert files["app.py"] == (ROOT / "app.py").read_bytes()
    assert files["README.md"] == (ROOT / "spaces" / "README.md").read_bytes()
    assert files["requirements.txt"] == (ROOT / "spaces" / "requirements.txt").read_bytes()
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "textgen_core").rglob("*.py")}
    assert {name for name in files if name.startswith("textgen_core/")} == package
    assert space.secrets == {}


def test_public_studio_without_a_login_is_refused_before_anything_is_created(hub):
    with pytest.raises(TextgenError, match="--public.*--auth USER:PASS"):
        deploy_space("alice/studio", project_root=ROOT, public=True)

    assert ("space", "alice/studio") not in hub.repos and hub.requests == []


def test_public_studio_keeps_its_login_in_a_space_secret_never_in_a_file(hub):
    deploy_space("alice/studio", project_root=ROOT, public=True, auth="ann:Wq7-horse-staple")

    space = hub.repo("alice/studio", "space")
    assert space.private is False
    assert space.secrets == {AUTH_SECRET: "ann:Wq7-horse-staple"}
    assert not any(b"Wq7-horse-staple" in content for content in space.files.values())


def test_redeploying_a_public_studio_without_public_makes_it_private_again(hub):
    deploy_space("alice/studio", project_root=ROOT, public=True, auth="ann:Wq7-horse-staple")

    deploy_space("alice/studio", project_root=ROOT)

    assert hub.repo("alice/studio", "space").private is True


def test_cli_refuses_a_public_studio_without_auth_and_a_malformed_login(hub):
    no_login = cli("deploy-space", "alice/studio", "--public")
    bad_login = cli("deploy-space", "alice/studio", "--public", "--auth", "ann")
    stray_revision = cli("deploy-space", "alice/studio", "--revision", "v1")

    assert no_login.returncode == 2 and "--auth USER:PASS" in no_login.stderr
    assert bad_login.returncode == 2 and "--auth: must be USER:PASS" in bad_login.stderr
    assert (
        stray_revision.returncode == 2 and "--revision: only with --model" in stray_revision.stderr
    )
    assert ("space", "alice/studio") not in hub.repos


# -- the demo of one model -------------------------------------------------------------------


def test_demo_space_pins_the_model_commit_it_was_deployed_with(hub, run_dir, tmp_path):
    push_model(run_dir, "alice/tiny")
    deployed_sha = hub.repo("alice/tiny").sha
    assert hub.files("alice/tiny")["samples.jsonl"] == (run_dir / "samples.jsonl").read_bytes()

    url = deploy_demo_space("alice/demo", "alice/tiny", project_root=ROOT)
    retrained = shutil.copytree(run_dir, tmp_path / "retrained")
    (retrained / "results.json").write_text(json.dumps({**RESULTS, "test_perplexity": 30.2}))
    push_model(retrained, "alice/tiny", commit_message="a later push")

    assert url == f"{hub.url}/spaces/alice/demo"
    space = hub.repo("alice/demo", "space")
    assert (space.sdk, space.hardware, space.private) == ("gradio", "cpu-basic", False)
    files = hub.files("alice/demo", "space")
    settings = json.loads(files[DEMO_SETTINGS])
    assert settings == {"model": "alice/tiny", "revision": deployed_sha, "space": "alice/demo"}
    assert hub.repo("alice/tiny").sha != deployed_sha
    assert files["app.py"] == (ROOT / "spaces" / "demo" / "app.py").read_bytes()
    meta = front_matter(files["README.md"].decode())
    assert meta["models"] == ["alice/tiny"] and meta["suggested_hardware"] == "cpu-basic"
    assert "{{" not in files["README.md"].decode()


def test_demo_of_a_private_model_says_the_space_needs_a_token_to_read_it(hub, run_dir, messages):
    push_model(run_dir, "alice/secret-model", private=True)

    deploy_demo_space("alice/demo", "alice/secret-model", project_root=ROOT)

    notes = [m for m in messages if "private" in m]
    assert len(notes) == 1 and "alice/secret-model is private" in notes[0]
    assert "secret HF_TOKEN" in notes[0]
    assert not any(ALICE_TOKEN.encode() in c for c in hub.files("alice/demo", "space").values())


def test_demo_space_requirements_are_a_subset_of_the_project_pins_with_the_same_gradio():
    def pins(path: Path) -> dict[str, str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return dict(line.partition("==")[::2] for line in lines if line)

    demo, project = pins(ROOT / "spaces/demo/requirements.txt"), pins(ROOT / "requirements.txt")
    assert demo.items() <= project.items()
    meta = front_matter((ROOT / "spaces/demo/README.md").read_text())
    assert str(meta["sdk_version"]) == demo["gradio"] and meta["app_file"] == "app.py"


def test_demo_of_a_repo_without_a_full_model_says_what_to_push(hub):
    hub.add_repo("alice/adapter", {"adapter_config.json": b"{}", "README.md": b"# a"})

    with pytest.raises(TextgenError, match="only a LoRA adapter.*without --adapter-only"):
        deploy_demo_space("alice/demo", "alice/adapter", project_root=ROOT)
    with pytest.raises(TextgenError, match="no repository alice/missing"):
        deploy_demo_space("alice/demo", "alice/missing", project_root=ROOT)
    assert ("space", "alice/demo") not in hub.repos


def test_demo_page_figures_and_examples_come_from_results_and_samples():
    figures = key_figures(RESULTS)

    assert "| base model (`distilgpt2`) | 4.6 | 99.5 |" in figures
    assert "| fine-tuned | 3.5 | 33.1 |" in figures
    assert "2 files (tokens: train 12,000, validation 2,000, test 1,500)" in figures
    assert "1 file skipped; 30 optimizer steps" in figures
    samples = "".join(json.dumps(s) + "\n" for s in SAMPLES) + "not json\n"
    assert example_prompts(samples, None) == ["To be, or not", "Once upon a time"]
    card = 'textgen generate alice/tiny --prompt "Call me \\"Ishmael\\""'
    assert example_prompts(None, card) == ['Call me "Ishmael"']
    assert "no test results" in key_figures({})


# -- each bundle, as uploaded, starts and serves ------------------------------------------------


def greedy_cli(model: str, revision: str, prompt: str, tokens: int) -> str:
    """What `textgen generate` prints for greedy decoding, without the prompt."""
    done = textgen(
        "generate", model, "--revision", revision, "--prompt", prompt,
        "--max-new-tokens", tokens, "--temperature", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(prompt) and done.stdout.endswith("\n")
    return done.stdout[len(prompt) : -1]


@pytest.fixture
def demo_space(hub, run_dir, tmp_path):
    push_model(run_dir, "alice/tiny")
    deploy = textgen("deploy-space", "alice/demo", "--model", "alice/tiny")
    assert deploy.returncode == 0, deploy.stderr
    assert deploy.stdout.strip() == f"{hub.url}/spaces/alice/demo"
    space = SpaceProcess(hub, "alice/demo", write_bundle(hub, "alice/demo", tmp_path / "demo"))
    yield space
    space.stop()


def test_demo_bundle_starts_and_generates_what_textgen_generate_does(demo_space, hub):
    from gradio_client import Client

    revision = hub.repo("alice/tiny").sha
    demo_space.start()
    client = Client(demo_space.url, verbose=False)
    text = client.predict("To be, or not", 12, 0, 50, 0.95, 1.1, -1, api_name="/generate")
    assert text and text == greedy_cli("alice/tiny", revision, "To be, or not", 12)
    page = urllib.request.urlopen(demo_space.url + "config").read().decode()
    assert "| fine-tuned | 3.5 | 33.1 |" in page and "To be, or not" in page  # from samples
    assert f"/alice/tiny/resolve/{revision}/model.safetensors" in " ".join(hub.requests)
    import openai  # the same Space is an OpenAI-compatible API for the model

    api = openai.OpenAI(base_url=demo_space.url + "v1", api_key="unused", max_retries=0)
    done = api.completions.create(
        model="alice/tiny",
        prompt="To be, or not",
        max_tokens=12,
        temperature=0,
        extra_body={"repetition_penalty": 1.1},  # textgen generate's default
    )
    assert done.choices[0].text == text


def test_demo_bundle_runs_on_its_requirements_alone_from_its_own_package(demo_space):
    seen = demo_space.run_python(
        "import json, textgen_core\n"
        "try:\n    import datasets\nexcept ImportError:\n    datasets = None\n"
        "print(json.dumps([textgen_core.__file__, datasets is None]))\n"
    )

    package, without_datasets = json.loads(seen.strip().splitlines()[-1])
    assert Path(package).parent == demo_space.bundle / "textgen_core"
    assert without_datasets  # installed here, yet not among what the Space installs


def test_studio_bundle_starts_behind_the_login_kept_in_the_space_secret(hub, run_dir, tmp_path):
    from gradio_client import Client

    push_model(run_dir, "alice/tiny")
    deploy_space("alice/studio", project_root=ROOT, public=True, auth="ann:Wq7-horse-staple")
    bundle = write_bundle(hub, "alice/studio", tmp_path / "studio")
    space = SpaceProcess(hub, "alice/studio", bundle).start()
    try:
        request = urllib.request.Request(space.url + "gradio_api/info")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        client = Client(space.url, auth=("ann", "Wq7-horse-staple"), verbose=False)
        settings = (12, 0, 50, 0.95, 1.1, -1)
        text = client.predict("alice/tiny", "To be, or not", *settings, api_name="/generate")
    finally:
        space.stop()
    assert text == greedy_cli("alice/tiny", hub.repo("alice/tiny").sha, "To be, or not", 12)


def test_installed_closure_follows_dependencies_and_extras(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("gradio_client  # the API client\n")

    closure = installed_closure(requirements)

    assert {"gradio-client", "huggingface-hub", "packaging"} <= closure
    assert "torch" not in closure
