"""GGUF export of a trained run, measured in llama.cpp and in transformers' GGUF
loader: the parity textgen promises, the tokenizer and the vocabulary in the file."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest

from textgen_core.cpuinfo import cpu_flags
from textgen_core.export.gguf_read import read_gguf
from textgen_core.export.run import export
from textgen_core.model.loading import load_for_inference


@pytest.fixture(scope="module")
def f16(trained_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf_f16") / "tiny.gguf"
    return path, export(str(trained_run), "gguf", path, log=lambda _: None)


def test_f16_gguf_generates_what_textgen_generates_in_llama_cpp_and_transformers(f16):
    _, record = f16
    parity = record["parity"]
    assert parity["perplexity_on"].startswith("test split of")
    assert set(parity["runtimes"]) == {"llama.cpp", "transformers (GGUF)"}
    reference = parity["reference"]["greedy_text"]
    assert len(reference) > 20  # 50 tokens of real text, not an immediate end-of-text
    for runtime, figures in parity["runtimes"].items():
        assert figures["greedy"]["text"] == reference, runtime
        assert abs(figures["perplexity_change"]) < 0.001, runtime
    assert parity["faithful"] is True


def test_export_json_beside_the_file_records_the_printed_figures(f16):
    path, record = f16
    saved = json.loads((path.parent / "export.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["bytes"] == path.stat().st_size


def test_textgens_gguf_reader_reads_what_gguf_pys_own_reads(f16):
    path, _ = f16
    ours, theirs = read_gguf(path), gguf.GGUFReader(path)
    assert ours.fields.keys() == theirs.fields.keys()
    for key, field in theirs.fields.items():
        mine = ours.fields[key]
        assert (mine.types, mine.data, mine.offset) == (field.types, field.data, field.offset)
        assert all(np.array_equal(a, b) for a, b in zip(mine.parts, field.parts, strict=True))
    assert [(t.name, list(t.shape)) for t in ours.tensors] == [
        (t.name, list(t.shape)) for t in theirs.tensors
    ]
    assert all(
        np.array_equal(a.data, b.data) for a, b in zip(ours.tensors, theirs.tensors, strict=True)
    )


def test_gguf_file_holds_gpt2_tokenizer_without_padding_rows_or_pad(f16, trained_run):
    path, _ = f16
    model, tokenizer = load_for_inference(str(trained_run / "model"))
    assert model.get_input_embeddings().weight.shape[0] % 64 == 0
    assert tokenizer.convert_tokens_to_ids("[PAD]") == 50257
    reader = read_gguf(path)
    fields = reader.fields
    tokens = fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == 50257  # GPT-2's own vocabulary: no [PAD], no padding rows
    embedding = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert list(embedding.shape) == [32, 50257]
    eos = int(fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    assert eos == tokenizer.eos_token_id
    types = fields["tokenizer.ggml.token_type"]
    assert int(types.parts[types.data[eos]][0]) == gguf.TokenType.CONTROL
    assert int(types.parts[types.data[0]][0]) == gguf.TokenType.NORMAL
    assert len(fields["tokenizer.ggml.merges"].data) == 50000


def test_llama_cpp_tokenizes_like_textgen(f16, trained_run):
    from llama_cpp import Llama

    path, _ = f16
    _, tokenizer = load_for_inference(str(trained_run / "model"))
    text = "Hello world, it's 2026!\n  Indented <|endoftext|> ünïcödé"
    llm = Llama(model_path=str(path), n_ctx=64, verbose=False)
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    llm.close()
    assert ids == tokenizer(text)["input_ids"]


def test_modelfile_carries_stop_token_and_textgen_sampling_defaults(f16):
    path, record = f16
    text = (path.parent / "Modelfile").read_text()
    lines = text.splitlines()
    assert "FROM ./tiny.gguf" in lines
    assert 'PARAMETER stop "<|endoftext|>"' in lines
    for line in (
        "PARAMETER temperature 0.8",
        "PARAMETER top_k 50",
        "PARAMETER top_p 0.95",
        "PARAMETER repeat_penalty 1.1",
        "PARAMETER num_ctx 256",
    ):
        assert line in lines
    ollama, llama = record["run"]
    assert ollama.startswith("ollama create tiny -f Modelfile")
    assert llama.startswith("llama-completion -m tiny.gguf")


def test_llama_cpp_logits_match_pytorch_on_a_chunk(f16, trained_run):
    """The file's weights, not just its greedy path: f16 rounding only."""
    import torch

    from textgen_core.export.runtimes import LlamaCpp

    path, _ = f16
    model, tokenizer = load_for_inference(str(trained_run / "model"))
    ids = tokenizer("To be, or not to be, that is the question")["input_ids"]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0, :, :50257].numpy()
    runtime = LlamaCpp(path, 64)
    got = runtime.logits(ids)
    runtime.close()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()


def test_transformers_reads_the_exported_file_not_a_namesake_in_the_working_folder(
    f16, trained_run, tmp_path, monkeypatch
):
    """transformers' loader takes a bare file name that exists in the working folder
    before the one in the model's folder: the parity check names the file in full."""
    import torch

    from textgen_core.export.runtimes import TransformersGGUF

    path, _ = f16
    monkeypatch.chdir(tmp_path)
    (tmp_path / path.name).write_bytes(b"GGUF, but not this export")
    runtime = TransformersGGUF(path)
    model, tokenizer = load_for_inference(str(trained_run / "model"))
    ids = tokenizer("To be, or not to be, that is the question")["input_ids"]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0, :, :50257].numpy()
    assert np.abs(runtime.logits(ids)[:, :50257] - expected).max() < 0.05 * np.abs(expected).max()


def test_q8_0_gguf_runs_in_llama_cpp_and_transformers_at_about_half_the_size(
    f16, trained_run, tmp_path
):
    """On a CPU with AMX, llama.cpp crashes in its AMX kernel on q8_0 weights
    (llama.cpp #20824); the parity check loads the file without repacking there."""
    path = tmp_path / "q8.gguf"
    record = export(str(trained_run), "gguf", path, quantize="q8_0", log=lambda _: None)
    weights = {p: sum(int(t.n_bytes) for t in read_gguf(p).tensors) for p in (path, f16[0])}
    assert weights[path] < 0.6 * weights[f16[0]]  # the tokenizer's share of the file stays
    runtimes = record["parity"]["runtimes"]
    assert set(runtimes) == {"llama.cpp", "transformers (GGUF)"}
    for runtime, figures in runtimes.items():
        assert abs(figures["perplexity_change"]) < 0.03, (runtime, figures)
    assert runtimes["llama.cpp"]["perplexity"] == pytest.approx(
        runtimes["transformers (GGUF)"]["perplexity"], rel=1e-3
    )  # both dequantize the same blocks
    amx = "amx_int8" in cpu_flags()
    assert ("loaded_with" in runtimes["llama.cpp"]) == amx
    assert record["parity"]["faithful"] is None  # lossy: reported, not judged


def test_lora_adapter_is_merged_into_its_base_before_export(tiny_model, tmp_path):
    """The GGUF of an adapter folder computes what the merged model computes, and
    not what the base alone computes."""
    import torch
    from peft import LoraConfig, get_peft_model

    from textgen_core.export.runtimes import TransformersGGUF

    base, tokenizer = load_for_inference(str(tiny_model))
    config = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter, save_embedding_layers=True)
    tokenizer.save_pretrained(adapter)
    merged, _ = load_for_inference(str(adapter))
    plain, _ = load_for_inference(str(tiny_model))

    export(str(adapter), "gguf", tmp_path / "lora.gguf", measure=False, log=lambda _: None)

    ids = tokenizer("Something is rotten in the state of Denmark")["input_ids"]
    with torch.no_grad():
        want = merged(torch.tensor([ids])).logits[0, :, :50257].numpy()
        base_only = plain(torch.tensor([ids])).logits[0, :, :50257].numpy()
    got = TransformersGGUF(tmp_path / "lora.gguf").logits(ids)
    assert np.abs(got - want).max() < 1e-2
    assert np.abs(base_only - want).max() > 0.1  # the adapter changed something to check
