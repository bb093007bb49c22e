"""Every family through every path: train, eval, generate, serve, on a tiny model of
each family with its real tokenizer, fully fine-tuned and with LoRA (the runs are
shared: conftest.py)."""

from __future__ import annotations

import functools
import json

import httpx
import pytest
from safetensors import safe_open
from support.models import FAMILIES
from support.runs import MATRIX, MODES
from support.servers import ApiServer
from transformers import AutoTokenizer

from textgen_core.cli.main import main
from textgen_core.families import family


def run_main(capsys, *args) -> str:
    """`textgen ARGS` in this process (the real entry point); its stdout."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err[-2000:]
    return capsys.readouterr().out


@pytest.mark.parametrize(("model_type", "mode"), MATRIX)
def test_train_lowers_test_loss_with_the_fused_loss_and_reports_the_family(
    family_run, model_type, mode
):
    results = family_run(model_type, mode).results
    assert results["model_type"] == model_type
    assert results["loss_computation"] == "fused"  # no full logits on any family
    assert results["test_loss"] < results["base_test_loss"]
    assert results["estimated_seconds"] > 0
    assert results["memorization"]["prompts"] >= 1  # the memorization report ran
    assert {s["prompt"] for s in results["samples"]} and all(
        "fine_tuned" in s for s in results["samples"]
    )
    if mode == "lora":
        assert 0 < results["trainable_fraction"] < 0.5


@pytest.mark.parametrize("model_type", FAMILIES)
def test_lora_adapter_carries_embeddings_only_where_textgen_resized_them(
    family_run, family_model, model_type
):
    """GPT-2 gets [PAD] (a new row), so its adapter must carry the embeddings;
    every other family keeps its rows and its adapter stays small."""
    run = family_run(model_type, "lora")
    with safe_open(run.model / "adapter" / "adapter_model.safetensors", "pt") as f:
        embedded = [k for k in f.keys() if "embed" in k or "wte" in k]
    assert bool(embedded) == (model_type == "gpt2")
    rows = json.loads((run.model / "config.json").read_text())["vocab_size"]
    base_rows = json.loads((family_model(model_type) / "config.json").read_text())["vocab_size"]
    assert (rows == base_rows) == (model_type != "gpt2")


@pytest.mark.parametrize(("model_type", "mode"), MATRIX)
def test_eval_scores_every_file_of_new_text(capsys, family_run, family_corpus, model_type, mode):
    run = family_run(model_type, mode)
    report = json.loads(run_main(capsys, "eval", run.model, family_corpus, "--chunk-size", "32"))
    assert report["tokens"] > 0 and 0 < report["loss"] < 20
    assert len(report["per_file"]) == 8
    # the model scores its own test split as the run did
    assert report["loss"] < run.results["base_test_loss"]


PROMPT = "To be, or not"


@pytest.fixture(scope="module")
def greedy(family_run):
    """`greedy(capsys, model_type, mode)`: what `textgen generate` prints for greedy
    decoding of PROMPT (8 tokens, no repetition penalty), once per run."""
    printed: dict[tuple[str, str], str] = {}

    def get(capsys, model_type: str, mode: str) -> str:
        if (model_type, mode) not in printed:
            printed[model_type, mode] = run_main(
                capsys, "generate", family_run(model_type, mode).model, "--prompt", PROMPT,
                "--max-new-tokens", "8", "--temperature", "0", "--repetition-penalty", "1",
            )  # fmt: skip
        return printed[model_type, mode]

    return get


@pytest.mark.parametrize(("model_type", "mode"), MATRIX)
def test_generate_continues_the_prompt(capsys, greedy, model_type, mode):
    printed = greedy(capsys, model_type, mode)
    assert printed.startswith(PROMPT) and printed.endswith("\n")


@pytest.fixture(scope="module")
def served(tmp_path_factory, family_run):
    """One `textgen serve` of all the matrix's models, named `<family>-<mode>`."""
    models = [f"{f}-{m}={family_run(f, m).model}" for f in FAMILIES for m in MODES]
    server = ApiServer(tmp_path_factory.mktemp("serve_families"), models).start()
    yield server
    server.stop()


@pytest.mark.parametrize(("model_type", "mode"), MATRIX)
def test_serve_completes_as_generate_does(capsys, served, greedy, model_type, mode):
    body = {"model": f"{model_type}-{mode}", "prompt": PROMPT, "max_tokens": 8, "temperature": 0}
    answer = httpx.post(served.url + "/v1/completions", json=body, timeout=120).json()
    assert PROMPT + answer["choices"][0]["text"] + "\n" == greedy(capsys, model_type, mode)


@functools.cache
def saved_tokenizer(model):
    return AutoTokenizer.from_pretrained(model)  # plain transformers, as saved


@pytest.mark.parametrize(("model_type", "mode"), MATRIX)
def test_serve_chat_uses_the_models_own_template(served, family_run, model_type, mode):
    model = family_run(model_type, mode).model
    messages = [{"role": "user", "content": "Who is there?"}]
    body = {"model": f"{model_type}-{mode}", "messages": messages, "max_tokens": 6}
    response = httpx.post(served.url + "/v1/chat/completions", json=body, timeout=120)
    tokenizer = saved_tokenizer(model)
    if not tokenizer.chat_template:  # GPT-2: a plain text model
        assert model_type == "gpt2"
        assert response.status_code == 400 and response.json()["error"]["code"] == "model_not_chat"
        return
    answer = response.json()
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert answer["usage"]["prompt_tokens"] == len(prompt)
    assert answer["choices"][0]["finish_reason"] in ("stop", "length")
    assert isinstance(answer["choices"][0]["message"]["content"], str)


def test_compare_tables_runs_of_every_family(capsys, family_run, tmp_path):
    runs = [family_run(f, m).root for f in FAMILIES for m in MODES]
    out = run_main(capsys, "compare", *runs, "--output", tmp_path / "compare.png")
    assert all(str(r) in out for r in runs)  # all named "run": shown by path
    differ = out.rsplit("settings that differ:", 1)[1]
    assert "lora" in differ  # the base models differ too: the table's model column
    assert (tmp_path / "compare.png").stat().st_size > 0


@pytest.mark.parametrize("model_type", [f for f in FAMILIES if f != "gpt2"])
def test_peak_memory_stays_within_1_5x_of_a_gpt2_of_the_same_size(
    family_run, gpt2_like, model_type
):
    """The fused loss on every family: no (tokens x vocabulary) logits are held.
    The GPT-2 compared with has the family's size: its layers, width, tokenizer and
    embedding rows. Held logits break the bound: with the model's own loss, the
    tiny Gemma 3 run peaked at 3.2 GB against 1.5 GB fused (128 rows x 262144
    logits, 134 MB a copy, several copies at once)."""
    peak = family_run(model_type, "full").peak_rss_mb
    same_size = gpt2_like(model_type)
    gpt2 = family_run("gpt2", "full").peak_rss_mb  # GPT-2's own 50k vocabulary: for the record
    assert same_size.results["loss_computation"] == "fused"
    assert peak <= 1.5 * same_size.peak_rss_mb, (
        f"{model_type}: {peak:.0f} MB; GPT-2 of its size {same_size.peak_rss_mb:.0f} MB; "
        f"GPT-2 {gpt2:.0f} MB"
    )
    print(f"peak RSS {model_type} {peak:.0f} MB, GPT-2 of its size "
          f"{same_size.peak_rss_mb:.0f} MB, GPT-2 {gpt2:.0f} MB")  # fmt: skip


def test_families_table_covers_the_matrix():
    assert all(family(f).model_type == f for f in FAMILIES)
