"""The app's page: the Train, Generate, Tune and Publish tabs and their wiring."""

from __future__ import annotations

import gradio as gr

from textgen_core.app.jobs import JobStore
from textgen_core.app.settings import AppConfig
from textgen_core.app.ui.compare_tab import compare_tab
from textgen_core.app.ui.export_section import export_section
from textgen_core.app.ui.forms import MODEL_HINT, setting
from textgen_core.app.ui.handlers import Handlers
from textgen_core.app.ui.tune_tab import tune_tab
from textgen_core.app.uploads import MB, TRAINED
from textgen_core.config import DataConfig, GenerateConfig, TrainConfig, field_docs
from textgen_core.model.cache import ModelCache
from textgen_core.precision import TRAIN_PRECISIONS
from textgen_core.serve.batching import Server

TRAIN, GENERATE = TrainConfig(), GenerateConfig()


def _train_tab(h: Handlers, remembered: gr.BrowserState, max_file_mb: float):
    files = gr.File(
        label="Your files: any text (any name), Word, OpenDocument, PDF, EPUB, HTML, "
        f"subtitles, .csv/.jsonl, or a .zip of them; up to {max_file_mb:.0f} MB each",
        file_count="multiple",
        type="filepath",
    )
    table = gr.Dataframe(
        headers=["file", "status", "reason", "tokens", "kind"], label="Files", interactive=False
    )
    summary = gr.Markdown("Upload text files to see what training would use.")
    example = gr.HighlightedText(
        label="One prompt/answer example as the model sees it: highlighted, the answer tokens "
        "the loss is on (system and user turns are context)",
        color_map={TRAINED: "green"},
        show_legend=True,
        visible=False,
    )
    with gr.Row():
        model = gr.Textbox(value=TRAIN.model, label="Base model", info=MODEL_HINT, scale=2)
        epochs = setting(TRAIN, "epochs", "Epochs", precision=None)
        batch = setting(TRAIN, "batch_size", "Batch size")
        lr = setting(TRAIN, "lr", "Learning rate")
    with gr.Row():
        warmup = setting(TRAIN, "warmup_ratio", "Warmup (share of steps)")
        chunk = setting(TRAIN.data, "chunk_size", "Chunk size (tokens)")
        seed = setting(TRAIN, "seed", "Seed")
        lora = gr.Checkbox(value=TRAIN.lora is not None, label="LoRA (train a small adapter)")
        separator = gr.Textbox(
            label="Document separator",
            info=field_docs(DataConfig)["doc_separator"],
        )
    with gr.Row():
        precision = gr.Dropdown(
            list(TRAIN_PRECISIONS),
            value=TRAIN.precision,
            label="Precision",
            info="auto: bf16 where the CPU (AVX512_BF16/AMX) or GPU has it, else fp32",
        )
        budget = gr.Textbox(label="Time budget", placeholder="e.g. 30m; empty = no limit")
        estimate = gr.Button("Estimate time")
    estimated = gr.Markdown()
    with gr.Row():
        start = gr.Button("Start training", variant="primary")
        cancel = gr.Button("Cancel", variant="stop")
        resume = gr.Button("Resume")
    job_id = gr.Textbox(label="Job id", info="the job shown below; paste another id to watch it")
    progress = gr.Markdown()
    plot = gr.LinePlot(x="step", y="loss", color="split", label="Loss", height=300)
    sample = gr.Textbox(label="Sample after the latest evaluation", lines=3, interactive=False)
    results = gr.Markdown()
    timeline = gr.Dataframe(
        label="Samples during training (same seed at every evaluation)",
        interactive=False,
        wrap=True,
    )
    gr.Timer(2.0).tick(h.samples, job_id, timeline, api_visibility="private")
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
    shown = [table, summary, example]
    for trigger in (files.change, chunk.change, seed.change, model.submit, model.blur):
        trigger(h.preview, [files, model, chunk, seed, separator], shown, **private)
    separator.blur(h.preview, [files, model, chunk, seed, separator], shown, **private)
    form = [
        files,
        model,
        epochs,
        batch,
        lr,
        warmup,
        chunk,
        seed,
        lora,
        separator,
        precision,
        budget,
    ]
    start.click(h.start_from_form, form, [job_id, remembered], **private)
    estimate.click(h.estimate, form, estimated, **private)
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
        max_new = setting(GENERATE, "max_new_tokens", f"Max new tokens (1-{cap})")
        temperature = setting(GENERATE, "temperature", "Temperature (0 = greedy)")
        top_k = setting(GENERATE, "top_k", "Top-k (0 = off)")
        top_p = setting(GENERATE, "top_p", "Top-p")
        penalty = setting(GENERATE, "repetition_penalty", "Repetition penalty")
        seed = gr.Number(value=-1, label="Seed (-1 = random)", precision=0)
    compare = gr.Checkbox(
        value=False,
        label="Compare with base model",
        info="also generate from the model it was fine-tuned from, same prompt and seed",
    )
    button = gr.Button("Generate", variant="primary")
    with gr.Row():
        output = gr.Textbox(label="Generated text", lines=10)
        base_output = gr.Textbox(label="Base model's text", lines=10, visible=False)
    inputs = [model, prompt, max_new, temperature, top_k, top_p, penalty, seed]
    button.click(h.generate, inputs, output, api_name="generate", concurrency_limit=concurrency)
    _chat_view(h, model, inputs[2:], concurrency)
    compare.change(h.seed_for_compare, [compare, seed], seed, api_visibility="private")
    compare.change(
        lambda on: gr.Textbox(visible=on), compare, base_output, api_visibility="private"
    )
    button.click(
        h.generate_base,
        [*inputs, compare],
        base_output,
        api_visibility="private",
        concurrency_limit=concurrency,
    )
    return model, refresh


def _chat_view(h: Handlers, model, settings: list, concurrency: int) -> None:
    """For chat models: a conversation, each answer rendered with the model's chat
    template (the settings above apply)."""
    with gr.Group(visible=False) as view:
        chatbot = gr.Chatbot(label="Chat (this model has a chat template)", height=360)
        system = gr.Textbox(label="System message (optional)")
        message = gr.Textbox(label="Message", lines=2)
        with gr.Row():
            send = gr.Button("Send", variant="primary")
            clear = gr.Button("Clear")
    private = {"api_visibility": "private"}
    model.change(h.chat_view, model, view, **private)
    turn = [model, chatbot, message, system, *settings]
    for trigger in (send.click, message.submit):
        trigger(h.chat, turn, [chatbot, message], concurrency_limit=concurrency, **private)
    clear.click(lambda: [], None, chatbot, **private)


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
    cfg: AppConfig | None = None,
    *,
    cache: ModelCache | None = None,
    server: Server | None = None,
) -> gr.Blocks:
    """The Blocks app over `store` (jobs) and `cache` (models), with the upload
    limits and generation settings of `cfg`. Up to `cfg.generate_concurrency`
    generation requests run at once (the rest wait in the queue), decoded in
    batches (in `server` when given: the app's /v1 API shares it, so both batch
    together)."""
    cfg = cfg or AppConfig()
    limits, max_new_tokens = cfg.upload_limits(), cfg.max_new_tokens
    server = server or Server(cache, config=cfg.serve)
    h = Handlers(store, server, limits, max_new_tokens)
    with gr.Blocks(title="textgen") as app:
        gr.Markdown("# textgen\nFine-tune a small language model on your own text.")
        remembered = gr.BrowserState(None, storage_key="textgen-job")
        with gr.Tab("Train"):
            job_id = _train_tab(h, remembered, limits.max_file_bytes / MB)
        with gr.Tab("Generate") as generate_tab:
            gen_model, refresh = _generate_tab(h, max_new_tokens, cfg.generate_concurrency)
        with gr.Tab("Tune"):
            tune_tab(store, limits, limits.max_file_bytes / MB)
        with gr.Tab("Publish") as publish_tab:
            publish_model = _publish_tab(h)
        with gr.Tab("Compare") as compare_view:
            compare_jobs, compare_handlers = compare_tab(store)
        for trigger in (app.load, compare_view.select):
            trigger(compare_handlers.choices, None, compare_jobs, api_visibility="private")
        private = {"api_visibility": "private"}
        app.load(h.attach, remembered, job_id, **private)
        for trigger in (app.load, generate_tab.select, publish_tab.select, refresh.click):
            trigger(h.trained_models, None, [gen_model, publish_model], **private)
    return app
