"""This machine's limits, measured now, and each benchmark side's fraction of
them: GEMM rates (fp32 through MKL and oneDNN, bf16 where the CPU has it) for
runs bound by matrix products, and the memory read rate for decoding, where
every generated token reads every weight once.

Speed claims are stated as a fraction of these limits, so that they hold on
the CPU that reads them rather than on the one that measured them."""

from __future__ import annotations

import sys
import time

GEMM_SHAPE = (1600, 768, 3072)
"""(m, k, n) of the rate measurement: one 8 x 200 batch through GPT-2's MLP."""

WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "f16": 2, "int8": 1, "q8_0": 34 / 32}
"""Bytes a decoding step reads per weight (q8_0: blocks of 32 int8 + an f16 scale)."""


def _best_seconds(fn, *args, seconds: float = 0.6) -> float:
    fn(*args)  # warm-up: first call packs, allocates, JIT-selects kernels
    best, spent = float("inf"), 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        fn(*args)
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return best


def gemm_rates(shape=GEMM_SHAPE) -> dict:
    """Best-of GFLOP/s of one GEMM of `shape` on this machine, now: fp32 through
    MKL (`a @ b`) and oneDNN (textgen's routing), and bf16 (PyTorch's oneDNN
    bf16 path) where the CPU has native bf16. Best-of, as the question is what
    the hardware can do, not what a noisy neighbour left over."""
    import torch

    from textgen_core.kernels.cpu_matmul import onednn_matmul_available, onednn_mm
    from textgen_core.precision import cpu_bf16_native

    m, k, n = shape
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    flops = 2 * m * k * n
    rates = {"shape": list(shape), "fp32_mkl": flops / _best_seconds(torch.mm, a, b) / 1e9}
    if onednn_matmul_available():
        rates["fp32_onednn"] = flops / _best_seconds(onednn_mm, a, b) / 1e9
    if cpu_bf16_native():
        rates["bf16"] = flops / _best_seconds(torch.mm, a.bfloat16(), b.bfloat16()) / 1e9
    rates["fp32"] = max(v for key, v in rates.items() if key.startswith("fp32_"))
    return {key: round(v, 1) if isinstance(v, float) else v for key, v in rates.items()}


def memory_read_gbps(megabytes: int = 512) -> float:
    """Best-of GB/s of summing a `megabytes` fp32 tensor allocated by PyTorch
    (as model weights are): how fast this machine streams weights, now."""
    import torch

    x = torch.ones(megabytes * 2**20 // 4)
    return round(x.numel() * 4 / _best_seconds(torch.sum, x) / 1e9, 1)


def gpt2_train_flops(
    n_layer: int,
    n_embd: int,
    vocab: int,
    batch: int,
    seq: int,
    passes: int = 3,
    *,
    frozen_blocks: bool = False,
    frozen_head: bool = False,
) -> float:
    """Matmul FLOPs of one GPT-2 training step (forward + backward = 3x forward;
    `passes=1` for evaluation): per token 2 x (12 L d^2 + V d) for the weights
    plus 4 L s d for attention scores and values (full, not the causal half
    PyTorch also computes). A frozen weight's product needs no weight gradient
    in the backward pass: 2 passes, not 3 (LoRA freezes the blocks' weights,
    --freeze-embeddings a tied head)."""
    block_passes = min(passes, 2) if frozen_blocks else passes
    head_passes = min(passes, 2) if frozen_head else passes
    per_token = (
        block_passes * 2 * 12 * n_layer * n_embd**2
        + head_passes * 2 * vocab * n_embd
        + passes * 4 * n_layer * seq * n_embd
    )
    return per_token * batch * seq


def limit_report(flops_per_step: float, rates: dict, seconds_per_step: dict) -> dict:
    """The run's limit on this CPU (FLOPs per step / best GEMM rate of each
    precision) and each side's fraction of the limit of its own precision:
    `seconds_per_step` maps side name -> (precision, s/step), or -> (precision,
    s/step, FLOPs per step) for a side that does less work per step."""
    limits = {p: flops_per_step / (rates[p] * 1e9) for p in ("fp32", "bf16") if p in rates}
    sides = {}
    for name, (p, s, *own_flops) in seconds_per_step.items():
        if p in rates:
            limit = (own_flops[0] if own_flops else flops_per_step) / (rates[p] * 1e9)
            sides[name] = {
                "precision": p,
                "limit_s_per_step": round(limit, 3),
                "fraction_of_limit": round(limit / s, 3),
            }
    return {
        "gemm_gflops": rates,
        "flops_per_step_g": round(flops_per_step / 1e9, 1),
        "limit_s_per_step": {p: round(v, 3) for p, v in limits.items()},
        "sides": sides,
    }


def decode_limit_report(parameters: int, rates: dict, read_gbps: float, sides: dict) -> dict:
    """The decoding limit of each side and its fraction of it: `sides` maps
    name -> (weights' precision, rows decoded together, tokens/s). Each step
    reads every weight once (memory: rows x read rate / weight bytes) and
    does 2 FLOPs per weight per row (compute: GEMM rate / 2 x parameters,
    counted for fp32 and bf16 only, the rates this measures)."""
    report = {"gemm_gflops": rates, "memory_read_gbps": read_gbps, "parameters": parameters}
    report["sides"] = {}
    for name, (precision, rows, tokens_per_s) in sides.items():
        memory = rows * read_gbps * 1e9 / (parameters * WEIGHT_BYTES[precision])
        compute = rates[precision] * 1e9 / (2 * parameters) if precision in rates else None
        limit, bound = (compute, "compute") if compute and compute < memory else (memory, "memory")
        report["sides"][name] = {
            "precision": precision,
            "rows": rows,
            "limit_tokens_per_s": round(limit, 1),
            "bound": bound,
            "fraction_of_limit": round(tokens_per_s / limit, 3),
        }
    return report


def _print_rates(report: dict) -> None:
    r = report["gemm_gflops"]
    rates = ", ".join(f"{k} {v} GFLOP/s" for k, v in r.items() if k != "shape")
    print(f"GEMM {r['shape']}: {rates}", file=sys.stderr)
    if "memory_read_gbps" in report:
        print(f"memory read: {report['memory_read_gbps']} GB/s", file=sys.stderr)


def print_limit(report: dict) -> None:
    """The limit lines a person reads (stderr; the JSON line stays on stdout)."""
    _print_rates(report)
    for p, s in report.get("limit_s_per_step", {}).items():
        print(
            f"limit ({p}): {report['flops_per_step_g']} GFLOP/step -> {s} s/step", file=sys.stderr
        )
    for name, side in report["sides"].items():
        limit = (
            f"{side['limit_tokens_per_s']} tokens/s, {side['bound']}-bound"
            if "limit_tokens_per_s" in side
            else f"{side['limit_s_per_step']} s/step"
        )
        print(
            f"{name}: {side['fraction_of_limit']:.0%} of this CPU's {side['precision']} "
            f"limit ({limit})",
            file=sys.stderr,
        )


def decode_limit(model, sides: dict) -> dict:
    """Measure this machine's rates now and return (and print) the decoding
    limit of each side of `sides` (see decode_limit_report) for `model`."""
    parameters = sum(p.numel() for p in model.parameters())
    report = decode_limit_report(parameters, gemm_rates(), memory_read_gbps(), sides)
    print_limit(report)
    return report
