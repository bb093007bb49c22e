"""The app's page: the Train, Generate, Tune and Publish tabs and their wiring."""

from __future__ import annotations

import gradio as gr

from textgen_core.app.jobs import JobStore
from textgen_core.app.ui.export_section import export_section
from textgen_core.app.ui.forms import MODEL_HINT
from textgen_core.app.ui.handlers import Handlers
from textgen_core.app.ui.tune_tab import tune_tab
from textgen_core.app.uploads import MB, UploadLimits
from textgen_core.generate.serving import Server
from textgen_core.model.cache import ModelCache


def _train_tab(h: Handlers, remembered: gr.BrowserState, max_file_mb: float):
    files = gr.File(
        label=f"Text files (.txt, .md, .rst, .csv, .jsonl; up to {max_file_mb:.0f} MB each)",
        file_count="multiple",
        type="filepath",
    )
    table = gr.Dataframe(
        headers=["file", "status", "reason", "tokens"], label="Files", interactive=False
    )
    summary = gr.Markdown("Upload text files to see what training would use.")
    with gr.Row():
        model = gr.Textbox(value="distilgpt2", label="Base model", info=MODEL_HINT, scale=2)
        epochs = gr.Number(value=3, label="Epochs")
        batch = gr.Number(value=8, label="Batch size", precision=0)
        lr = gr.Number(value=5e-5, label="Learning rate")
    with gr.Row():
        warmup = gr.Number(value=0.1, label="Warmup (share of steps)")
        chunk = gr.Number(value=200, label="Chunk size (tokens)", precision=0)
        seed = gr.Number(value=42, label="Seed", precision=0)
        lora = gr.Checkbox(value=False, label="LoRA (train a small adapter)")
    with gr.Row():
        start = gr.Button("Start training", variant="primary")
        cancel = gr.Button("Cancel", variant="stop")
        resume = gr.Button("Resume")
    job_id = gr.Textbox(label="Job id", info="the job shown below; paste another id to watch it")
    progress = gr.Markdown()
    plot = gr.LinePlot(x="step", y="loss", color="split", label="Loss", height=300)
    sample = gr.Textbox(label="Sample after the latest evaluation", lines=3, interactive=False)
    results = gr.Markdown()
    per_file = gr.Dataframe(
        headers=["file", "base perplexity", "fine-tuned perplexity", "tokens"],
        label="Test perplexity per file",
        interactive=False,
    )
    download = gr.Button("Download model (zip)")
    zip_file = gr.File(label="Model folder", interactive=False)
    with gr.Accordion("Job status (JSON)", open=False):
        raw = gr.JSON()

    hidden = {"visible": False}
    api_start, api_status, api_job = gr.Button(**hidden), gr.Button(**hidden), gr.Textbox(**hidden)
    private = {"api_visibility": "private"}
    for trigger in (files.change, chunk.change, seed.change, model.submit, model.blur):
        trigger(h.preview, [files, model, chunk, seed], [table, summary], **private)
    form = [files, model, epochs, batch, lr, warmup, chunk, seed, lora]
    start.click(h.start_from_form, form, [job_id, remembered], **private)
    api_inputs = [files, model, epochs, batch, lr, chunk, lora]
    api_start.click(h.start_training, api_inputs, api_job, api_name="start_training")
    api_status.click(h.job_status, job_id, raw, api_name="job_status")
    cancel.click(h.cancel_training, job_id, raw, api_name="cancel_training")
    resume.click(h.resume_training, job_id, raw, api_name="resume_training")
    job_id.change(lambda value: value, job_id, remembered, **private)
    download.click(h.model_zip, job_id, zip_file, **private)
    refreshed = [progress, plot, sample, results, per_file, raw]
    gr.Timer(2.0).tick(h.refresh, job_id, refreshed, **private)
    return job_id


def _generate_tab(h: Handlers, cap: int, concurrency: int):
    with gr.Row():
        model = gr.Dropdown(
            choices=[],
            label="Model",
            info=f"a model trained here, or {MODEL_HINT}",
            allow_custom_value=True,
            scale=3,
        )
        refresh = gr.Button("Refresh list", scale=1)
    prompt = gr.Textbox(label="Prompt", lines=3)
    with gr.Row():
        max_new = gr.Number(value=100, label=f"Max new tokens (1-{cap})", precision=0)
        temperature = gr.Number(value=0.8, label="Temperature (0 = greedy)")
        top_k = gr.Number(value=50, label="Top-k (0 = off)", precision=0)
        top_p = gr.Number(value=0.95, label="Top-p")
        penalty = gr.Number(value=1.1, label="Repetition penalty")
        seed = gr.Number(value=-1, label="Seed (-1 = random)", precision=0)
    button = gr.Button("Generate", variant="primary")
    output = gr.Textbox(label="Generated text", lines=10)
    inputs = [model, prompt, max_new, temperature, top_k, top_p, penalty, seed]
    button.click(h.generate, inputs, output, api_name="generate", concurrency_limit=concurrency)
    return model, refresh


def _publish_tab(h: Handlers):
    gr.Markdown("Push a model trained here to the Hugging Face Hub, with its card and results.")
    source = gr.Dropdown(choices=[], label="Trained model")
    repo_id = gr.Textbox(label="Repo id", placeholder="your-name/my-model")
    private = gr.Checkbox(value=True, label="Private repo")
    token = gr.Textbox(label="Hub token (empty: use HF_TOKEN)", type="password")
    button = gr.Button("Publish", variant="primary")
    result = gr.Markdown()
    button.click(h.publish, [source, repo_id, private, token], result, api_visibility="private")
    export_section(h.store, source)
    return source


def build_app(
    store: JobStore,
    *,
    limits: UploadLimits | None = None,
    cache: ModelCache | None = None,
    max_new_tokens: int = 512,
    generate_concurrency: int = 16,
    generate_batch: int = 8,
) -> gr.Blocks:
    """The Blocks app over `store` (jobs), `cache` (models) and the upload limits.
    Up to `generate_concurrency` generation requests run at once (the rest wait
    in the queue), decoded in batches of up to `generate_batch` per model."""
    limits = limits or UploadLimits()
    server = Server(cache or ModelCache(), max_batch=generate_batch)
    h = Handlers(store, server, limits, max_new_tokens)
    with gr.Blocks(title="textgen") as app:
        gr.Markdown("# textgen\nFine-tune a small language model on your own text.")
        remembered = gr.BrowserState(None, storage_key="textgen-job")
        with gr.Tab("Train"):
            job_id = _train_tab(h, remembered, limits.max_file_bytes / MB)
        with gr.Tab("Generate") as generate_tab:
            gen_model, refresh = _generate_tab(h, max_new_tokens, generate_concurrency)
        with gr.Tab("Tune"):
            tune_tab(store, limits, limits.max_file_bytes / MB)
        with gr.Tab("Publish") as publish_tab:
            publish_model = _publish_tab(h)
        private = {"api_visibility": "private"}
        app.load(h.attach, remembered, job_id, **private)
        for trigger in (app.load, generate_tab.select, publish_tab.select, refresh.click):
            trigger(h.trained_models, None, [gen_model, publish_model], **private)
    return app
