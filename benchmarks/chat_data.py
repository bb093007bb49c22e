"""Prompt/answer data: preparing it, and training on its answers, textgen's way
against trl's SFTTrainer on the same conversations, model and CPU.

    python benchmarks/chat_data.py [--examples 4000] [--steps 12] [--skip 2] [--batch-size 8]

The data is the generated instruction set of tests/support/chat_tasks.py with
every fourth conversation made three turns long (so both sides mask several
answers in one row). Both sides train the distilgpt2 architecture from the
same seeded random weights, GPT-2's tokenizer with textgen's minimal ChatML
template, on the answers only, fp32, batch `--batch-size`, on the same
training conversations in the same order (textgen's split holds out
validation and test conversations; trl gets the training ones). trl's side
is a stock `SFTTrainer` with `assistant_only_loss=True`; trl needs
`{% generation %}` markers for that, so it gets the same ChatML template with
the markers around each answer and its `<|im_end|>` (the tokens it trains
are checked to be the ones textgen trains).

Each side runs in its own worker process and they take their steps in
lock-step, one after the other, so load hits both alike. Measured per side:
preparation (reading the file, rendering, tokenizing, masking: textgen's
`load_corpus` + `make_splits`, trl's `SFTTrainer` dataset preparation) in
examples/s; padding waste (the share of the positions in the trained batches
that are padding); trained tokens/s (answer tokens of the timed steps over
their seconds, the first `--skip` steps left out). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support import chat_tasks  # noqa: E402

from benchmarks.common import (  # noqa: E402
    Worker,
    add_worker_flags,
    build_model,
    emit,
    lockstep_callback,
    peak_rss_mb,
    worker_channel,
)

SIDES = ("textgen", "trl")
# textgen's minimal template with trl's `{% generation %}` markers around each answer.
TRL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def conversations(n: int) -> list[list[dict]]:
    """The task conversations, every fourth one three answers long."""
    items = chat_tasks.conversations(n + n // 2)
    out, extra = [], iter(items[n:])
    for i, item in enumerate(items[:n]):
        if i % 4 == 3:
            for more in (next(extra, None), next(extra, None)):
                item = item + more if more else item
        out.append(item)
    return out


def tokenizer():
    from textgen_core.chat_template import ensure_chat_template
    from textgen_core.model.loading import load_tokenizer

    tok = load_tokenizer("scratch:tiny")  # GPT-2's tokenizer + [PAD], offline
    ensure_chat_template(tok)
    return tok


def counting(trainer_class):
    """`trainer_class` counting the positions, pad positions and trained
    (label) tokens of every batch it trains on."""

    class Counting(trainer_class):
        counts = {"positions": 0, "padding": 0, "trained": 0, "steps": []}

        def compute_loss(self, model, inputs, *args, **kwargs):
            if model.training:
                mask, labels = inputs["attention_mask"], inputs["labels"]
                trained = int((labels[:, 1:] != -100).sum())
                self.counts["positions"] += mask.numel()
                self.counts["padding"] += int((mask == 0).sum())
                self.counts["trained"] += trained
                self.counts["steps"].append(trained)
            return super().compute_loss(model, inputs, *args, **kwargs)

    return Counting


def textgen_side(path: Path, args, callback):
    from textgen_core.config import DataConfig
    from textgen_core.data.chat_formats import Columns
    from textgen_core.data.ingest import load_corpus
    from textgen_core.data.prepare import make_splits
    from textgen_core.model.loading import prepare_for_tokenizer
    from textgen_core.train.batches import collate_trimmed
    from textgen_core.train.trainer import TextgenTrainer

    tok = tokenizer()
    start = time.perf_counter()
    corpus = load_corpus([path], columns=Columns())
    splits = make_splits(corpus, tok, DataConfig(chunk_size=args.max_length), cache=None)
    prepare_s = time.perf_counter() - start
    model = build_model(args.seed)
    prepare_for_tokenizer(model, tok)  # textgen's recipe: vocabulary padded to 50304
    trainer = counting(TextgenTrainer)(
        model=model,
        args=training_args(args),
        train_dataset=splits.train,
        data_collator=collate_trimmed,
        callbacks=[callback],
    )
    return trainer, prepare_s, len(splits.train)


def training_conversations(items: list, args) -> list:
    """The conversations textgen's split trains on, in file order."""
    from textgen_core.config import DataConfig
    from textgen_core.data.chat_splits import conversation_split

    labels = conversation_split(len(items), DataConfig(chunk_size=args.max_length))
    return [c for c, k in zip(items, labels, strict=True) if k == 0]


def trl_side(path: Path, args, callback):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tok = tokenizer()
    tok.chat_template = TRL_TEMPLATE
    items = [json.loads(line)["messages"] for line in path.read_text().splitlines()]
    model = build_model(args.seed)
    model.resize_token_embeddings(len(tok))  # the plain way: 50260 rows
    start = time.perf_counter()
    data = Dataset.from_dict({"messages": training_conversations(items, args)})
    config = SFTConfig(
        **trainer_settings(args),
        assistant_only_loss=True,
        max_length=args.max_length,
        packing=False,
        gradient_checkpointing=False,  # SFTConfig's default is on; textgen does not checkpoint
    )
    trainer = counting(SFTTrainer)(
        model=model, args=config, train_dataset=data, processing_class=tok, callbacks=[callback]
    )
    return trainer, time.perf_counter() - start, len(trainer.train_dataset)


def trainer_settings(args) -> dict:
    """The Trainer settings both sides share (SFTConfig would otherwise turn on
    bf16 and gradient checkpointing, which textgen's side does not use)."""
    return dict(
        output_dir=tempfile.mkdtemp(prefix="bench-chat-"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_steps=max(1, args.steps // 10),
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        bf16=False,
    )


def training_args(args):
    from transformers import TrainingArguments

    return TrainingArguments(**trainer_settings(args))


def worker(args) -> None:
    cmd, out = worker_channel(args.fds)
    callback = lockstep_callback(cmd, out)
    side = textgen_side if args.worker == "textgen" else trl_side
    cmd.readline()  # preparation is timed in turn too, never both sides at once
    trainer, prepare_s, rows = side(Path(args.data), args, callback)
    out.write(json.dumps({"prepare_s": prepare_s}) + "\n")
    trainer.train()
    counts, times = trainer.counts, callback.times[args.skip :]
    timed = sum(counts["steps"][args.skip :])
    report = {
        "prepare_s": round(prepare_s, 3),
        "prepare_examples_per_s": round(args.examples / prepare_s, 1),
        "train_rows": rows,
        "padding_waste": round(counts["padding"] / counts["positions"], 4),
        "trained_tokens": counts["trained"],
        "trained_tokens_per_step": counts["steps"],
        "step_s_median": round(statistics.median(times), 4),
        "trained_tokens_per_s": round(timed / sum(times), 1),
        "losses": callback.losses,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    out.write(json.dumps(report) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=4000)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--skip", type=int, default=2, help="steps left out of the timing")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    add_worker_flags(p)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-chat-data-") as tmp:
        data = chat_tasks.write_jsonl(Path(tmp) / "chat.jsonl", conversations(args.examples))
        forwarded = sys.argv[1:]
        workers = [Worker(__file__, side, ["--data", str(data), *forwarded]) for side in SIDES]
        for _ in range(args.steps + 1):  # the preparation, then each step
            for w in workers:
                w.step()
        results = {w.name: w.finish() for w in workers}
    same = (
        results["textgen"]["trained_tokens_per_step"] == results["trl"]["trained_tokens_per_step"]
    )
    report = {
        "benchmark": "chat_data",
        "settings": {k: v for k, v in vars(args).items() if k not in ("worker", "data", "fds")},
        **results,
        "same_trained_tokens": same,
        "trained_tokens_per_s_ratio": round(
            results["textgen"]["trained_tokens_per_s"] / results["trl"]["trained_tokens_per_s"], 3
        ),
        "prepare_rate_ratio": round(
            results["textgen"]["prepare_examples_per_s"] / results["trl"]["prepare_examples_per_s"],
            3,
        ),
    }
    emit(report, load)


if __name__ == "__main__":
    main()
