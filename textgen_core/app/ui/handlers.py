"""What each button, timer and endpoint of the app does: checks, then textgen_core."""

from __future__ import annotations

import gradio as gr

from textgen_core.app.jobs import JobStore, NoSuchJob
from textgen_core.app.ui.forms import (
    MODEL_HINT,
    doc_separator,
    generate_config,
    number,
    shown_to_user,
    train_config,
    whole,
)
from textgen_core.app.ui.render import (
    loss_frame,
    per_file_rows,
    progress_markdown,
    results_markdown,
    samples_timeline,
)
from textgen_core.app.uploads import UploadLimits, preview
from textgen_core.config import DataConfig, TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.run_folder import read_json
from textgen_core.serve.batching import Server


class Handlers:
    """What each button, timer and endpoint does: argument checks, then textgen_core."""

    def __init__(self, store: JobStore, server: Server, limits: UploadLimits, cap: int):
        self.store, self.server, self.limits, self.cap = store, server, limits, cap

    def preview(self, files, model, chunk_size, seed, separator=None):
        """The file table, the summary, and one example of prompt/answer data
        with its trained tokens (hidden without such data)."""
        hidden = gr.HighlightedText(value=[], visible=False)
        if not files:
            return [], "Upload text files to see what training would use.", hidden
        try:
            data = DataConfig(
                chunk_size=whole("chunk_size", chunk_size),
                seed=whole("seed", seed),
                doc_separator=doc_separator(separator),
            )
            shown = preview(files, (model or "").strip(), data, self.limits)
        except (TextgenError, gr.Error) as exc:
            return [], f"**Cannot use these files:** {exc}", hidden
        warning = f"\n\n**Warning:** {shown.warning}" if shown.warning else ""
        example = gr.HighlightedText(value=shown.example, visible=bool(shown.example))
        return shown.rows, shown.summary + warning, example

    def start_training(self, files, model, epochs, batch_size, learning_rate, chunk_size, use_lora):
        """API: start a training job; its id."""
        return self._start(files, model, epochs, batch_size, learning_rate, chunk_size, use_lora)

    def start_from_form(
        self, files, model, epochs, batch, lr, warmup, chunk, seed, lora, sep, precision, budget
    ):
        job_id = self._start(
            files, model, epochs, batch, lr, chunk, lora, warmup, seed, sep, precision, budget
        )
        return job_id, job_id

    def estimate(
        self, files, model, epochs, batch, lr, warmup, chunk, seed, lora, sep, precision, budget
    ):
        """Preview: about how long training would take here, before Start."""
        from textgen_core.train.estimate_run import estimate_run

        if not files:
            return "Upload text files to estimate the training time."
        cfg = train_config(
            model, epochs, batch, lr, chunk, lora, warmup, seed, sep, precision, budget
        )
        try:
            plan = estimate_run(files, cfg)
        except TextgenError as exc:
            return f"**Cannot estimate:** {exc}"
        return "**Time:** " + plan.message().removeprefix("estimate: ")

    def _start(
        self,
        files,
        model,
        epochs,
        batch,
        lr,
        chunk,
        lora,
        warmup=None,
        seed=None,
        sep=None,
        precision=TrainConfig.precision,
        budget=None,
    ) -> str:
        if not files:
            raise gr.Error("files: no files uploaded; add one or more text files")
        defaults = TrainConfig()
        warmup = defaults.warmup_ratio if warmup is None else warmup
        seed = defaults.seed if seed is None else seed
        cfg = train_config(
            model, epochs, batch, lr, chunk, lora, warmup, seed, sep, precision, budget
        )
        with shown_to_user():
            return self.store.start(files, cfg, self.limits)

    def job_status(self, job_id: str) -> dict:
        """API: the job's state, progress, losses, results and error."""
        with shown_to_user():
            return self.store.status(job_id)

    def cancel_training(self, job_id: str) -> dict:
        """API: cancel a job; its state."""
        with shown_to_user():
            return self.store.cancel(job_id)

    def resume_training(self, job_id: str) -> dict:
        with shown_to_user():
            return self.store.resume(job_id)

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
        except NoSuchJob:
            pass  # removed since: show the newest job instead
        return next((j["id"] for j in self.store.list_jobs() if j["kind"] == "train"), "")

    def model_zip(self, job_id: str) -> str:
        with shown_to_user():
            return str(self.store.model_zip(job_id))

    def trained_models(self):
        choices = [
            (f"{j['id']} (trained from {j['model']})", j["id"])
            for j in self.store.list_jobs()
            if j["state"] == "completed" and j["kind"] == "train"
        ]
        return gr.Dropdown(choices=choices), gr.Dropdown(choices=choices)

    def _model_path(self, model: str) -> str:
        model = (model or "").strip()
        if not model:
            raise gr.Error(f"model: choose a trained model or give one ({MODEL_HINT})")
        try:
            return str(self.store.run_dir(model) / "model")
        except NoSuchJob:
            return model  # not a job id: a Hub id, local folder or scratch:*
        # JobNotFinished goes to the user as it is: "job ...: is running; ..."

    def generate(
        self, model, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed
    ):
        """API: the generated text, streamed; decoded in a batch with the other
        requests for the same model (textgen_core.serve.batching)."""
        cfg = generate_config(
            max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, self.cap
        )
        with shown_to_user():
            path = self._model_path(model)  # a job without a model stops here, named
            pieces = self.server.stream(path, prompt or "", cfg)
            text = ""
            yield text
            for piece in pieces:
                text += piece
                yield text

    def is_chat_model(self, model) -> bool:
        """Whether `model` (a job id, Hub id, folder or scratch:*) has a chat template."""
        try:
            path = self._model_path(model)
            return bool(_chat_template_of(path))
        except (TextgenError, gr.Error, OSError):
            return False

    def chat_view(self, model):
        """Model chosen: the chat view shows for a chat model, hides otherwise."""
        return gr.Group(visible=self.is_chat_model(model))

    def chat(self, model, history, message, system, *settings):
        """One turn of the chat view: `message` answered after `history` (and
        `system`), rendered with the model's chat template as /v1/chat/completions
        renders it; the history with the answer growing, streamed."""
        cfg = generate_config(*settings, self.cap)
        history = [{"role": m["role"], "content": _text(m["content"])} for m in history or []]
        if not (message or "").strip():
            raise gr.Error("message: write something to send")
        history.append({"role": "user", "content": message})
        with shown_to_user():
            path = self._model_path(model)
            tokenizer = self.server.batcher(path).tokenizer
            if not getattr(tokenizer, "chat_template", None):
                raise TextgenError(f"model: {model} has no chat template; use the prompt above")
            turns = ([{"role": "system", "content": system}] if system else []) + history
            prompt = tokenizer.apply_chat_template(
                turns, tokenize=False, add_generation_prompt=True
            )
            answer = {"role": "assistant", "content": ""}
            yield [*history, answer], ""
            for piece in self.server.stream(path, prompt, cfg):
                answer["content"] += piece
                yield [*history, answer], ""

    def samples(self, job_id: str):
        """Timer tick: the job's samples timeline (empty without a job)."""
        try:
            status = self.store.status(job_id) if job_id else None
        except TextgenError:
            status = None
        return samples_timeline(status["samples"] if status else [])

    def seed_for_compare(self, compare: bool, seed):
        """Turning the base-model comparison on with a random seed (-1) draws
        one and shows it, so both models sample with that same seed."""
        import random

        if compare and (seed is None or seed == "" or number("seed", seed) < 0):
            return random.randrange(1_000_000)
        return seed

    def _base_model(self, model: str) -> str:
        """The model `model` was fine-tuned from: a job's base, or the one a
        run folder's results.json names."""
        from pathlib import Path

        model = (model or "").strip()
        try:
            return self.store.status(model)["model"]
        except TextgenError:
            pass
        folder = Path(model)
        for results in (folder / "results.json", folder.parent / "results.json"):
            if results.is_file():
                base = read_json(results).get("base_model")
                if base:
                    return base
        raise gr.Error(
            f"model: {model!r} has no recorded base model; comparing works for models "
            "trained here and for the model folder of a textgen run",
            print_exception=False,
        )

    def generate_base(
        self, model, prompt, max_new_tokens, temperature, top_k, top_p, penalty, seed, compare
    ):
        """With the comparison on: the base model's text for the same prompt and
        seed, streamed beside the fine-tuned model's."""
        if not compare:
            yield ""
            return
        cfg = generate_config(max_new_tokens, temperature, top_k, top_p, penalty, seed, self.cap)
        if cfg.seed is None:
            raise gr.Error("seed: give one (0 or more) so both models sample alike")
        base = self._base_model(self._model_path(model))
        with shown_to_user():
            text = ""
            yield text
            for piece in self.server.stream(base, prompt or "", cfg):
                text += piece
                yield text

    def publish(self, source, repo_id, private, token) -> str:
        from textgen_core.hub.repo import push_model

        if not (repo_id or "").strip():
            raise gr.Error("repo id: give one, like `your-name/my-model`", print_exception=False)
        if not source:
            raise gr.Error("model: choose a trained model", print_exception=False)
        with shown_to_user():
            url = push_model(
                self.store.run_dir(source),
                repo_id.strip(),
                private=bool(private),
                token=token or None,
            )
        return f"Published: [{url}]({url})"


def _text(content) -> str:
    """A chat message's text: Gradio gives a string, or parts with text."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)


def _chat_template_of(path: str):
    from textgen_core.model.loading import load_tokenizer

    return getattr(load_tokenizer(path), "chat_template", None)
