"""Training throughput: a plain Hugging Face Trainer (as in run_clm.py) against
textgen's configuration, on the distilgpt2 architecture, fp32, batch 8 x 200.

    python benchmarks/train_throughput.py [--steps 12] [--skip 2]

Both sides start from the same random initialisation (seeded), see the same
chunks of the bundled Shakespeare corpus in the same order and draw the same
dropout masks. Each side runs in its own worker process (so its peak memory is
its own), and the workers take their steps in lock-step, one after the other,
so that a change in machine load hits both alike. Prints one JSON line.

Extra variants isolate single optimisations, e.g.
`--variants baseline,textgen,fused-loss-only,onednn-only,textgen-onednn,textgen-unpadded`;
`--variants baseline,textgen,baseline-bf16,textgen-bf16` compares precisions
(bf16 sides autocast; weights and optimizer state stay fp32). Every run also
measures this CPU's GEMM rates and prints the limit they imply for a step
(FLOPs per step / best GEMM rate of the precision) and each side's fraction.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    PAD_TOKEN,
    Worker,
    add_worker_flags,
    bench_training_args,
    build_model,
    corpus_chunks,
    emit,
    gpt2_tokenizer,
    lockstep_callback,
    peak_rss_mb,
    reset_peak_rss,
    worker_channel,
)
from benchmarks.limits import (  # noqa: E402
    gemm_rates,
    gpt2_train_flops,
    limit_report,
    print_limit,
)

VARIANTS = {
    "baseline": "stock Trainer, vocab 50258",
    "textgen": "fused chunked loss + matmuls on this CPU's library + reused memory, vocab 50304",
    "textgen-unpadded": "fused chunked loss + this CPU's matmuls + reused memory, vocab 50258",
    "textgen-onednn": "textgen with its matmuls on oneDNN on every CPU (TEXTGEN_CPU_MATMUL=onednn)",
    "fused-loss-only": "fused chunked loss, MKL matmuls, vocab 50304",
    "onednn-only": "stock loss + oneDNN matmuls, vocab 50304",
    "baseline-bf16": "stock Trainer with bf16=True (autocast), vocab 50258",
    "textgen-bf16": "textgen as `--precision bf16` runs it: the above under bf16 autocast",
}


# ---------------------------------------------------------------------------
# Worker: one Trainer, stepping when told to
# ---------------------------------------------------------------------------


def textgen_trainer_class():
    """The Trainer subclass `textgen train` uses."""
    from textgen_core.train.trainer import TextgenTrainer

    return TextgenTrainer


def onednn_only_trainer_class():
    import transformers

    from textgen_core.kernels.cpu_matmul import fast_cpu_matmuls

    class OneDnnTrainer(transformers.Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            with fast_cpu_matmuls():
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    return OneDnnTrainer


def run_worker(variant: str, data_path: str, seed: int, steps: int, fds: str) -> None:
    if variant == "fused-loss-only":
        os.environ["TEXTGEN_CPU_MATMUL"] = "default"
    if variant in ("onednn-only", "textgen-onednn"):
        os.environ["TEXTGEN_CPU_MATMUL"] = "onednn"
    if variant.startswith("textgen"):
        from textgen_core.kernels.memory import reuse_freed_memory

        reuse_freed_memory()
    import torch
    import transformers

    cmd, out = worker_channel(fds)
    chunks = torch.load(data_path)
    model = build_model(seed)
    if variant in ("textgen", "textgen-bf16", "textgen-onednn", "fused-loss-only", "onednn-only"):
        model.resize_token_embeddings(model.config.vocab_size, pad_to_multiple_of=64)
    checksum = float(model.transformer.wte.weight[:50258].double().sum())
    dataset = [
        {"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c.clone()} for c in chunks
    ]
    trainer_class = {
        "baseline": transformers.Trainer,
        "baseline-bf16": transformers.Trainer,
        "onednn-only": onednn_only_trainer_class(),
    }.get(variant) or textgen_trainer_class()

    args = bench_training_args(steps, seed, "textgen-bench-", bf16=variant.endswith("-bf16"))
    lockstep = lockstep_callback(cmd, out)
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, callbacks=[lockstep])
    rss_before = peak_rss_mb()
    reset_peak_rss()
    trainer.train()
    out.write(
        json.dumps(
            {
                "done": True,
                "losses": lockstep.losses,
                "times": lockstep.times,
                "vocab_rows": model.get_output_embeddings().weight.shape[0],
                "init_checksum": checksum,
                "train_peak_rss_mb": peak_rss_mb(),
                "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_before_train_mb": rss_before,
                "threads": torch.get_num_threads(),
            }
        )
        + "\n"
    )


# ---------------------------------------------------------------------------
# Parent: prepare data, drive the workers in lock-step, report
# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps")
    parser.add_argument("--skip", type=int, default=2, help="warm-up steps, not timed")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", default="baseline,textgen")
    add_worker_flags(parser)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(opts.worker, opts.data, opts.seed, opts.total_steps, opts.fds)
        return

    variants = opts.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or variants[0] != "baseline":
        parser.error(f"variants must start with baseline and be among {sorted(VARIANTS)}")
    import torch

    total = opts.skip + opts.steps
    tokenizer = gpt2_tokenizer()
    assert tokenizer.pad_token == PAD_TOKEN
    chunks = corpus_chunks(tokenizer, n_chunks=total * 8, chunk_size=200)
    with tempfile.TemporaryDirectory() as tmp:
        data_path = os.path.join(tmp, "chunks.pt")
        torch.save(chunks, data_path)
        load_before = os.getloadavg()[0]
        workers = [
            Worker(
                __file__,
                v,
                ["--data", data_path, "--seed", str(opts.seed)] + ["--total-steps", str(total)],
            )
            for v in variants
        ]
        for _ in range(total):
            for worker in workers:
                worker.step()
        results = {w.name: w.finish() for w in workers}
    report: dict = {"benchmark": "train_throughput", "batch": [8, 200], "dtype": "float32"}
    if any(v.endswith("-bf16") for v in variants):
        report["dtype"] = "float32 weights; -bf16 sides autocast to bfloat16"
    report["steps_timed"] = opts.steps
    report["warmup_steps_excluded"] = opts.skip
    base = results["baseline"]
    base_s = statistics.median(base["times"][opts.skip :])
    for variant, res in results.items():
        step_s = statistics.median(res["times"][opts.skip :])
        entry = {
            "what": VARIANTS[variant],
            "median_s_per_step": round(step_s, 3),
            "tokens_per_s": round(8 * 200 / step_s, 1),
            "step_s": [round(t, 3) for t in res["times"]],
            "losses": res["losses"],
            "train_peak_rss_mb": round(res["train_peak_rss_mb"]),
            "process_peak_rss_mb": round(res["process_peak_rss_mb"]),
            "vocab_rows": res["vocab_rows"],
        }
        if variant != "baseline":
            entry["speedup_vs_baseline"] = round(base_s / step_s, 3)
            rel = [abs(a - b) / abs(b) for a, b in zip(res["losses"], base["losses"], strict=True)]
            entry["max_rel_loss_diff"] = max(rel)
            entry["same_init"] = abs(res["init_checksum"] - base["init_checksum"]) < 1e-6
        report[variant] = entry
    if "textgen" in results:
        report["ratio"] = report["textgen"]["speedup_vs_baseline"]
        report["max_rel_loss_diff"] = report["textgen"]["max_rel_loss_diff"]
        report["peak_rss_mb"] = {
            "baseline": report["baseline"]["train_peak_rss_mb"],
            "textgen": report["textgen"]["train_peak_rss_mb"],
        }
    medians = {v: statistics.median(results[v]["times"][opts.skip :]) for v in results}
    if "textgen-bf16" in medians:
        bf16_s = medians["textgen-bf16"]
        report["bf16_ratios"] = {
            f"textgen-bf16 vs {other}": round(medians[other] / bf16_s, 3)
            for other in ("textgen", "baseline-bf16", "baseline")
            if other in medians
        }
    report["limit"] = cpu_limit(medians)
    print_limit(report["limit"])
    emit(report, load_before)


def cpu_limit(medians: dict) -> dict:
    """This CPU's limit for the run (measured GEMM rates) and each side's
    fraction of the limit of its own precision."""
    flops = gpt2_train_flops(n_layer=6, n_embd=768, vocab=50304, batch=8, seq=200)
    sides = {v: ("bf16" if v.endswith("-bf16") else "fp32", s) for v, s in medians.items()}
    return limit_report(flops, gemm_rates(), sides)


if __name__ == "__main__":
    main()
