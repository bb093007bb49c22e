"""The Publish tab's Export section: a model trained here as a GGUF file (with its
Modelfile) or an ONNX folder, measured against textgen, offered as a download."""

from __future__ import annotations

import shutil

import gradio as gr

from textgen_core.app.jobs import JobStore
from textgen_core.errors import TextgenError

CHOICES = {
    "GGUF f16 (llama.cpp, Ollama, LM Studio)": ("gguf", "f16"),
    "GGUF q8_0 (half the size, slightly less exact)": ("gguf", "q8_0"),
    "ONNX fp32 (ONNX Runtime, Transformers.js)": ("onnx", "fp32"),
    "ONNX fp32 + int8": ("onnx", "int8"),
}


def export_for_download(store: JobStore, job_id: str, choice: str) -> tuple[str, str]:
    """(zip to download, parity summary in Markdown) of job `job_id`'s model. The
    export lands in the run folder's exports/<format>-<quantize>/ (a GGUF with its
    Modelfile and export.json, or the ONNX folder), zipped beside it."""
    from textgen_core.export.run import export, summary

    if not job_id:
        raise TextgenError("model: choose a trained model")
    to, quantize = CHOICES[choice]
    run_dir = store.run_dir(job_id)
    folder = run_dir / "exports" / f"{to}-{quantize}"
    if to == "gguf":  # the file, its Modelfile and export.json in one folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{job_id}-{quantize}.gguf"
    else:  # the ONNX folder itself, so the zip opens to onnx/, config.json, tokenizer
        folder.parent.mkdir(parents=True, exist_ok=True)
        target = folder
    record = export(str(run_dir), to, target, quantize=quantize, force=True, log=lambda _: None)
    lines = summary(record)
    # Beside the export folder, not in it: a zip must not pack itself.
    download = shutil.make_archive(str(folder.parent / f"{job_id}-{to}-{quantize}"), "zip", folder)
    return download, "\n".join(f"- {line.strip()}" for line in lines)


def export_section(store: JobStore, source: gr.Dropdown) -> None:
    gr.Markdown(
        "### Export\nRun the model without textgen: one GGUF file for llama.cpp and "
        "Ollama, or an ONNX folder. Each export is checked against textgen in the real "
        "runtime before you download it."
    )
    choice = gr.Radio(list(CHOICES), value=next(iter(CHOICES)), label="Format")
    button = gr.Button("Export")
    download = gr.File(label="Download", interactive=False)
    figures = gr.Markdown()

    def run(job_id, selected):
        try:
            return export_for_download(store, job_id, selected)
        except TextgenError as exc:
            return None, f"**Error:** {exc}"

    button.click(run, [source, choice], [download, figures], api_visibility="private")
