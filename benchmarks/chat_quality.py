"""Does a tiny model learn to answer, and does training on the answers only help?

    python benchmarks/chat_quality.py [--examples 3000] [--steps 600] [--held-out 200]

A generated instruction dataset (tests/support/chat_tasks.py: repeat, reverse,
first and last word of three random words, and a fixed persona's reply) is
trained twice from the same random `scratch:tiny` start (2 layers, 128 wide,
GPT-2's tokenizer with textgen's minimal chat template), with the same seed,
steps and batches: once with `--train-on answers` (the default) and once with
`--train-on all`. Each trained model then answers held-out prompts (random
words never seen in training) greedily, through the chat template, and an
answer counts when it equals the right one exactly.

Prints one JSON line: per setting, the accuracy overall and per task, the test
loss over answer tokens (the same tokens for both), and the training seconds;
plus the settings and the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support import chat_tasks  # noqa: E402

from benchmarks.common import emit  # noqa: E402


def trained(data: Path, out: Path, args, train_on: str):
    from textgen_core.config import DataConfig, TrainConfig
    from textgen_core.train.run import train

    cfg = TrainConfig(
        model=args.model,
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_steps=args.steps,
        early_stopping_patience=None,
        memorization_prompts=0,
        sample_tokens=0,
        seed=args.seed,
        data=DataConfig(chunk_size=64, train_on=train_on, seed=args.seed),
    )
    start = time.time()
    results = train([data], out, cfg)
    return results, time.time() - start


def accuracy(model_dir: Path, questions) -> dict:
    from textgen_core.chat_template import chat_prompt
    from textgen_core.config import GenerateConfig
    from textgen_core.generate.sampling import generate
    from textgen_core.model.loading import load_for_inference

    model, tokenizer = load_for_inference(str(model_dir))
    greedy = GenerateConfig(max_new_tokens=24, temperature=0, repetition_penalty=1.0)
    right: dict[str, list[bool]] = {}
    for task, prompt, answer in questions:
        said = generate(model, tokenizer, chat_prompt(tokenizer, prompt), greedy)[0]
        right.setdefault(task, []).append(said.strip() == answer)
    every = [ok for oks in right.values() for ok in oks]
    return {
        "accuracy": sum(every) / len(every),
        "per_task": {task: sum(oks) / len(oks) for task, oks in right.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=3000)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--held-out", type=int, default=200)
    p.add_argument("--model", default="scratch:tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settings", default="answers,all", help="the --train-on values to run")
    p.add_argument("--tasks", default=",".join(chat_tasks.TASKS), help="the tasks to train and ask")
    args = p.parse_args()
    load = os.getloadavg()[0]
    os.environ.setdefault("TEXTGEN_DATA_CACHE", "off")
    tasks = tuple(args.tasks.split(","))
    items = chat_tasks.conversations(args.examples, seed=args.seed, tasks=tasks)
    seen = {c[0]["content"] for c in items}
    questions = chat_tasks.held_out(args.held_out, seen, seed=args.seed + 1, tasks=tasks)
    report = {"benchmark": "chat_quality", "settings": vars(args)}
    with tempfile.TemporaryDirectory(prefix="textgen-chat-quality-") as tmp:
        data = chat_tasks.write_jsonl(Path(tmp) / "tasks.jsonl", items)
        for train_on in args.settings.split(","):
            out = Path(tmp) / train_on
            results, seconds = trained(data, out, args, train_on)
            report[train_on] = {
                **accuracy(out / "model", questions),
                "test_loss": results.test_loss,
                "base_test_loss": results.base_test_loss,
                "test_tokens_scored": results.test_tokens_scored,
                "steps": results.steps,
                "train_seconds": round(seconds, 1),
            }
    emit(report, load)


if __name__ == "__main__":
    main()
