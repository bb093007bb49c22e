"""The model card names the base model's family and the licence that comes with it."""

from __future__ import annotations

import pytest

from textgen_core.train.model_card import render_model_card


@pytest.mark.parametrize(
    ("model_type", "base", "named", "licence", "front_matter"),
    [
        ("gemma3_text", "google/gemma-3-270m", "Gemma 3", "Gemma Terms of Use", "gemma"),
        ("qwen3", "Qwen/Qwen3-0.6B", "Qwen3", "Apache 2.0", "apache-2.0"),
        ("llama", "HuggingFaceTB/SmolLM2-135M", "Llama", "Llama 3.x Community License", None),
        ("gpt2", "distilgpt2", "GPT-2", "MIT", None),
    ],
)
def test_card_names_the_family_and_its_licence(model_type, base, named, licence, front_matter):
    card = render_model_card({"base_model": base, "model_type": model_type}, {}, repo_id="me/m")
    head, body = card.split("\n---\n", 1)
    assert f"Base model family: {named} (`{model_type}`)" in body and licence in body
    assert (f'license: "{front_matter}"' in head) if front_matter else "license:" not in head


def test_card_of_a_scratch_model_claims_no_base_licence():
    card = render_model_card({"base_model": "scratch:tiny", "model_type": "gpt2"}, {}, repo_id=None)
    assert "trained from random weights" in card and "Licence:" not in card


def test_card_of_an_unknown_architecture_points_to_its_base_model():
    card = render_model_card({"base_model": "org/m", "model_type": "opt"}, {}, repo_id=None)
    assert "`opt`" in card and "see the base model's card" in card


def test_card_of_a_run_recorded_before_families_is_unchanged():
    card = render_model_card({"base_model": "distilgpt2"}, {}, repo_id=None)
    assert "family" not in card and "Licence" not in card
