"""textgen web app: train on your files, watch it learn, generate, publish.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--auth USER:PASS]

UI wiring only; the work is done by textgen_core (jobs, uploads, generate, hub).
Named API endpoints (see docs/APP.md): /generate, /start_training, /job_status,
/cancel_training.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path

import gradio as gr

from textgen_core.config import DataConfig, GenerateConfig, LoraConfig, TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.jobs import JobStore
from textgen_core.model_cache import ModelCache
from textgen_core.uploads import MB, UploadLimits, preview

MODEL_HINT = "distilgpt2, scratch:tiny, scratch:distilgpt2, a Hub id, or a local model folder"
_FLAG_FIELDS = {"lr": "learning_rate"}


def user_error(exc: TextgenError) -> gr.Error:
    """The core's message with its flag (`--top-k: ...`) named as the app field (`top_k: ...`)."""

    def field(match: re.Match) -> str:
        name = match.group(1).replace("-", "_")
        return _FLAG_FIELDS.get(name, name)

    return gr.Error(re.sub(r"^--([a-z-]+)", field, str(exc)), print_exception=False)


def _number(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name}: must be a number, got {value!r}", print_exception=False) from None


def _whole(name: str, value) -> int:
    number = _number(name, value)
    if not number.is_integer():
        raise gr.Error(f"{name}: must be a whole number, got {value!r}", print_exception=False)
    return int(number)


def train_config(model, epochs, batch_size, lr, chunk_size, use_lora, warmup=0.1, seed=42):
    """The TrainConfig of the form's (or the API's) values."""
    if not (model or "").strip():
        raise gr.Error(f"model: give a base model ({MODEL_HINT})", print_exception=False)
    seed = _whole("seed", seed)
    return TrainConfig(
        model=model.strip(),
        epochs=_number("epochs", epochs),
        batch_size=_whole("batch_size", batch_size),
        lr=_number("learning_rate", lr),
        warmup_ratio=_number("warmup", warmup),
        seed=seed,
        lora=LoraConfig() if use_lora else None,
        data=DataConfig(chunk_size=_whole("chunk_size", chunk_size), seed=seed),
    )


def generate_config(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, cap):
    """A validated GenerateConfig; a negative or empty seed means unseeded."""
    seed = None if seed is None or seed == "" else _whole("seed", seed)
    cfg = GenerateConfig(
        max_new_tokens=_whole("max_new_tokens", max_new_tokens),
        temperature=_number("temperature", temperature),
        top_k=_whole("top_k", top_k),
        top_p=_number("top_p", top_p),
        repetition_penalty=_number("repetition_penalty", repetition_penalty),
        seed=None if seed is None or seed < 0 else seed,
    )
    if not 1 <= cfg.max_new_tokens <= cap:
        raise gr.Error(
            f"max_new_tokens: must be between 1 and {cap} here, got {cfg.max_new_tokens}",
            print_exception=False,
        )
    try:
        cfg.validate()
    except TextgenError as exc:
        raise user_error(exc) from None
    return cfg


# -- rendering job status ---------------------------------------------------------------


def _clock(seconds) -> str:
    if seconds is None:
        return "estimating"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def progress_markdown(status: dict) -> str:
    parts = [f"**Job `{status['id']}`: {status['state']}**"]
    if status["total_steps"]:
        parts.append(f"step {status['step']} / {status['total_steps']}")
    if status["state"] == "running":
        parts.append(f"ETA {_clock(status['eta_seconds'])}")
    losses = status["losses"]
    if losses["train"]:
        parts.append(f"train loss {losses['train'][-1][1]:.4f}")
    if losses["validation"]:
        parts.append(f"validation loss {losses['validation'][-1][1]:.4f}")
    text = " · ".join(parts)
    if status["error"]:
        text += f"\n\n**{status['state'].capitalize()}:** {status['error']}"
    return text


def loss_frame(status: dict):
    import pandas as pd

    rows = [
        {"step": step, "loss": loss, "split": split}
        for split, key in (("train", "train"), ("validation", "validation"))
        for step, loss in status["losses"][key]
    ]
    return pd.DataFrame(rows, columns=["step", "loss", "split"])


def results_markdown(results: dict | None) -> str:
    if not results:
        return ""
    skipped = "".join(f"\n- skipped {s['file']}: {s['reason']}" for s in results["files_skipped"])
    return (
        "| test set | base model | fine-tuned |\n| --- | --- | --- |\n"
        f"| loss | {results['base_test_loss']:.4f} | {results['test_loss']:.4f} |\n"
        f"| perplexity | {results['base_test_perplexity']:.2f} | {results['test_perplexity']:.2f} |"
        f"\n\n{results['steps']} steps in {results['train_seconds']:.0f} s; tokens: train "
        f"{results['train_tokens']}, validation {results['val_tokens']}, test "
        f"{results['test_tokens']}; {len(results['files_used'])} files used.{skipped}"
    )


def per_file_rows(results: dict | None) -> list[list]:
    if not results:
        return []
    return [
        [name, round(v["base_perplexity"], 2), round(v["perplexity"], 2), v["tokens"]]
        for name, v in results.get("test_per_file", {}).items()
    ]


# -- the app ----------------------------------------------------------------------------


class Handlers:
    """What each button, timer and endpoint does: argument checks, then textgen_core."""

    def __init__(self, store: JobStore, cache: ModelCache, limits: UploadLimits, cap: int):
        self.store, self.cache, self.limits, self.cap = store, cache, limits, cap

    def preview(self, files, model, chunk_size, seed):
        if not files:
            return [], "Upload text files to see what training would use."
        try:
            data = DataConfig(
                chunk_size=_whole("chunk_size", chunk_size), seed=_whole("seed", seed)
            )
            shown = preview(files, (model or "").strip(), data, self.limits)
        except (TextgenError, gr.Error) as exc:
            return [], f"**Cannot use these files:** {exc}"
        warning = f"\n\n**Warning:** {shown.warning}" if shown.warning else ""
        return shown.rows, shown.summary + warning

    def start_training(self, files, model, epochs, batch_size, learning_rate, chunk_size, use_lora):
        """API: start a training job; its id."""
        return self._start(files, model, epochs, batch_size, learning_rate, chunk_size, use_lora)

    def start_from_form(self, files, model, epochs, batch, lr, warmup, chunk, seed, lora):
        job_id = self._start(files, model, epochs, batch, lr, chunk, lora, warmup, seed)
        return job_id, job_id

    def _start(self, files, model, epochs, batch, lr, chunk, lora, warmup=0.1, seed=42) -> str:
        if not files:
            raise gr.Error("files: no files uploaded; add one or more text files")
        cfg = train_config(model, epochs, batch, lr, chunk, lora, warmup, seed)
        try:
            return self.store.start(files, cfg, self.limits)
        except TextgenError as exc:
            raise user_error(exc) from None

    def job_status(self, job_id: str) -> dict:
        """API: the job's state, progress, losses, results and error."""
        try:
            return self.store.status(job_id)
        except TextgenError as exc:
            raise user_error(exc) from None

    def cancel_training(self, job_id: str) -> dict:
        """API: cancel a job; its state."""
        try:
            return self.store.cancel(job_id)
        except TextgenError as exc:
            raise user_error(exc) from None

    def resume_training(self, job_id: str) -> dict:
        try:
            return self.store.resume(job_id)
        except TextgenError as exc:
            raise user_error(exc) from None

    def refresh(self, job_id: str):
        """Timer tick: the job's progress, loss chart, sample, results and raw status."""
        try:
            status = self.store.status(job_id) if job_id else None
        except TextgenError as exc:
            status, message = None, str(exc)
        else:
            message = "No training job yet."
        if status is None:
            return message, loss_frame({"losses": {"train": [], "validation": []}}), "", "", [], {}
        return (
            progress_markdown(status),
            loss_frame(status),
            status["sample"] or "",
            results_markdown(status["results"]),
            per_file_rows(status["results"]),
            status,
        )

    def attach(self, remembered: str | None) -> str:
        """On page load: the job this browser last watched, else the newest job."""
        try:
            if remembered:
                self.store.status(remembered)
                return remembered
        except TextgenError:
            pass
        return self.store.latest() or ""

    def model_zip(self, job_id: str) -> str:
        try:
            return str(self.store.model_zip(job_id))
        except TextgenError as exc:
            raise user_error(exc) from None

    def trained_models(self):
        choices = [
            (f"{j['id']} (trained from {j['model']})", j["id"])
            for j in self.store.list_jobs()
            if j["state"] == "completed"
        ]
        return gr.Dropdown(choices=choices), gr.Dropdown(choices=choices)

    def _model_path(self, model: str) -> str:
        model = (model or "").strip()
        if not model:
            raise gr.Error(f"model: choose a trained model or give one ({MODEL_HINT})")
        try:
            return str(self.store.run_dir(model) / "model")
        except TextgenError:
            return model  # not a job id: a Hub id, local folder or scratch:*

    def generate(
        self, model, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed
    ):
        """API: the generated text, streamed piece by piece."""
        from textgen_core.generate import stream

        cfg = generate_config(
            max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, self.cap
        )
        try:
            loaded, tokenizer = self.cache.get(self._model_path(model))
            text = ""
            yield text
            for piece in stream(loaded, tokenizer, prompt or "", cfg):
                text += piece
                yield text
        except TextgenError as exc:
            raise user_error(exc) from None

    def publish(self, source, repo_id, private, token) -> str:
        from textgen_core.hub import push_model

        if not (repo_id or "").strip():
            return "**Error:** repo id: give one, like `your-name/my-model`"
        try:
            folder = self.store.run_dir(source) if source else None
            if folder is None:
                return "**Error:** model: choose a trained model"
            url = push_model(folder, repo_id.strip(), private=bool(private), token=token or None)
        except TextgenError as exc:
            return f"**Error:** {exc}"
        return f"Published: [{url}]({url})"


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
    return source


def build_app(
    store: JobStore,
    *,
    limits: UploadLimits | None = None,
    cache: ModelCache | None = None,
    max_new_tokens: int = 512,
    generate_concurrency: int = 1,
) -> gr.Blocks:
    """The Blocks app over `store` (jobs), `cache` (models) and the upload limits."""
    limits = limits or UploadLimits()
    h = Handlers(store, cache or ModelCache(), limits, max_new_tokens)
    with gr.Blocks(title="textgen") as app:
        gr.Markdown("# textgen\nFine-tune a small language model on your own text.")
        remembered = gr.BrowserState(None, storage_key="textgen-job")
        with gr.Tab("Train"):
            job_id = _train_tab(h, remembered, limits.max_file_bytes / MB)
        with gr.Tab("Generate") as generate_tab:
            gen_model, refresh = _generate_tab(h, max_new_tokens, generate_concurrency)
        with gr.Tab("Publish") as publish_tab:
            publish_model = _publish_tab(h)
        private = {"api_visibility": "private"}
        app.load(h.attach, remembered, job_id, **private)
        for trigger in (app.load, generate_tab.select, publish_tab.select, refresh.click):
            trigger(h.trained_models, None, [gen_model, publish_model], **private)
    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="textgen web app")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=7860, help="default %(default)s")
    p.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    p.add_argument("--auth", metavar="USER:PASS", help="require this login")
    p.add_argument("--max-file-mb", type=float, default=50, help="per uploaded file")
    p.add_argument("--max-total-mb", type=float, default=200, help="per upload, all files")
    p.add_argument("--max-new-tokens", type=int, default=512, help="cap for generation")
    p.add_argument("--generate-concurrency", type=int, default=1, help="generations at once")
    p.add_argument("--max-jobs", type=int, default=1, help="training jobs at once")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not (sep and user and password):
            sys.exit("error: --auth must be USER:PASS")
        auth = (user, password)
    if not _is_loopback(args.host) and auth is None:
        print(
            f"warning: serving on {args.host} without --auth: anyone on the network can use "
            "this app, train on this machine and read what it generates",
            file=sys.stderr,
        )
    limits = UploadLimits(int(args.max_file_mb * MB), int(args.max_total_mb * MB))
    store = JobStore(max_running=args.max_jobs)
    store.downloads.mkdir(parents=True, exist_ok=True)
    interrupted = [j["id"] for j in store.list_jobs() if j["state"] == "interrupted"]
    if interrupted:
        print(f"interrupted jobs (resume them in the Train tab): {', '.join(interrupted)}")
    app = build_app(
        store,
        limits=limits,
        max_new_tokens=args.max_new_tokens,
        generate_concurrency=args.generate_concurrency,
    )
    app.queue(max_size=64).launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        auth=auth,
        max_file_size=limits.max_file_bytes,
        allowed_paths=[str(Path(store.downloads))],
        show_error=True,
    )


if __name__ == "__main__":
    main()
