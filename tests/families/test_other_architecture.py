"""A model_type outside the tested families still trains and generates through
transformers, with the generic rules: its tokenizer's EOS as pad (no row added),
the model's own loss, PEFT's LoRA targets."""

from __future__ import annotations

import json

from support.cli import textgen_peak_rss
from support.runs import TRAIN_ARGS

from textgen_core.cli.main import main
from textgen_core.model.offline_tokenizers import gpt2_tokenizer_dir


def tiny_gpt_neox(folder):
    """A 2-layer, 64-wide GPT-NeoX (Pythia's architecture) with GPT-2's tokenizer,
    which has no pad token; 50304 rows, as Pythia has."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())
    config = AutoConfig.for_model(
        "gpt_neox",
        vocab_size=50304,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_gpt_neox_trains_with_lora_and_generates_through_transformers(
    tmp_path, family_corpus, capsys
):
    model = tiny_gpt_neox(tmp_path / "neox")
    out = tmp_path / "run"
    done, _ = textgen_peak_rss(
        "train", family_corpus, "--output", out, "--model", model, *TRAIN_ARGS, "--lora"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["model_type"] == "gpt_neox"
    assert results["loss_computation"] == "stock"  # not known to be a plain LM head
    assert results["test_loss"] < results["base_test_loss"]
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["vocab_size"] == 50304  # no [PAD] row: its EOS pads
    adapter = json.loads((out / "model" / "adapter" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == ["query_key_value"]  # PEFT's own for gpt_neox
    capsys.readouterr()
    assert main(["generate", str(out / "model"), "--prompt", "To be", "--temperature", "0",
                 "--max-new-tokens", "5"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("To be")
