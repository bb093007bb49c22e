"""Bad input to `textgen export`: one line naming the thing, exit status 2, and never
a half-written file under the final name."""

from __future__ import annotations

import errno
import json
import shutil
import sys

import gguf
import pytest
from support.cli import cli

from textgen_core.errors import TextgenError
from textgen_core.export.run import export
from textgen_core.export.runtimes import LLAMA_CPP_MISSING


def test_existing_output_needs_force(tiny_model, tmp_path):
    target = tmp_path / "model.gguf"
    target.write_text("keep me")
    with pytest.raises(TextgenError, match=r"model\.gguf: already exists; pass --force"):
        export(str(tiny_model), "gguf", target, measure=False)
    assert target.read_text() == "keep me"


def test_force_replaces_an_existing_export(tiny_model, tmp_path):
    target = tmp_path / "model.gguf"
    target.write_text("old")
    export(str(tiny_model), "gguf", target, force=True, measure=False, log=lambda _: None)
    assert target.read_bytes()[:4] == b"GGUF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Modelfile", "export.json", "model.gguf"]


def test_architecture_gguf_cannot_express_is_refused_before_writing(tiny_model, tmp_path):
    model = tmp_path / "relu"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "activation_function": "relu"}))
    with pytest.raises(TextgenError, match="activation_function=relu.*--to onnx"):
        export(str(model), "gguf", tmp_path / "m.gguf", measure=False)
    assert not (tmp_path / "m.gguf").exists()


def test_non_gpt2_model_is_refused_for_gguf(tmp_path):
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    from textgen_core.model.loading import gpt2_tokenizer_dir

    folder = tmp_path / "neo"
    config = GPTNeoConfig(
        vocab_size=50257,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        attention_types=[[["global"], 2]],
    )
    GPTNeoForCausalLM(config).save_pretrained(folder)
    for f in gpt2_tokenizer_dir().iterdir():
        if f.name != "config.json":
            shutil.copy(f, folder / f.name)
    with pytest.raises(TextgenError, match="GGUF export supports the GPT-2 architecture.*gpt_neo"):
        export(str(folder), "gguf", tmp_path / "neo.gguf", measure=False)


def test_missing_tokenizer_is_named(tiny_model, tmp_path):
    folder = tmp_path / "no_tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model / name, folder / name)
    with pytest.raises(TextgenError, match="no tokenizer in .*no_tokenizer"):
        export(str(folder), "onnx", tmp_path / "out", measure=False)


def test_lora_adapter_without_its_base_is_named(tiny_model, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for f in tiny_model.iterdir():
        if f.name.startswith(("tokenizer", "vocab", "merges", "special")):
            shutil.copy(f, adapter / f.name)
    gone = tmp_path / "deleted_base"
    (adapter / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": str(gone), "peft_type": "LORA"})
    )
    with pytest.raises(TextgenError, match="adapter's base model .*deleted_base is gone"):
        export(str(adapter), "gguf", tmp_path / "m.gguf", measure=False)


def test_full_disk_leaves_nothing_under_the_final_name(tiny_model, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", full)
    with pytest.raises(TextgenError, match=r"model\.gguf: the disk is full"):
        export(str(tiny_model), "gguf", tmp_path / "model.gguf", measure=False)
    assert list(tmp_path.iterdir()) == []


def test_cli_bad_input_exits_2_with_one_line(tiny_model, tmp_path):
    (tmp_path / "taken.gguf").write_text("x")
    result = cli("export", tiny_model, "--to", "gguf", "--output", tmp_path / "taken.gguf")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "taken.gguf: already exists; pass --force" in result.stderr


def test_cli_quantize_must_fit_the_format(tiny_model, tmp_path):
    result = cli(
        "export", tiny_model, "--to", "onnx", "--output", tmp_path / "o", "--quantize", "q8_0"
    )
    assert result.returncode == 2
    assert "--quantize q8_0: --to onnx takes one of fp32, int8" in result.stderr


def test_output_in_folders_that_do_not_exist_yet_creates_them(tiny_model, tmp_path):
    target = tmp_path / "new_folder" / "inner" / "model.gguf"
    result = cli("export", tiny_model, "--to", "gguf", "--output", target, "--no-parity")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:4] == b"GGUF"
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "Modelfile",
        "export.json",
        "model.gguf",
    ]


def test_output_under_a_file_is_refused_naming_the_file(tiny_model, tmp_path):
    (tmp_path / "notes").write_text("keep me")
    result = cli("export", tiny_model, "--to", "gguf", "--output", tmp_path / "notes" / "m.gguf")
    assert result.returncode == 2
    assert f"{tmp_path / 'notes'} is a file, not a folder" in result.stderr
    assert (tmp_path / "notes").read_text() == "keep me"


def test_without_llama_cpp_the_export_says_how_to_install_it(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` fails, as uninstalled
    printed: list[str] = []
    record = export(str(tiny_model), "gguf", tmp_path / "m.gguf", log=printed.append)
    runtimes = record["parity"]["runtimes"]
    assert runtimes["llama.cpp"] == {"skipped": LLAMA_CPP_MISSING}
    assert 'pip install "textgen[llama]"' in LLAMA_CPP_MISSING
    assert "perplexity" in runtimes["transformers (GGUF)"]  # the other runtime still measured
    assert f"  llama.cpp: not measured ({LLAMA_CPP_MISSING})" in printed
