"""Export of every family textgen exports, each a tiny model with its real tokenizer
trained on verse: GGUF f16 measured in llama.cpp and transformers' GGUF loader, GGUF
q8_0 in llama.cpp, ONNX (fp32 and int8) in onnxruntime. Gemma 3's GGUF needs a
SentencePiece tokenizer.model, which the npm Gemma tokenizer lacks: its row uses a
tiny Gemma 3 whose tokenizer was trained with `sentencepiece` (see
support.models.build_tiny_gemma_with_sentencepiece)."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from support.models import FAMILIES, build_tiny_gemma_with_sentencepiece, shakespeare
from support.runs import tiny_config

from textgen_core.data.tokens import start_ids
from textgen_core.export import parity
from textgen_core.export.gguf_file import kept_vocab
from textgen_core.export.run import export
from textgen_core.export.runtimes import LlamaCpp, OnnxRuntime, Torch
from textgen_core.model.loading import load_for_inference

# How llama.cpp's converter names each family's tokenizer: its model and pre-tokenizer.
TOKENIZER = {
    "gpt2": ("gpt2", "gpt-2"),
    "llama": ("gpt2", "smaug-bpe"),  # Llama 3's regex, as llama.cpp files it
    "qwen2": ("gpt2", "qwen2"),
    "qwen3": ("gpt2", "qwen2"),
    "gemma3_text": ("llama", "default"),  # SentencePiece
}
LONG = 120  # tokens: past the tiny Gemma 3's 64-token sliding window


@pytest.fixture(scope="session")
def family_export_corpus(tmp_path_factory):
    """Eight files of verse (~20k characters)."""
    folder = tmp_path_factory.mktemp("family_export_corpus")
    text = shakespeare()[:20_000]
    for i in range(8):
        (folder / f"part{i}.txt").write_text(text[i * 2500 : (i + 1) * 2500])
    return folder


@pytest.fixture(scope="session")
def family_export_run(tmp_path_factory, family_model, family_export_corpus):
    """`family_export_run(model_type)`: a run of that family's tiny model, trained for
    two epochs (clear greedy margins: a run of a few steps has near-ties that make
    greedy text depend on the last bit of rounding), once per session."""
    runs = {}

    def get(model_type: str):
        if model_type not in runs:
            from textgen_core.train.run import train

            if model_type == "gemma3_text":
                model = build_tiny_gemma_with_sentencepiece(tmp_path_factory.mktemp("gemma_spm"))
            else:
                model = family_model(model_type)
            out = tmp_path_factory.mktemp(f"export_{model_type}") / "run"
            train([family_export_corpus], out, tiny_config(model))
            runs[model_type] = out
        return runs[model_type]

    return get


def _long_ids(tokenizer) -> list[int]:
    return tokenizer(shakespeare()[5000:9000], add_special_tokens=False)["input_ids"][:LONG]


@pytest.mark.parametrize("model_type", FAMILIES)
def test_f16_gguf_of_each_family_generates_what_textgen_generates(
    model_type, family_export_run, tmp_path
):
    run = family_export_run(model_type)
    path = tmp_path / "model.gguf"
    record = export(str(run), "gguf", path, log=lambda _: None)
    p = record["parity"]
    assert set(p["runtimes"]) == {"llama.cpp", "transformers (GGUF)"}
    for runtime, figures in p["runtimes"].items():
        assert figures["greedy"]["text"] == p["reference"]["greedy_text"], runtime
        assert abs(figures["perplexity_change"]) < parity.F16_TOLERANCE, runtime
    assert p["faithful"] is True

    # The file's metadata as llama.cpp reads it (its loader keeps every scalar as a
    # string; the token array's length is its vocabulary): the same facts as parsing
    # the file with gguf-py, without building millions of token slices in Python.
    model, tokenizer = load_for_inference(str(run / "model"))
    runtime = LlamaCpp(path, LONG + 8)
    meta = runtime.llm.metadata
    assert (meta["tokenizer.ggml.model"], meta["tokenizer.ggml.pre"]) == TOKENIZER[model_type]
    n_vocab = kept_vocab(model, tokenizer)
    assert runtime.llm.n_vocab() == n_vocab == record["vocab_in_file"]
    assert n_vocab <= len(tokenizer)  # nothing textgen never generates: no [PAD], no padding rows
    assert meta.get("tokenizer.chat_template") == tokenizer.chat_template
    start = start_ids(tokenizer)  # Gemma's <bos>; none for the others' tokenizers
    assert meta["tokenizer.ggml.add_bos_token"] == str(bool(start)).lower()  # as textgen prompts
    assert (path.parent / "Modelfile").is_file()

    # The file's tokenizer and weights past the first chunk: llama.cpp tokenizes as
    # textgen does, and a sequence longer than Gemma 3's sliding window scores alike.
    text = "Hello world, it's 2026!\n  Indented   ünïcödé\ttabs 3333 𓀀"
    assert (
        runtime.llm.tokenize(text.encode(), add_bos=True, special=True)
        == start + tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    ids = _long_ids(tokenizer)
    assert len(ids) == LONG
    want = parity.perplexity(Torch(model.float().eval(), tokenizer), [ids], n_vocab)
    got = parity.perplexity(runtime, [ids], n_vocab)
    runtime.close()
    assert got / want - 1 == pytest.approx(0, abs=parity.F16_TOLERANCE)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_q8_0_gguf_of_each_family_runs_in_llama_cpp_close_to_textgen(
    model_type, family_export_run, tmp_path
):
    """Written without the parity step (the GPT-2 export tests measure q8_0 in both
    runtimes): the file loads in llama.cpp and scores a passage within 3%."""
    run = family_export_run(model_type)
    path = tmp_path / "q8.gguf"
    export(str(run), "gguf", path, quantize="q8_0", measure=False, log=lambda _: None)
    runtime = LlamaCpp(path, LONG + 8)
    assert runtime.llm.metadata["general.file_type"] == str(gguf.LlamaFileType.MOSTLY_Q8_0.value)
    model, tokenizer = load_for_inference(str(run / "model"))
    n_vocab = kept_vocab(model, tokenizer)
    ids = _long_ids(tokenizer)
    want = parity.perplexity(Torch(model.float().eval(), tokenizer), [ids], n_vocab)
    got = parity.perplexity(runtime, [ids], n_vocab)
    runtime.close()
    assert abs(got / want - 1) < 0.03


@pytest.mark.parametrize("model_type", FAMILIES)
def test_onnx_of_each_family_matches_textgen_and_decodes_with_past(
    model_type, family_export_run, tmp_path
):
    run = family_export_run(model_type)
    folder = tmp_path / "onnx"
    record = export(str(run), "onnx", folder, quantize="int8", log=lambda _: None)
    fp32, int8 = record["parity"]["runtimes"]["fp32"], record["parity"]["runtimes"]["int8"]
    assert fp32["max_logit_difference"] < parity.LOGITS_TOLERANCE
    assert fp32["greedy"]["text"] == record["parity"]["reference"]["greedy_text"]
    assert record["parity"]["faithful"] is True
    assert abs(int8["perplexity_change"]) < 0.05

    # A prompt, then one token per call with the presents fed back, past the sliding
    # window: each step's logits are PyTorch's on the whole sequence.
    import torch

    model, tokenizer = load_for_inference(str(run / "model"))
    ids = _long_ids(tokenizer)
    runtime = OnnxRuntime(folder, "onnx/model.onnx", never=[])
    logits, past = runtime._run(ids[:-3], None)
    for i in range(LONG - 3, LONG):
        logits, past = runtime._run([ids[i]], past)
        with torch.no_grad():
            expected = model(torch.tensor([ids[: i + 1]])).logits[0, -1].numpy()
        assert past[0].shape[2] == i + 1
        assert np.abs(logits[-1] - expected).max() < parity.LOGITS_TOLERANCE
