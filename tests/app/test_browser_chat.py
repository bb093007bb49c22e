"""Prompt/answer data in a real browser: the preview shows the file's format and
one example with its answer highlighted as trained, and the Generate tab opens a
chat view for a chat model that answers a message."""

from __future__ import annotations

import re

from support import chat_tasks
from support.browser import needs_chromium, visible
from support.servers import AppServer

from textgen_core.config import GenerateConfig
from textgen_core.generate.sampling import generate
from textgen_core.model.loading import load_for_inference

pytestmark = needs_chromium


def test_preview_highlights_the_answer_and_a_chat_model_gets_a_chat_view(
    tmp_path, page, tiny_model, chat_run
):
    from playwright.sync_api import expect

    data = chat_tasks.write_jsonl(tmp_path / "tasks.jsonl", chat_tasks.conversations(300))
    app = AppServer(tmp_path / "data").start()
    try:
        page.goto(app.url)
        page.get_by_label("Base model").fill(str(tiny_model))
        page.get_by_label("Chunk size (tokens)").fill("64")
        page.locator("input[type=file]").first.set_input_files([str(data)])
        table = page.get_by_role("grid", name="Files")
        kind = table.get_by_role("gridcell", name="JSON Lines, messages, 300 conversations")
        expect(visible(kind)).to_be_visible(timeout=90_000)
        expect(page.get_by_text(re.compile("300 prompt/answer examples"))).to_be_visible()
        example = page.get_by_text(re.compile(r"One prompt/answer example as the model sees it"))
        expect(example).to_be_visible()
        # the trained piece is the answer with its end-of-turn token, marked "trained"
        expect(visible(page.get_by_text(re.compile(r"<\|im_end\|>$")))).to_be_visible()
        expect(visible(page.get_by_text("trained", exact=True))).to_be_visible()
        page.screenshot(path=tmp_path / "chat-preview.png", full_page=True)

        page.get_by_role("tab", name="Generate").click()
        model = page.get_by_role("combobox", name="Model")
        model.fill(str(chat_run / "model"))
        model.press("Enter")
        message = page.get_by_role("textbox", name="Message", exact=True)
        expect(message).to_be_visible(timeout=60_000)
        page.get_by_label("Temperature (0 = greedy)").fill("0")
        message.fill("Who are you?")
        page.get_by_role("button", name="Send").click()
        bubble = page.locator(".message.bot, [data-testid='bot']").last
        expect(bubble).to_have_text(re.compile(r"\S"), timeout=60_000)
        page.screenshot(path=tmp_path / "chat-view.png", full_page=True)
        shown = bubble.inner_text()
    finally:
        app.stop()
    # the answer shown is the model's greedy answer to the message in its chat template,
    # with the tab's other settings at their defaults
    model, tokenizer = load_for_inference(str(chat_run / "model"))
    turn = [{"role": "user", "content": "Who are you?"}]
    prompt = tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)
    greedy = GenerateConfig(temperature=0)
    assert shown.split() == generate(model, tokenizer, prompt, greedy)[0].split()
