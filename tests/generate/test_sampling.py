"""Generation: greedy is deterministic, seeds reproduce, stop strings cut, limits hold."""

from __future__ import annotations

import pytest

from textgen_core.config import GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.generate.sampling import cut_at_stop, generate, prompt_ids, stream
from textgen_core.model.loading import load_for_inference


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_for_inference(str(tiny_model))


def test_greedy_is_deterministic_and_streaming_gives_the_same_text(loaded):
    cfg = GenerateConfig(max_new_tokens=20, temperature=0)
    first = generate(*loaded, "To be or not", cfg)
    assert first == generate(*loaded, "To be or not", cfg)
    assert "".join(stream(*loaded, "To be or not", cfg)) == first[0]


def test_seed_reproduces_sampling_and_sequences_differ(loaded):
    cfg = GenerateConfig(max_new_tokens=15, seed=3, num_return_sequences=3, temperature=1.5)
    texts = generate(*loaded, "Hello", cfg)
    assert texts == generate(*loaded, "Hello", cfg)
    assert len(texts) == 3 and len(set(texts)) > 1


def test_stop_strings_cut_the_text_in_both_paths(loaded):
    cfg = GenerateConfig(max_new_tokens=40, temperature=0)
    full = generate(*loaded, "The", cfg)[0]
    stop = full[5:8]
    cut = GenerateConfig(max_new_tokens=40, temperature=0, stop=[stop])
    expected = full[: full.index(stop)]
    assert generate(*loaded, "The", cut) == [expected]
    assert "".join(stream(*loaded, "The", cut)) == expected
    assert cut_at_stop("abc<END>def<X>", ["<X>", "<END>"]) == "abc"


def test_empty_prompt_starts_from_the_end_of_text_token(loaded):
    assert len(generate(*loaded, "", GenerateConfig(max_new_tokens=5, temperature=0))) == 1


def test_a_prompt_begins_as_training_documents_do(loaded):
    """After the tokenizer's start ids (Gemma's <bos>; none for GPT-2), once even
    when a chat template wrote them, in textgen generate and in the API alike."""
    from transformers import AutoTokenizer

    from textgen_core.model.offline_tokenizers import tokenizer_dir
    from textgen_core.serve.choices import encode

    model, gpt2 = loaded
    gemma = AutoTokenizer.from_pretrained(tokenizer_dir("gemma3"))
    cfg = GenerateConfig(max_new_tokens=1)
    for tok, start in ((gemma, [gemma.bos_token_id]), (gpt2, [])):
        expected = start + tok("To be", add_special_tokens=False)["input_ids"]
        assert prompt_ids(model, tok, "To be", cfg)[0].tolist() == expected
        assert encode(tok, "To be") == expected
        assert prompt_ids(model, tok, tok.decode(expected), cfg)[0].tolist() == expected


@pytest.mark.parametrize(
    "cfg,field",
    [
        (GenerateConfig(max_new_tokens=0), "max-new-tokens"),
        (GenerateConfig(temperature=-1), "temperature"),
        (GenerateConfig(temperature=float("nan")), "temperature"),
        (GenerateConfig(top_p=0), "top-p"),
        (GenerateConfig(top_p=1.5), "top-p"),
        (GenerateConfig(repetition_penalty=0), "repetition-penalty"),
        (GenerateConfig(max_new_tokens=255), "exceeds the model.s context of 256"),
    ],
)
def test_bad_values_are_refused_naming_the_field(loaded, cfg, field):
    with pytest.raises(TextgenError, match=field):
        generate(*loaded, "Hello there", cfg)
