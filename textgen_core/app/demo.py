"""The demo page of one model (what `textgen deploy-space --model` puts on a Space):
its figures and example prompts (textgen_core.hub.model_page) and the Generate
controls, streamed and decoded in batches (textgen_core.serve.batching).

Named API endpoint for `gradio_client`: /generate(prompt, max_new_tokens,
temperature, top_k, top_p, repetition_penalty, seed) -> text.
"""

from __future__ import annotations

import gradio as gr

from textgen_core.app.ui.forms import generate_config, setting, shown_to_user
from textgen_core.config import GenerateConfig
from textgen_core.errors import hub_endpoint
from textgen_core.hub.model_page import ModelPage, read_model_page
from textgen_core.model.cache import ModelCache
from textgen_core.serve.batching import Server
from textgen_core.serve.settings import ServeConfig

GENERATE = GenerateConfig()
MAX_NEW_TOKENS = 256
"""The most tokens one request may ask of a demo (free CPU hardware)."""


class DemoModel:
    """The one model a demo serves, loaded at start-up at a pinned commit."""

    def __init__(self, model_id: str, revision: str, *, cap: int = MAX_NEW_TOKENS):
        from textgen_core.model.loading import load_for_inference

        # at start-up, a failure stops the Space with its one-line reason in the log
        model, tokenizer = load_for_inference(model_id, revision=revision)
        self.page: ModelPage = read_model_page(model_id, revision)
        # One Server for the page and the /v1 API, so their requests batch together;
        # it holds the model at the pinned commit under its Hub id.
        self.server = Server(ModelCache(capacity=1))
        self.server.cache.put(model_id, model, tokenizer)
        self.batcher = self.server.batcher(model_id)
        self.model_id = model_id
        self.cap = cap

    def generate(self, prompt, max_new_tokens, temperature, top_k, top_p, penalty, seed):
        """API: the continuation of `prompt` (prompt not included), streamed."""
        cfg = generate_config(max_new_tokens, temperature, top_k, top_p, penalty, seed, self.cap)
        with shown_to_user():
            text = ""
            yield text
            for piece in self.batcher.stream(prompt or "", cfg):
                text += piece
                yield text


def build_demo(demo: DemoModel, *, concurrency: int = ServeConfig.max_batch) -> gr.Blocks:
    """The page: model name and link, its figures, example prompts, Generate."""
    page = demo.page
    link = f"{hub_endpoint()}/{page.model_id}/tree/{page.revision}"
    with gr.Blocks(title=page.model_id) as app:
        gr.Markdown(
            f"# {page.model_id}\nA small language model fine-tuned with textgen "
            f"([model and card]({link}), commit `{page.revision[:10]}`)."
        )
        with gr.Accordion("How well it learned", open=True):
            gr.Markdown(page.figures)
        prompt = gr.Textbox(
            label="Prompt", lines=3, value=page.examples[0] if page.examples else ""
        )
        if page.examples:
            gr.Examples([[p] for p in page.examples], inputs=prompt, label="Prompts from training")
        with gr.Row():
            max_new = setting(GENERATE, "max_new_tokens", f"Max new tokens (1-{demo.cap})")
            temperature = setting(GENERATE, "temperature", "Temperature (0 = greedy)")
            top_k = setting(GENERATE, "top_k", "Top-k (0 = off)")
            top_p = setting(GENERATE, "top_p", "Top-p")
            penalty = setting(GENERATE, "repetition_penalty", "Repetition penalty")
            seed = gr.Number(value=-1, label="Seed (-1 = random)", precision=0)
        button = gr.Button("Generate", variant="primary")
        output = gr.Textbox(label="Generated text (continues the prompt)", lines=10)
        inputs = [prompt, max_new, temperature, top_k, top_p, penalty, seed]
        button.click(
            demo.generate, inputs, output, api_name="generate", concurrency_limit=concurrency
        )
    return app
