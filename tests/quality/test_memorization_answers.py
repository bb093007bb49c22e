"""On prompt/answer data the memorization report compares the model's answers
with the training answers: the prompts are held-out conversations up to their
first answer, the reference is that answer, and the index holds only what the
model was trained to write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textgen_core.config import TrainConfig
from textgen_core.model.loading import load_for_inference
from textgen_core.quality.memorization import (
    SplitStream,
    measure,
    memorization_report,
)
from textgen_core.quality.ngrams import NgramIndex
from textgen_core.train.run import prepare_data

PERSONA = " I am Quill, a small model trained by textgen."


@pytest.fixture(scope="module")
def trained(chat_run, chat_data):
    cfg = TrainConfig.from_dict(json.loads((chat_run / "results.json").read_text())["config"])
    _, tokenizer, splits = prepare_data([chat_data], cfg, name_skipped=False)
    model, _ = load_for_inference(str(chat_run / "model"))
    return model, tokenizer, splits


def encode(tokenizer, text: str) -> np.ndarray:
    return np.array(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_the_index_holds_the_training_answers_and_not_the_prompts(trained):
    _, tokenizer, splits = trained
    index = NgramIndex(SplitStream.of(splits.train, trained_only=True).tokens)
    assert index.contains(encode(tokenizer, PERSONA.strip() + "<|im_end|>")).all()
    user_turn = encode(
        tokenizer, "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert not index.contains(user_turn).any()  # in every training conversation, never trained


def test_prompts_are_held_out_conversations_and_references_their_answers(trained):
    model, tokenizer, splits = trained
    index = NgramIndex(SplitStream.of(splits.train, trained_only=True).tokens)
    m = measure(model, tokenizer, splits, index, prompts=8, seed=3)
    assert len(m.prompts) == 8
    held_out = {tokenizer.decode([t for t in row if t != tokenizer.pad_token_id])
                for row in splits.test["input_ids"]}  # fmt: skip
    for prompt, reference in zip(m.prompts, m.references, strict=True):
        text, answer = tokenizer.decode(prompt.tolist()), tokenizer.decode(reference.tolist())
        assert text.startswith("<|im_start|>user\n")
        assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
        assert answer.endswith("<|im_end|>") and "<|im_start|>" not in answer
        assert any(c.startswith(text + answer) for c in held_out)
        assert len(m.generated[0]) <= 128


def test_the_verdict_weighs_answers_against_the_authors_own_held_out_answers(trained):
    # The tiny model, 40 steps in, answers in word salad; of the author's held-out
    # answers only the persona's reply is 8+ tokens long, and it is word for word
    # the training answers' reply: the chance level of this data is 100%.
    model, tokenizer, splits = trained
    block = memorization_report(model, tokenizer, splits, seed=3)
    assert block["prompts"] == min(32, len(splits.test))
    assert block["reference_ngram_rate"] == 1.0 and block["reference_longest_tokens"] >= 8
    assert block["informative_ngrams"] >= 100 and block["copied_ngram_rate"] < 0.1
    assert block["verdict"].startswith(
        f"no sign of copying: {block['copied_ngram_rate']:.0%} of generated 8-grams (the "
        f"{block['informative_ngrams']} that carry words) appear in the training text vs 100% "
        "for the author's own unseen text; "
    )
