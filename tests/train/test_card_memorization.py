"""The model card tells a reader whether the model copies its training text."""

from __future__ import annotations

from textgen_core.train.model_card import render_model_card

BLOCK = {
    "prompts": 32,
    "continuation_tokens": 128,
    "ngram": 8,
    "copied_ngram_rate": 0.41,
    "reference_ngram_rate": 0.03,
    "longest_copied_tokens": 212,
    "reference_longest_tokens": 11,
    "longest_copied_example": {
        "text": "If music be the food of love,\nplay on",
        "file": "/x/ch3.txt",
    },
    "verdict": "copies: 41% of generated 8-grams appear in the training text vs 3% for the "
    "author's own unseen text; longest copied passage 212 tokens from ch3.txt",
}


def test_card_shows_verdict_figures_against_the_chance_level_and_the_passage():
    card = render_model_card({"memorization": BLOCK}, {}, repo_id=None)
    section = card.split("## Memorization", 1)[1].split("\n## ", 1)[0]
    assert f"**{BLOCK['verdict']}**" in section
    assert "| generated text | 41% | 212 |" in section
    assert "| the author's unseen text (chance level) | 3% | 11 |" in section
    assert "from `ch3.txt`" in section and "/x/" not in section
    assert "> If music be the food of love,\n> play on" in section


def test_card_without_the_block_has_no_memorization_section():
    assert "Memorization" not in render_model_card({"memorization": None}, {}, repo_id=None)
