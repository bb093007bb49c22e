"""`textgen push --gguf`: the export goes up beside the model and the card lists it."""

from __future__ import annotations

from textgen_core.cli.main import main
from textgen_core.export.run import export


def test_push_gguf_uploads_the_file_modelfile_and_record_and_the_card_lists_them(
    hub, tiny_model, tmp_path
):
    gguf = tmp_path / "tiny-f16.gguf"
    export(str(tiny_model), "gguf", gguf, measure=False, log=lambda _: None)

    assert main(["push", str(tiny_model), "alice/tiny-gguf", "--gguf", str(gguf)]) == 0

    files = hub.files("alice/tiny-gguf")
    assert files["tiny-f16.gguf"] == gguf.read_bytes()
    assert files["Modelfile"] == (tmp_path / "Modelfile").read_bytes()
    assert files["gguf-export.json"] == (tmp_path / "export.json").read_bytes()
    assert "model.safetensors" in files  # the model itself still goes up
    card = files["README.md"].decode()
    assert "## GGUF (llama.cpp, Ollama, LM Studio)" in card
    assert "`tiny-f16.gguf` (f16" in card
    assert "ollama run hf.co/alice/tiny-gguf" in card


def test_push_gguf_refuses_a_file_that_is_not_gguf(hub, tiny_model, tmp_path, capsys):
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    assert main(["push", str(tiny_model), "alice/fake", "--gguf", str(fake)]) == 2
    err = capsys.readouterr().err
    assert f"--gguf {fake}: not a GGUF file" in err
    assert ("model", "alice/fake") not in hub.repos  # refused before anything was uploaded
