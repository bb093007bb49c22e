"""Which prompts a run samples: the given ones, else the opening words of
validation documents."""

from __future__ import annotations

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from textgen_core.config import TrainConfig
from textgen_core.model.loading import gpt2_tokenizer_dir
from textgen_core.train.sample_callback import default_prompts, for_run


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(gpt2_tokenizer_dir())


def chunks(tokenizer, documents, size=8):
    """Documents -> EOS-separated stream -> padded rows, as the data pipeline cuts them."""
    ids = []
    for doc in documents:
        ids += tokenizer(doc)["input_ids"] + [tokenizer.eos_token_id]
    rows = [ids[i : i + size] for i in range(0, len(ids), size)]
    masks = [[1] * len(r) + [0] * (size - len(r)) for r in rows]
    rows = [r + [0] * (size - len(r)) for r in rows]
    return Dataset.from_dict({"input_ids": rows, "attention_mask": masks})


def test_default_prompts_are_the_opening_words_of_the_first_validation_documents(tokenizer):
    docs = [
        "Once upon a time there was a king who ruled the land wisely and well, "
        "and his people loved him for it, as people sometimes do.",
        "Short one.",
        "It was a dark and stormy night; the rain fell in torrents.",
    ]
    assert default_prompts(chunks(tokenizer, docs), tokenizer) == [
        "Once upon a time there was",
        "Short one.",
    ]
    assert default_prompts(chunks(tokenizer, docs), tokenizer, count=3)[2] == (
        "It was a dark and stormy"
    )


def test_a_split_that_cut_documents_takes_the_words_after_a_line_break(tokenizer):
    text = "ing the rest of a line\nTo be, or not to be, that is the question:\n"
    text += "Whether 'tis nobler in the mind to suffer the slings and arrows\n"
    assert default_prompts(chunks(tokenizer, [text]), tokenizer, by_document=False) == [
        "To be, or not to be,",
        "Whether 'tis nobler in the mind",
    ]
    no_break = chunks(tokenizer, ["ing the rest of a sentence that never ends"])
    assert default_prompts(no_break, tokenizer, by_document=False) == ["ing the rest of a sentence"]


def test_given_prompts_replace_the_default_ones(tokenizer, tiny_model):
    from textgen_core.model.loading import load_for_inference

    model, _ = load_for_inference(str(tiny_model))
    cfg = TrainConfig(model=str(tiny_model), sample_prompts=["To be", "My lord"])
    sampler = for_run("samples.jsonl", cfg, model, tokenizer, splits=None, show=False)
    assert sampler.prompts == ["To be", "My lord"]
    assert (sampler.cfg.seed, sampler.cfg.max_new_tokens) == (cfg.seed, cfg.sample_tokens)
    assert for_run("x", TrainConfig(sample_tokens=0), model, tokenizer, None, False) is None


def test_a_run_recorded_before_the_sample_settings_existed_still_resumes():
    from textgen_core.train.resume import with_new_defaults

    current = TrainConfig(model="scratch:tiny", lr=1e-3).to_dict()
    recorded = {k: v for k, v in current.items() if k not in ("sample_prompts", "sample_tokens")}
    assert with_new_defaults(recorded) == current
    changed = {**recorded, "lr": 2e-3}
    assert with_new_defaults(changed) != current  # a real change still shows


def test_samples_are_appended_and_printed_only_when_shown(tokenizer, tiny_model, tmp_path, capsys):
    import torch

    from textgen_core.model.loading import load_for_inference
    from textgen_core.quality.samples import read_samples

    model, _ = load_for_inference(str(tiny_model))
    model.train()
    cfg = TrainConfig(model=str(tiny_model), sample_prompts=["To be"], sample_tokens=5)
    shown = for_run(tmp_path / "a.jsonl", cfg, model, tokenizer, splits=None, show=True)
    quiet = for_run(tmp_path / "b.jsonl", cfg, model, tokenizer, splits=None, show=False)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    shown.sample(model, 7)
    assert "sample at step 7: To be" in capsys.readouterr().out
    quiet.sample(model, 7)
    assert capsys.readouterr().out == ""
    # seeded: the same text both times; the random state and train mode untouched
    assert read_samples(tmp_path / "a.jsonl") == read_samples(tmp_path / "b.jsonl")
    assert torch.equal(torch.get_rng_state(), before) and model.training
