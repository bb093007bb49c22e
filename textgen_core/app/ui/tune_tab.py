"""The Tune tab: a hyperparameter search (textgen_core.tune) as a background
job, with its trials table filling in as the trials run."""

from __future__ import annotations

import shutil

import gradio as gr

from textgen_core.app.jobs import JobStore
from textgen_core.app.ui.forms import (
    MODEL_HINT,
    number,
    setting,
    shown_to_user,
    train_config,
    whole,
)
from textgen_core.app.uploads import UploadLimits
from textgen_core.config import DataConfig, TrainConfig
from textgen_core.errors import TextgenError

TRIAL_COLUMNS = ["trial", "state", "validation loss", "settings", "failure"]


def trial_table(rows: list[dict]) -> list[list]:
    """The trials as table rows: the searched settings in one column."""
    fixed = {"number", "state", "val_loss", "failure"}
    table = []
    for row in rows:
        settings = {k: v for k, v in row.items() if k not in fixed and v is not None}
        loss = None if row["val_loss"] is None else round(row["val_loss"], 4)
        text = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items()
        )
        table.append([row["number"], row["state"], loss, text, row["failure"]])
    return table


def tune_markdown(status: dict) -> str:
    text = f"**Search `{status['id']}`: {status['state']}** · {status['step']} of "
    text += f"{status['total_steps']} trials done"
    results = status.get("results")
    if results:
        best, default = results["best"], results["default"]
        text += (
            f"\n\nBest: trial {results['best_trial']}, validation loss {best['val_loss']:.4f}, "
            f"test perplexity {best['test_perplexity']:.2f}; the default settings: "
            f"validation loss {default['val_loss']:.4f}, test perplexity "
            f"{default['test_perplexity']:.2f}."
        )
    if status["error"]:
        text += f"\n\n**{status['state'].capitalize()}:** {status['error']}"
    return text


class TuneHandlers:
    """Start, watch and download a search."""

    def __init__(self, store: JobStore, limits: UploadLimits):
        self.store, self.limits = store, limits

    def start_tuning(self, files, model, trials, timeout, epochs, chunk_size, use_lora) -> str:
        """API: start a search; its job id. `timeout` in seconds, 0 or empty for none;
        `epochs` is the most a trial may train."""
        if not files:
            raise gr.Error("files: no files uploaded; add one or more text files")
        base = train_config(model, epochs, 8, 5e-5, chunk_size, use_lora)
        seconds = None if timeout in (None, "") else number("timeout", timeout)
        tune = {"trials": whole("trials", trials), "timeout": seconds or None}
        with shown_to_user():
            return self.store.start(files, base, self.limits, tune=tune)

    def refresh(self, job_id: str):
        """Timer tick: progress line, trials table, best settings."""
        try:
            status = self.store.status(job_id) if job_id else None
        except TextgenError as exc:
            return str(exc), [], None
        if status is None or status["kind"] != "tune":
            return "No search yet.", [], None
        return tune_markdown(status), trial_table(status["trials"]), status["best_config"]

    def cancel(self, job_id: str) -> None:
        with shown_to_user():
            self.store.cancel(job_id)

    def best_config_file(self, job_id: str) -> str:
        with shown_to_user():
            source = self.store.run_dir(job_id) / "best_config.json"
        if not source.is_file():
            raise gr.Error(f"job {job_id}: is not a search; it has no best_config.json")
        target = self.store.downloads / job_id / "best_config.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)


def tune_tab(store: JobStore, limits: UploadLimits, max_file_mb: float) -> None:
    h = TuneHandlers(store, limits)
    gr.Markdown(
        "Search learning rate, batch size, warmup, weight decay and epochs (and the LoRA "
        "rank) with many short runs, judged on validation loss; then one run with the "
        "default settings for comparison."
    )
    files = gr.File(
        label=f"Text files (up to {max_file_mb:.0f} MB each)",
        file_count="multiple",
        type="filepath",
    )
    with gr.Row():
        model = gr.Textbox(value=TrainConfig.model, label="Base model", info=MODEL_HINT, scale=2)
        trials = gr.Number(value=10, label="Trials", precision=0)
        timeout = gr.Number(value=0, label="Timeout (seconds, 0 = none)")
    with gr.Row():
        epochs = setting(TrainConfig, "epochs", "Most epochs per trial", precision=None)
        chunk = setting(DataConfig, "chunk_size", "Chunk size (tokens)")
        lora = gr.Checkbox(value=False, label="LoRA (search adapter rank too)")
    with gr.Row():
        start = gr.Button("Start search", variant="primary")
        cancel = gr.Button("Cancel", variant="stop")
    job_id = gr.Textbox(label="Search job id", info="paste another id to watch it")
    progress = gr.Markdown()
    table = gr.Dataframe(headers=TRIAL_COLUMNS, label="Trials", interactive=False)
    with gr.Accordion("Best settings", open=True):
        best = gr.JSON()
    download = gr.Button("Download best_config.json")
    best_file = gr.File(label="best_config.json", interactive=False)

    private = {"api_visibility": "private"}
    inputs = [files, model, trials, timeout, epochs, chunk, lora]
    start.click(h.start_tuning, inputs, job_id, api_name="start_tuning")
    cancel.click(h.cancel, job_id, None, **private)
    download.click(h.best_config_file, job_id, best_file, **private)
    gr.Timer(2.0).tick(h.refresh, job_id, [progress, table, best], **private)
