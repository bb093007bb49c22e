"""Each model family at its published size, textgen against the stock Trainer.

    python benchmarks/families.py [--families smollm2-135m,qwen3-0.6b,gemma3-270m]
        [--precisions fp32,bf16] [--modes full,lora] [--steps 6] [--skip 2]
        [--batch 8] [--seq 200] [--one-at-a-time] [--activation-checkpointing]

For every family (textgen_core.families.ARCHITECTURES: SmolLM2-135M's Llama
architecture, Qwen3-0.6B, Gemma-3-270M by default, Qwen2.5-0.5B's `qwen2` on request:
`--families qwen2.5-0.5b`; random weights, seeded), precision and
mode (full fine-tuning, LoRA on the family's default targets), two sides train
the same model on the same random token ids, each in its own worker process (so
its peak memory is its own), taking their steps in lock-step so that machine
load hits both alike:

- stock: `transformers.Trainer` (bf16: its own `bf16=True` autocast), LoRA
  through plain PEFT on the same target modules;
- textgen: what `textgen train` runs: the model loaded and prepared as textgen
  loads it, `TextgenTrainer` (fused LM-head loss, matmuls on oneDNN where
  `cpu_matmul.onednn_preferred`), reused freed memory, textgen's LoRA (its
  dropout's masks drawn in bulk, kernels/lora_dropout.py), frozen weights
  stored in bf16, LoRA inputs left in bf16 and short rows' attention
  materialized in a bf16 run (kernels/frozen_bf16.py, kernels/short_attention.py).

Reported per family and side: median s/step (first `--skip` steps excluded),
peak RSS of the training, the share of this CPU's limit (matmul FLOPs of a step
/ the best measured GEMM rate of the precision), textgen's own estimate of a
step (the calibration `textgen train` prints its estimate from) against the
measured step, and where the time goes: the LM head and its loss timed alone
(fused, forward + backward) as a share of textgen's step, since a family's
vocabulary (Gemma 3's 262k rows) can make the head most of the step.
Prints one JSON line; human-readable lines go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
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
from benchmarks.limits import gemm_rates, limit_report, print_limit  # noqa: E402

DEFAULT_FAMILIES = "smollm2-135m,qwen3-0.6b,gemma3-270m"
SIDES = ("stock", "textgen")


def build_model(arch_name: str, seed: int):
    """The published architecture with random weights rounded to bf16 numbers, as
    every published checkpoint of these families ships them, in float32 (master
    weights) on both sides, as textgen loads them; textgen's side then prepares it
    for its tokenizer as `textgen train` would (no resize: the published
    vocabularies already fit)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging

    from textgen_core.families import ARCHITECTURES

    logging.set_verbosity_error()
    arch = ARCHITECTURES[arch_name]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(arch.model_type, **arch.config))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.to(torch.bfloat16))
    return model


def with_lora(model, side: str):
    """LoRA on the family's default targets: textgen's (apply_lora, with its
    dropout's masks drawn in bulk, as `textgen train` prepares it), or plain PEFT
    on the same modules for the stock side."""
    from textgen_core.config import LoraConfig
    from textgen_core.kernels.lora_dropout import fast_lora_dropout
    from textgen_core.model.loading import apply_lora, lora_targets

    if side == "textgen":
        return fast_lora_dropout(apply_lora(model, LoraConfig()))
    import peft

    settings = LoraConfig()
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=lora_targets(model, None),
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, config)


def decoder_train_flops(model, batch: int, seq: int, lora: bool) -> float:
    """Matmul FLOPs of one training step of a decoder: per token 2 x (the
    blocks' linear weights + the head's vocab x width) per pass, plus attention
    scores and values (4 x layers x seq x heads x head width, full, not causal).
    Forward + backward is 3 passes; a frozen weight (LoRA's base, its head)
    needs no weight gradient: 2 passes."""
    import torch

    config = model.config
    head = model.get_output_embeddings().weight
    blocks = sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name and m.weight is not head
    )
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    passes = 2 if lora else 3
    per_token = passes * 2 * (blocks + head.numel())
    per_token += 3 * 4 * config.num_hidden_layers * seq * heads * head_dim
    return per_token * batch * seq


def time_head(model, batch: int, seq: int, precision: str) -> float:
    """Seconds of the fused LM head + cross-entropy alone, forward and backward,
    on one step's rows (best of two)."""
    import torch

    from textgen_core.kernels.linear_cross_entropy import fused_linear_cross_entropy
    from textgen_core.kernels.lm_loss import chunk_rows_for
    from textgen_core.precision import autocast

    weight = model.get_output_embeddings().weight
    rows = batch * (seq - 1)
    hidden = torch.randn(rows, weight.shape[1], requires_grad=True)
    targets = torch.randint(0, weight.shape[0], (rows,))
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        with autocast(precision, torch.device("cpu")):
            loss = fused_linear_cross_entropy(
                hidden, weight, targets, chunk_rows=chunk_rows_for(weight.shape[0])
            )
        loss.backward()
        best = min(best, time.perf_counter() - start)
        hidden.grad = weight.grad = None
    return best


def run_worker(
    name: str, data_path: str, seed: int, steps: int, fds: str, checkpointing: bool
) -> None:
    arch, precision, mode, side, batch = name.split(":")
    batch = int(batch)
    if side == "textgen":
        from textgen_core.kernels.memory import reuse_freed_memory

        reuse_freed_memory()
    import torch
    import transformers

    cmd, out = worker_channel(fds)
    chunks = torch.load(data_path)
    seq = chunks.shape[1]
    model = build_model(arch, seed)
    if checkpointing:  # both sides alike, before LoRA (textgen's --activation-checkpointing)
        model.activation_checkpointing_enable()
    if mode == "lora":
        torch.manual_seed(seed)
        model = with_lora(model, side)
    rows = [{"input_ids": c, "attention_mask": torch.ones_like(c), "labels": c} for c in chunks]
    args = bench_training_args(steps, seed, "textgen-families-", bf16=precision == "bf16")
    args.per_device_train_batch_size = batch
    # Built: wait for the parent's go, so that textgen's calibration runs while the
    # other side waits: timed beside the other side's model build and first step, it
    # measured Gemma 3's LoRA step 60-73% too slow; alone, within 15%.
    cmd.readline()
    estimate_s, calibration_s = None, []
    if side == "textgen":
        from textgen_core.kernels.memory import release_freed_memory
        from textgen_core.train import estimate

        first = {k: torch.stack([r[k] for r in rows[:batch]]) for k in rows[0]}
        calibration_s = estimate.calibration_step_times(model, first, args, precision)
        estimate_s = estimate.calibrated_step(calibration_s)
        release_freed_memory()  # as `textgen train` does after its calibration
    out.write(json.dumps({"ready": True}) + "\n")
    trainer_class = transformers.Trainer
    if side == "textgen":
        from textgen_core.train.trainer import TextgenTrainer as trainer_class
    lockstep = lockstep_callback(cmd, out)
    trainer = trainer_class(model=model, args=args, train_dataset=rows, callbacks=[lockstep])
    reset_peak_rss()
    from textgen_core.kernels.frozen_bf16 import bf16_steps

    with bf16_steps(model, precision if side == "textgen" else "fp32"):
        trainer.train()
    result = {
        "done": True,
        "times": lockstep.times,
        "losses": lockstep.losses,
        "train_peak_rss_mb": round(peak_rss_mb()),
        "estimate_s_per_step": estimate_s,
        "calibration_step_s": [round(t, 3) for t in calibration_s],
        "loss_paths": sorted(getattr(trainer, "loss_paths", [])) or ["stock"],
    }
    if side == "textgen":
        base = model.get_base_model() if mode == "lora" else model
        result["flops_per_step"] = decoder_train_flops(base, batch, seq, mode == "lora")
        result["parameters"] = sum(p.numel() for p in base.parameters())
        result["head_s"] = time_head(base, batch, seq, precision)
    out.write(json.dumps(result) + "\n")


def measure(arch: str, precision: str, mode: str, opts, data_path: str) -> dict:
    """Both sides of one (family, precision, mode), in lock-step."""
    total = opts.skip + opts.steps
    extra = ["--data", data_path, "--seed", str(opts.seed), "--total-steps", str(total)]
    if opts.activation_checkpointing:
        extra.append("--activation-checkpointing")

    def worker(side: str) -> Worker:
        return Worker(__file__, f"{arch}:{precision}:{mode}:{side}:{opts.batch}", extra)

    # One unit of work before the steps: textgen's calibration (the stock side's is empty).
    if opts.one_at_a_time:  # each side alone in memory: all its steps, then the next side
        results = {}
        for side in SIDES:
            alone = worker(side)
            for _ in range(1 + total):
                alone.step()
            results[side] = alone.finish()
    else:
        workers = [worker(side) for side in SIDES]
        for _ in range(1 + total):
            for w in workers:
                w.step()
        results = dict(zip(SIDES, (w.finish() for w in workers), strict=True))
    medians = {s: statistics.median(r["times"][opts.skip :]) for s, r in results.items()}
    mine = results["textgen"]
    rates = opts.rates
    limit = limit_report(
        mine["flops_per_step"], rates, {s: (precision, m) for s, m in medians.items()}
    )
    entry = {
        side: {
            "median_s_per_step": round(medians[side], 3),
            "step_s": [round(t, 3) for t in results[side]["times"]],
            "train_peak_rss_mb": results[side]["train_peak_rss_mb"],
            "losses": results[side]["losses"],
            "loss": results[side]["loss_paths"],
            **(
                {"fraction_of_limit": limit["sides"][side]["fraction_of_limit"]}
                if side in limit["sides"]
                else {}
            ),
        }
        for side in SIDES
    }
    entry["speedup_vs_stock"] = round(medians["stock"] / medians["textgen"], 3)
    entry["limit_s_per_step"] = limit["limit_s_per_step"].get(precision)
    entry["estimate_s_per_step"] = round(mine["estimate_s_per_step"], 3)
    entry["estimate_error"] = round(mine["estimate_s_per_step"] / medians["textgen"] - 1, 3)
    entry["calibration_step_s"] = mine["calibration_step_s"]
    entry["lm_head_s"] = round(mine["head_s"], 3)
    entry["lm_head_share_of_step"] = round(mine["head_s"] / medians["textgen"], 3)
    entry["parameters"] = mine["parameters"]
    print(
        f"{arch} {precision} {mode}: stock {medians['stock']:.2f} s/step, textgen "
        f"{medians['textgen']:.2f} s/step ({entry['speedup_vs_stock']}x), estimate "
        f"{entry['estimate_s_per_step']} s, LM head {entry['lm_head_share_of_step']:.0%} of the step",
        file=sys.stderr,
    )
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=DEFAULT_FAMILIES)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--modes", default="full,lora")
    parser.add_argument("--steps", type=int, default=6, help="timed steps")
    parser.add_argument("--skip", type=int, default=2, help="warm-up steps, not timed")
    parser.add_argument("--batch", type=int, default=8, help="rows per step")
    parser.add_argument("--seq", type=int, default=200, help="tokens per row")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="run the sides one after the other, not in lock-step, when both do not fit in "
        "memory at once (Qwen3-0.6B in fp32 on 24 GB); then the machine must stay quiet",
    )
    parser.add_argument(
        "--activation-checkpointing",
        action="store_true",
        help="both sides recompute activations in the backward pass (less memory, slower)",
    )
    add_worker_flags(parser)
    opts = parser.parse_args()
    if opts.worker:
        run_worker(
            opts.worker,
            opts.data,
            opts.seed,
            opts.total_steps,
            opts.fds,
            opts.activation_checkpointing,
        )
        return
    import tempfile

    import torch

    from textgen_core.families import ARCHITECTURES
    from textgen_core.precision import cpu_bf16_native

    families = opts.families.split(",")
    unknown = set(families) - set(ARCHITECTURES)
    if unknown:
        parser.error(f"--families: {sorted(unknown)} unknown; choose from {sorted(ARCHITECTURES)}")
    precisions = [p for p in opts.precisions.split(",") if p != "bf16" or cpu_bf16_native()]
    opts.rates = gemm_rates()
    load_before = os.getloadavg()[0]
    report: dict = {
        "benchmark": "families",
        "batch": [opts.batch, opts.seq],
        "steps_timed": opts.steps,
        "warmup_steps_excluded": opts.skip,
        "sides_at_once": 1 if opts.one_at_a_time else 2,
        "activation_checkpointing": opts.activation_checkpointing,
        "precisions": precisions,
        "families": {},
    }
    generator = torch.Generator().manual_seed(opts.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for arch in families:
            vocab = ARCHITECTURES[arch].config["vocab_size"]
            rows = (opts.skip + opts.steps) * opts.batch
            data_path = os.path.join(tmp, f"{arch}.pt")
            torch.save(torch.randint(0, vocab, (rows, opts.seq), generator=generator), data_path)
            report["families"][arch] = {
                "model_type": ARCHITECTURES[arch].model_type,
                "published_as": ARCHITECTURES[arch].published_as,
                **{
                    f"{p}-{m}": measure(arch, p, m, opts, data_path)
                    for p in precisions
                    for m in opts.modes.split(",")
                },
            }
    report["gemm_gflops"] = opts.rates
    print_limit({"gemm_gflops": opts.rates, "sides": {}})
    emit(report, load_before)


if __name__ == "__main__":
    main()
