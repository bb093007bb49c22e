"""LoRA (PEFT): few trained parameters, adapter + merged model, [PAD] kept, resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from support.cli import textgen
from support.runs import LEAN
from transformers import AutoModelForCausalLM, AutoTokenizer

from textgen_core.config import LoraConfig
from textgen_core.errors import TextgenError
from textgen_core.model.loading import apply_lora, load_for_inference

LORA = [
    "--lora",
    "--lr",
    "5e-3",
    "--chunk-size",
    "64",
    "--epochs",
    "2",
    "--eval-steps",
    "10",
    "--early-stopping-patience",
    "0",
    "--quiet",
    *LEAN,
]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, corpus_dir, tiny_model):
    out = tmp_path_factory.mktemp("lora") / "run"
    done = textgen("train", corpus_dir, "--output", out, "--model", tiny_model, *LORA)
    assert done.returncode == 0, done.stderr
    return out, json.loads((out / "results.json").read_text())


def test_lora_trains_a_small_fraction_and_still_lowers_test_loss(lora_run):
    _, results = lora_run
    assert 0 < results["trainable_fraction"] < 0.02
    assert results["test_loss"] < results["base_test_loss"]


def test_adapter_and_merged_model_are_saved_and_agree(lora_run, corpus_dir):
    out, _ = lora_run
    assert (out / "model" / "adapter" / "adapter_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(out / "model")  # plain transformers, merged
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    assert tokenizer.pad_token == "[PAD]" and model.config.pad_token_id == tokenizer.pad_token_id
    sample = corpus_dir / "part03.txt"
    merged, adapter = (
        json.loads(textgen("eval", path, sample, "--chunk-size", "64").stdout)
        for path in (out / "model", out / "model" / "adapter")
    )
    assert adapter["loss"] == pytest.approx(merged["loss"], rel=1e-5)


def test_no_merge_keeps_only_the_adapter_which_generate_accepts(tmp_path, corpus_dir, tiny_model):
    out = tmp_path / "run"
    short = ["--max-steps", "4"]  # what is saved does not depend on how long it trained
    done = textgen(
        "train", corpus_dir, "--output", out, "--model", tiny_model, *LORA, *short, "--no-merge"
    )
    assert done.returncode == 0, done.stderr
    assert not (out / "model" / "model.safetensors").exists()
    assert (out / "model" / "adapter" / "adapter_model.safetensors").is_file()
    generated = textgen(
        "generate",
        out / "model",
        "--prompt",
        "To be",
        "--temperature",
        "0",
        "--max-new-tokens",
        "5",
    )
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("To be")


def test_lora_run_resumes_after_a_kill(tmp_path, corpus_dir, tiny_model, lora_run):
    reference_dir, reference = lora_run
    out = tmp_path / "run"
    args = ["train", corpus_dir, "--output", out, "--model", tiny_model, *LORA]
    killed = textgen(*args, env={"TEXTGEN_FAULT": "after_marker:10"})
    assert killed.returncode == -9
    resumed = textgen(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == reference["steps"]
    # Bit-identical to the uninterrupted run: adapter, merged model and losses.
    assert results["val_loss"] == reference["val_loss"]
    assert results["test_loss"] == reference["test_loss"]
    for name in ("adapter/adapter_model.safetensors", "model.safetensors"):
        mine, theirs = (load_file(str(d / "model" / name)) for d in (out, reference_dir))
        assert mine.keys() == theirs.keys()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), name


def test_unknown_target_modules_are_named_with_the_ones_that_exist(tiny_model):
    model, _ = load_for_inference(str(tiny_model))
    with pytest.raises(TextgenError, match=r"q_proj not in this model; .*c_attn"):
        apply_lora(model, LoraConfig(targets=["q_proj"]))
