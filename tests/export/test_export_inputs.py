"""Bad input to `textgen export`: one line naming the thing, exit status 2, and never
a half-written file under the final name."""

from __future__ import annotations

import errno
import json
import shutil
import sys

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


@pytest.fixture
def loading_forbidden(monkeypatch):
    """Loading the model's weights fails the test: a refusal must come before it."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr("textgen_core.export.source.load_model", forbidden)


@pytest.mark.parametrize("to", ["gguf", "onnx"])
def test_a_family_textgen_does_not_export_is_refused_before_loading(
    to, tmp_path, loading_forbidden
):
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
    result = cli("export", folder, "--to", to, "--output", tmp_path / "out", "--no-parity")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert (
        "textgen exports the model families gpt2, llama, qwen2, qwen3, gemma3_text; "
        "this model is 'gpt_neo'"
    ) in result.stderr
    assert not (tmp_path / "out").exists()


def test_gemma_without_its_sentencepiece_model_is_refused_before_loading(
    family_model, tmp_path, loading_forbidden
):
    """The npm Gemma 3 tokenizer has tokenizer.json only: llama.cpp's Gemma vocabulary
    needs tokenizer.model, and the refusal names it and where to get it."""
    folder = family_model("gemma3_text")
    assert not (folder / "tokenizer.model").exists()
    result = cli("export", folder, "--to", "gguf", "--output", tmp_path / "g.gguf")
    assert result.returncode == 2
    assert "needs the SentencePiece tokenizer.model beside its tokenizer.json" in result.stderr
    assert "google/gemma-3-270m" in result.stderr and "--to onnx" in result.stderr
    assert list(tmp_path.iterdir()) == []


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
    from textgen_core.export import converter

    def full(model_folder, out, **kwargs):
        out.write_bytes(b"GGUF half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(converter, "convert", full)
    with pytest.raises(TextgenError, match=r"model\.gguf: the disk is full"):
        export(str(tiny_model), "gguf", tmp_path / "model.gguf", measure=False)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_the_converter_process_is_reported_as_one(tmp_path, monkeypatch):
    """The converter runs in its own process: its out-of-space failure, read from what
    it printed, comes back as the OSError the output code turns into "the disk is full"."""
    from textgen_core.export import converter

    fake = tmp_path / "converter"
    (fake / "conversion").mkdir(parents=True)
    (fake / "conversion" / "__init__.py").write_text("")
    (fake / "conversion" / "gemma.py").write_text(
        "class Gemma3Model:\n    def set_gguf_parameters(self):\n        pass\n"
    )
    (fake / converter.SCRIPT).write_text(
        "def main():\n    open('/dev/full', 'w').write('x' * 65536)\n"
    )
    monkeypatch.setattr(converter, "converter_dir", lambda: fake)
    with pytest.raises(OSError) as caught:
        converter.convert(tmp_path, tmp_path / "m.gguf", outtype="f16", name="m")
    assert caught.value.errno == errno.ENOSPC


def test_unreachable_pypi_names_the_converter_and_how_to_get_it_offline(tmp_path, monkeypatch):
    from textgen_core.export import converter

    monkeypatch.setenv("TEXTGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))  # holds no archive
    with pytest.raises(TextgenError) as caught:
        converter.converter_dir()
    message = str(caught.value)
    assert "llama-cpp-python==0.3.36 source archive on PyPI, and `pip download` failed" in message
    assert "llama_cpp_python-0.3.36.tar.gz in a folder and set PIP_FIND_LINKS" in message
    assert not (tmp_path / "cache" / "llama.cpp-convert-0.3.36").exists()


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


def test_a_runtime_that_cannot_read_the_architecture_is_recorded_not_failed(
    tiny_model, tmp_path, monkeypatch
):
    """transformers' GGUF loader reads a list of architectures (all of textgen's
    families in 5.24); for one it lacks, export.json says so and llama.cpp still
    measures the file."""
    import transformers.modeling_gguf_pytorch_utils as loader

    monkeypatch.setattr(loader, "GGUF_SUPPORTED_ARCHITECTURES", ["llama"])
    record = export(str(tiny_model), "gguf", tmp_path / "m.gguf", log=lambda _: None)
    runtimes = record["parity"]["runtimes"]
    assert runtimes["transformers (GGUF)"] == {
        "skipped": "transformers' GGUF loader does not read gpt2 files"
    }
    assert "perplexity" in runtimes["llama.cpp"]
