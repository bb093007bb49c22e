"""A run on prompt/answer data end to end: trained and scored on the answers,
the chat template saved with the model, samples that continue held-out
conversations, and `textgen generate --chat`."""

from __future__ import annotations

import json

from support.cli import textgen
from transformers import AutoTokenizer, GenerationConfig

from textgen_core.chat_template import MINIMAL_TEMPLATE, chat_prompt
from textgen_core.config import TrainConfig
from textgen_core.data.splits import IGNORE_INDEX
from textgen_core.train.run import prepare_data


def test_results_score_the_answers_and_the_file_table_counts_them(chat_run, chat_data):
    results = json.loads((chat_run / "results.json").read_text())
    (row,) = results["file_table"]
    assert (row["path"], row["format"], row["examples"]) == (str(chat_data), "messages", 300)
    assert row["trained_tokens"] < row["prompt_tokens"]  # answers are the short part
    assert results["split_by"] == "example"
    assert results["config"]["data"]["train_on"] == "answers"
    # the test loss (base and fine-tuned) is over the test split's answer tokens only
    cfg = TrainConfig.from_dict(results["config"])
    _, tokenizer, splits = prepare_data([chat_data], cfg, name_skipped=False)
    answers = [t for labels in splits.test["labels"] for t in labels if t != IGNORE_INDEX]
    assert results["test_tokens_scored"] == len(answers) > 0
    assert tokenizer.decode(answers).count("<|im_end|>") == len(splits.test)
    assert results["test_loss"] < results["base_test_loss"]


def test_the_saved_model_is_a_chat_model_with_plain_transformers(chat_run):
    tokenizer = AutoTokenizer.from_pretrained(chat_run / "model")
    assert tokenizer.chat_template == MINIMAL_TEMPLATE
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    stops = GenerationConfig.from_pretrained(chat_run / "model").eos_token_id
    assert stops == [tokenizer.eos_token_id, end]


def test_samples_continue_held_out_conversations_up_to_their_answer(chat_run):
    records = [json.loads(line) for line in (chat_run / "samples.jsonl").read_text().splitlines()]
    prompts = {r["prompt"] for r in records}
    assert len(prompts) == 2 and {r["step"] for r in records} == {0, 20, 40}
    for prompt in prompts:
        assert prompt.startswith("<|im_start|>user\n")
        assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert not any("<|im_end|>" in r["text"] for r in records)  # stopped there, not shown


def test_generate_chat_prints_the_greedy_answer_to_a_message(chat_run):
    import torch

    from textgen_core.model.loading import load_for_inference

    done = textgen(
        "generate", chat_run / "model", "--chat", "Who are you?", "--system", "Be kind.",
        "--temperature", "0", "--max-new-tokens", "16",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    model, tokenizer = load_for_inference(str(chat_run / "model"))
    prompt = chat_prompt(tokenizer, "Who are you?", "Be kind.")
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=16, do_sample=False, repetition_penalty=1.1)
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert done.stdout == expected + "\n"


def test_generate_chat_refuses_a_plain_text_model(tiny_model):
    done = textgen("generate", tiny_model, "--chat", "Hello?")
    assert done.returncode == 2
    assert "--chat:" in done.stderr and "plain text model" in done.stderr
    done = textgen("generate", tiny_model, "--system", "Be kind.")
    assert done.returncode == 2 and "--system: only with --chat" in done.stderr


def test_eval_scores_prompt_answer_files_on_their_answers(chat_run, chat_data, tiny_model):
    from textgen_core.train.eval_files import evaluate

    trained = evaluate(str(chat_run / "model"), [chat_data])
    (row,) = trained["file_table"]
    assert (
        trained["tokens"] == row["trained_tokens"] == trained["per_file"][str(chat_data)]["tokens"]
    )
    # a plain model is scored on the same answer tokens, with the template training gives it
    base = evaluate(str(tiny_model), [chat_data])
    assert base["tokens"] == trained["tokens"]
    assert base["loss"] > trained["loss"]
