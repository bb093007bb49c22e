"""A model trained on conversations, exported to GGUF: the file carries its chat
template, the Modelfile the same template in Ollama's Go form with the end-of-turn
stop, and llama.cpp's chat completion gives textgen's greedy answer."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from textgen_core.chat_template import MINIMAL_TEMPLATE, chat_prompt
from textgen_core.config import GenerateConfig
from textgen_core.export.modelfile import _compose, _pieces, ollama_template
from textgen_core.export.run import export
from textgen_core.generate.sampling import generate
from textgen_core.model.loading import load_for_inference
from textgen_core.model.offline_tokenizers import tokenizer_dir

MESSAGES = [
    {"role": "system", "content": "Answer in one line."},
    {"role": "user", "content": "What is the last word? apple river stone"},
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, chat_run):
    path = tmp_path_factory.mktemp("chat_gguf") / "qa.gguf"
    record = export(str(chat_run / "model"), "gguf", str(path), measure=False)
    return path, record


def test_the_gguf_carries_the_chat_template_and_llama_cpp_answers_as_textgen(exported, chat_run):
    from llama_cpp import Llama

    from textgen_core.export.gguf_read import read_gguf

    path, _ = exported
    field = read_gguf(path).fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode() == MINIMAL_TEMPLATE

    model, tokenizer = load_for_inference(str(chat_run / "model"))
    greedy = GenerateConfig(max_new_tokens=16, temperature=0, repetition_penalty=1.0)
    prompt = chat_prompt(tokenizer, MESSAGES[1]["content"], MESSAGES[0]["content"])
    expected = generate(model, tokenizer, prompt, greedy)[0]
    llm = Llama(model_path=str(path), n_ctx=256, verbose=False)
    try:
        answer = llm.create_chat_completion(
            MESSAGES, temperature=0, max_tokens=16, repeat_penalty=1.0, top_k=1
        )
    finally:
        llm.close()
    assert answer["choices"][0]["message"]["content"] == expected
    finish = answer["choices"][0]["finish_reason"]
    assert finish == ("stop" if answer["usage"]["completion_tokens"] < 16 else "length")


def test_the_modelfile_has_the_template_in_go_and_stops_at_the_end_of_a_turn(exported):
    path, record = exported
    lines = (path.parent / "Modelfile").read_text().splitlines()
    assert 'PARAMETER stop "<|endoftext|>"' in lines and 'PARAMETER stop "<|im_end|>"' in lines
    text = "\n".join(lines)
    assert 'TEMPLATE """{{ $prev := "" }}{{ range .Messages }}' in text
    assert "{{ .Content }}" in text and "<|im_start|>assistant\n" in text


@pytest.mark.parametrize("name", ["qwen3", "llama3", "gemma3"])
def test_each_familys_template_becomes_a_go_template_that_renders_the_same(name):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(name))
    template, why = ollama_template(tokenizer)
    assert template is not None, why
    pieces = _pieces(tokenizer)
    roles = ("system", "user", "assistant", "user", "assistant", "user")
    contents = ["Be kind.", "Hi there", "Hello!", "How are you?", "Fine.", "Bye"]
    messages = [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert _compose(pieces, roles, contents) == rendered
    for piece in pieces.values():
        assert piece in template


def test_a_template_that_does_not_render_messages_in_place_keeps_the_plain_prompt():
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir("qwen3"))
    tokenizer.chat_template = (  # the last message first: no fixed text between messages
        "{{ messages[-1]['content'] }}{% for m in messages[:-1] %}|{{ m['content'] }}{% endfor %}"
    )
    template, why = ollama_template(tokenizer)
    assert template is None and "in place" in why
