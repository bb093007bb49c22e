"""ONNX export with past key values, measured in onnxruntime: fp32 logits and greedy
text match textgen, the int8 model's perplexity change is reported, and the folder
carries the tokenizer an app needs."""

from __future__ import annotations

import numpy as np
import pytest

from textgen_core.export.run import export
from textgen_core.model.loading import load_for_inference


@pytest.fixture(scope="module")
def onnx_export(trained_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    return folder, export(str(trained_run), "onnx", folder, quantize="int8", log=lambda _: None)


def test_onnx_fp32_logits_within_1e_4_and_greedy_text_identical(onnx_export):
    _, record = onnx_export
    fp32 = record["parity"]["runtimes"]["fp32"]
    assert fp32["max_logit_difference"] < 1e-4
    assert fp32["greedy"]["text"] == record["parity"]["reference"]["greedy_text"]
    assert abs(fp32["perplexity_change"]) < 1e-4
    assert record["parity"]["faithful"] is True


def test_onnx_int8_is_smaller_and_its_perplexity_change_is_reported(onnx_export):
    folder, record = onnx_export
    int8 = record["parity"]["runtimes"]["int8"]
    assert 0 < abs(int8["perplexity_change"]) < 0.02
    fp32_size = (folder / "onnx" / "model.onnx").stat().st_size
    assert (folder / "onnx" / "model_quantized.onnx").stat().st_size < 0.5 * fp32_size


def test_onnx_folder_loads_with_its_own_tokenizer_and_decodes_with_past(onnx_export, trained_run):
    """One prompt call, then one token per call with the presents fed back, against
    PyTorch run on the whole sequence each time."""
    import torch
    from transformers import AutoTokenizer

    from textgen_core.export.runtimes import OnnxRuntime

    folder, _ = onnx_export
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "export.json"):
        assert (folder / name).is_file(), name
    shipped = AutoTokenizer.from_pretrained(folder)
    model, tokenizer = load_for_inference(str(trained_run / "model"))
    text = "Good night, sweet prince"
    assert shipped(text)["input_ids"] == tokenizer(text)["input_ids"]
    runtime = OnnxRuntime(folder, "onnx/model.onnx", never=[])
    ids = tokenizer(text)["input_ids"]
    logits, past = runtime._run(ids, None)
    for token in (11, 262, 286):
        logits, past = runtime._run([token], past)
        ids.append(token)
        with torch.no_grad():
            expected = model(torch.tensor([ids])).logits[0, -1].numpy()
        assert past[0].shape[2] == len(ids)
        assert np.abs(logits[-1] - expected).max() < 1e-4
