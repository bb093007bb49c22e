"""The app with prompt/answer data: the Train tab's preview shows each file's
format and one example with the trained tokens marked, an upload of only
conversations is accepted, and the Generate tab's chat view answers a chat model
as /v1/chat/completions and `textgen generate --chat` do."""

from __future__ import annotations

from support import chat_tasks

from textgen_core.app.jobs import JobStore
from textgen_core.app.ui.handlers import Handlers
from textgen_core.app.uploads import TRAINED, preview, store_uploads, usable_or_raise
from textgen_core.config import DataConfig, GenerateConfig
from textgen_core.generate.sampling import generate
from textgen_core.model.loading import load_for_inference
from textgen_core.serve.batching import Server


def test_preview_shows_the_format_and_an_example_with_its_answer_marked(tmp_path, tiny_model):
    path = chat_tasks.write_jsonl(tmp_path / "tasks.jsonl", chat_tasks.conversations(300))
    shown = preview([path], str(tiny_model), DataConfig(64))
    (row,) = shown.rows
    assert row[:2] == ["tasks.jsonl", "accepted"]
    assert row[4] == "JSON Lines, messages, 300 conversations"
    assert "300 prompt/answer examples" in shown.summary and "split by example" in shown.summary
    trained = [text for text, label in shown.example if label == TRAINED]
    context = "".join(text for text, label in shown.example if label is None)
    assert context.startswith("<|im_start|>user\n") and context.endswith("<|im_start|>assistant\n")
    assert len(trained) == 1 and trained[0].endswith("<|im_end|>")
    assert shown.warning is None
    usable_or_raise(tmp_path / "store", store_uploads([path], tmp_path / "store"))


def test_few_examples_are_warned_about(tmp_path, tiny_model):
    path = chat_tasks.write_jsonl(tmp_path / "tasks.jsonl", chat_tasks.conversations(40))
    shown = preview([path], str(tiny_model), DataConfig(64))
    assert shown.warning.startswith("Few examples:")


def test_chat_view_shows_for_chat_models_and_answers_as_generate(chat_run, tiny_model, tmp_path):
    h = Handlers(store=JobStore(tmp_path), server=Server(), limits=None, cap=100)
    model = str(chat_run / "model")
    assert h.is_chat_model(model) and not h.is_chat_model(str(tiny_model))
    settings = [12, 0, 0, 1.0, 1.0, -1]  # max new tokens, greedy, no top-k, top-p 1, no penalty
    *_, (history, cleared) = h.chat(
        model, [], "What is the last word? sun tree wind", "", *settings
    )
    assert cleared == "" and [m["role"] for m in history] == ["user", "assistant"]
    loaded, tokenizer = load_for_inference(model)
    prompt = tokenizer.apply_chat_template(history[:1], tokenize=False, add_generation_prompt=True)
    greedy = GenerateConfig(12, temperature=0, top_k=0, top_p=1.0, repetition_penalty=1.0)
    assert history[1]["content"] == generate(loaded, tokenizer, prompt, greedy)[0]
    # the next turn carries the conversation so far
    *_, (longer, _) = h.chat(model, history, "And the first?", "Be brief.", *settings)
    assert [m["content"] for m in longer[:2]] == [m["content"] for m in history]
    assert len(longer) == 4
