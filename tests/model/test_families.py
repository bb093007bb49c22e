"""Loading each family (textgen_core.families): its tokenizer's own pad and EOS, the
model's shape kept, LoRA targets by family, and the published architectures."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from support.models import FAMILIES, build_tiny_family_model
from transformers import AutoModelForCausalLM

from textgen_core.config import LoraConfig
from textgen_core.data.ingest import load_corpus
from textgen_core.data.prepare import chunk_all, tokenize
from textgen_core.errors import TextgenError
from textgen_core.families import ARCHITECTURES, OTHER, family
from textgen_core.model.loading import (
    apply_lora,
    base_config,
    end_token_ids,
    load_for_inference,
    load_model,
    load_tokenizer,
)

# The pad each family's real tokenizer ends up with: its own where it has one.
EXPECTED_PAD = {
    "gpt2": "[PAD]",  # added, as textgen always did
    "llama": "<|end_of_text|>",  # Llama 3's has none: its EOS
    "qwen2": "<|endoftext|>",
    "qwen3": "<|endoftext|>",
    "gemma3_text": "<pad>",
}


@pytest.mark.parametrize("model_type", FAMILIES)
def test_tokenizer_keeps_its_own_pad_or_pads_with_eos_and_the_model_keeps_its_rows(
    family_model, model_type
):
    folder = family_model(model_type)
    saved_rows = json.loads((folder / "config.json").read_text())["vocab_size"]
    model, tokenizer = load_for_inference(str(folder))
    assert tokenizer.pad_token == EXPECTED_PAD[model_type]
    rows = model.get_input_embeddings().weight.shape[0]
    if model_type == "gpt2":  # GPT-2 as before: [PAD] added, rows padded to 50304
        assert (saved_rows, rows) == (50257, 50304)
    else:
        assert rows == saved_rows and model.config.vocab_size == saved_rows
    assert model.config.pad_token_id == tokenizer.pad_token_id


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_a_bf16_checkpoint_loads_in_float32_with_its_values(model_type, tmp_path):
    """Published SmolLM2, Qwen3 and Gemma 3 checkpoints are bf16, which transformers
    5 keeps by default: trained so, the master weights and updates would be bf16."""
    folder = build_tiny_family_model(tmp_path / "bf16", model_type, dtype=torch.bfloat16)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    model, _ = load_for_inference(str(folder))
    plain = AutoModelForCausalLM.from_pretrained(folder)  # transformers' default: bf16
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.dtype for p in plain.parameters()} == {torch.bfloat16}
    for ours, theirs in zip(model.parameters(), plain.parameters(), strict=True):
        assert torch.equal(ours, theirs.float())


def test_gemmas_image_token_past_the_models_rows_adds_no_row(family_model):
    """Gemma 3's tokenizer has one more token than the model has rows: the image
    model's `<image_soft_token>`, which text never needs. Resizing for it would
    change the model (and untie nothing useful): it must not happen."""
    model, tokenizer = load_for_inference(str(family_model("gemma3_text")))
    assert len(tokenizer) == 262145 and tokenizer.convert_ids_to_tokens(262144) == (
        "<image_soft_token>"
    )
    assert model.get_input_embeddings().weight.shape[0] == 262144
    assert model.lm_head.weight is model.get_input_embeddings().weight  # still tied


def test_a_tokenizer_without_an_eos_is_refused_naming_the_model(family_model, tmp_path):
    folder = tmp_path / "no-eos"
    shutil.copytree(family_model("qwen3"), folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["eos_token"] = None
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(TextgenError, match="no end-of-text") as err:
        load_tokenizer(str(folder))
    assert str(folder) in str(err.value)


def test_documents_end_with_the_tokenizers_eos_which_is_trained_though_it_pads(
    family_model, tmp_path
):
    """Llama 3's tokenizer pads with its EOS: padding is masked by position, so the
    EOS that ends each document keeps its label (the model learns to stop)."""
    tokenizer = load_tokenizer(str(family_model("llama")))
    eos = tokenizer.eos_token_id
    assert tokenizer.pad_token_id == eos == 128001
    for i in range(3):
        (tmp_path / f"doc{i}.txt").write_text(f"Document {i} says a few words. " * (3 + i))
    tok = tokenize(load_corpus([tmp_path]), tokenizer)
    assert [int(tok.doc(d)[-1]) for d in range(3)] == [eos] * 3
    assert (tok.tokens == eos).sum() == 3
    rows = chunk_all(tok, 16, tokenizer.pad_token_id)
    ids, labels = np.array(rows["input_ids"]), np.array(rows["labels"])
    real = np.array(rows["attention_mask"]) == 1
    assert (~real).any()  # the last row is padded, with the EOS id
    assert (ids[~real] == eos).all() and (labels[~real] == -100).all()
    assert (labels[real] == ids[real]).all() and (labels[real] == eos).sum() == 3


def test_generation_stops_at_the_tokenizers_eos_and_end_of_turn_and_the_models_own():
    # Qwen3's tokenizer ends documents and turns with <|im_end|>; the model's own
    # config also stops at <|endoftext|>
    assert end_token_ids([151645, 151643], [151645]) == [151645, 151643]
    assert end_token_ids(151643, [151645]) == [151645, 151643]
    assert end_token_ids(None, [50256]) == [50256]
    assert end_token_ids(128001, [128001, 128009]) == [128001, 128009]  # Llama 3: <|eot_id|>


def wrapped_modules(model) -> set[str]:
    """Names of the modules that carry a LoRA adapter (`...q_proj.lora_A.default...`)."""
    names = [name.split(".") for name, _ in model.named_parameters()]
    return {parts[parts.index("lora_A") - 1] for parts in names if "lora_A" in parts}


@pytest.mark.parametrize("model_type", [f for f in FAMILIES if f != "gpt2"])
def test_lora_default_targets_are_the_familys_attention_and_mlp_projections(
    family_model, model_type
):
    tokenizer = load_tokenizer(str(family_model(model_type)))
    model = apply_lora(load_model(str(family_model(model_type)), tokenizer), LoraConfig())
    assert wrapped_modules(model) == set(family(model_type).lora_targets)


def test_lora_all_linear_wraps_every_projection_but_not_the_head(family_model):
    folder = str(family_model("gemma3_text"))
    model = apply_lora(
        load_model(folder, load_tokenizer(folder)), LoraConfig(targets=["all-linear"])
    )
    assert wrapped_modules(model) == set(family("gemma3_text").lora_targets)


def test_lora_target_not_in_the_model_is_refused_listing_its_layers(family_model):
    folder = str(family_model("qwen3"))
    model = load_model(folder, load_tokenizer(folder))
    with pytest.raises(TextgenError, match="c_attn not in this model") as err:
        apply_lora(model, LoraConfig(targets=["c_attn"]))
    assert "q_proj" in str(err.value) and "all-linear" in str(err.value)


@pytest.mark.parametrize(
    ("name", "millions"),
    [
        ("qwen3-0.6b", 596.0),
        ("gemma3-270m", 268.1),
        ("smollm2-135m", 134.5),
        ("qwen2.5-0.5b", 494.0),
    ],
)
def test_published_architectures_have_their_published_parameter_counts(name, millions):
    from transformers import AutoConfig, AutoModelForCausalLM

    arch = ARCHITECTURES[name]
    with torch.device("meta"):  # the shape only: no memory for the weights
        model = AutoModelForCausalLM.from_config(
            AutoConfig.for_model(arch.model_type, **arch.config)
        )
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(millions, abs=0.1)


def test_a_scratch_family_preset_has_its_real_tokenizer_and_published_vocabulary():
    tokenizer = load_tokenizer("scratch:gemma3-270m")
    assert tokenizer.eos_token == "<end_of_turn>" and tokenizer.pad_token == "<pad>"
    config = base_config("scratch:gemma3-270m")
    assert (config.model_type, config.vocab_size, config.hidden_size) == (
        "gemma3_text",
        262144,
        640,
    )


def test_unknown_scratch_name_lists_the_family_presets():
    with pytest.raises(TextgenError, match="scratch:qwen3-0.6b"):
        load_tokenizer("scratch:qwen9")


def test_a_model_type_outside_the_families_gets_the_generic_rules():
    assert family("opt") is OTHER and family(None) is OTHER
    assert OTHER.lora_targets is None and not OTHER.plain_lm_head and not OTHER.adds_pad_token


def test_text_holding_gemmas_image_token_is_refused_before_training(family_model, tmp_path, capsys):
    """No embedding row exists for `<image_soft_token>`: a file that spells it out
    is refused by name (exit 2), rather than crashing inside the model."""
    from textgen_core.cli.main import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(4):
        (corpus / f"{i}.txt").write_text("Some words of verse, and more. " * 40)
    (corpus / "4.txt").write_text("A picture: <image_soft_token> here. " * 20)
    out = tmp_path / "run"
    args = ["train", corpus, "--output", out, "--model", family_model("gemma3_text")]
    code = main([str(a) for a in [*args, "--max-steps", "1", "--chunk-size", "32", "--quiet"]])
    assert code == 2
    assert "<image_soft_token>" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()
