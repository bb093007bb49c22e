"""`textgen_core.api`, the documented Python face: train, load, generate and
evaluate as the README shows; the old `textgen_core.modeling` still works, warned."""

from __future__ import annotations

import importlib
import sys

import pytest
from support.runs import tiny_config

from textgen_core import api


def test_train_load_generate_evaluate_through_the_api(tmp_path, tiny_model, corpus_dir):
    out = tmp_path / "first"
    results = api.train([corpus_dir], out, tiny_config(tiny_model, max_steps=2))
    assert results["steps"] == 2 and results["test_perplexity"] > 0
    model, tokenizer = api.load_for_inference(str(out / "model"))
    cfg = api.GenerateConfig(seed=1, max_new_tokens=12)
    text = api.generate(model, tokenizer, "Once upon a time", cfg)[0]
    assert text and text == "".join(api.stream(model, tokenizer, "Once upon a time", cfg))
    report = api.evaluate(str(out / "model"), [corpus_dir], api.DataConfig(chunk_size=64))
    assert report["step"] == 2  # the step the saved model was trained to
    assert report["tokens"] > 0 and set(report["per_file"]) == {
        str(p) for p in corpus_dir.iterdir()
    }


def test_the_old_modeling_module_still_loads_models_with_a_deprecation_warning():
    sys.modules.pop("textgen_core.modeling", None)
    with pytest.warns(DeprecationWarning, match="textgen_core.api"):
        modeling = importlib.import_module("textgen_core.modeling")
    assert modeling.load_for_inference is api.load_for_inference
