"""Loading: pad token, resized embeddings, scratch architectures, clear errors."""

from __future__ import annotations

import pytest

from textgen_core.errors import TextgenError
from textgen_core.model.loading import PAD_MULTIPLE, load_for_inference, load_model, load_tokenizer


def test_local_folder_gets_pad_token_and_embeddings_padded_to_64(tiny_model):
    model, tokenizer = load_for_inference(str(tiny_model))
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows % PAD_MULTIPLE == 0 and rows >= len(tokenizer) == 50258
    assert model.config.pad_token_id == tokenizer.pad_token_id
    never = set(model.generation_config.suppress_tokens)
    assert tokenizer.pad_token_id in never and set(range(len(tokenizer), rows)) <= never
    assert tokenizer.eos_token_id not in never


def test_scratch_tiny_is_seeded():
    tokenizer = load_tokenizer("scratch:tiny")
    a, b = (load_model("scratch:tiny", tokenizer, seed=1) for _ in range(2))
    assert a.config.n_layer == 2
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_unknown_scratch_architecture_lists_the_choices():
    with pytest.raises(TextgenError, match="scratch:tiny"):
        load_tokenizer("scratch:huge")


def test_folder_without_weights_is_a_one_line_error_naming_it(tmp_path, tiny_model):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    tokenizer = load_tokenizer(str(folder))
    with pytest.raises(TextgenError) as err:
        load_model(str(folder), tokenizer)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)
    assert "scratch:tiny" in str(err.value)
