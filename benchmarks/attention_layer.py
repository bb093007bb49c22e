"""One layer's causal attention in a bf16 training step, three ways, per family shape.

    python benchmarks/attention_layer.py [--lengths 128,200,256,512] [--batch 8]
        [--repeats 20]

For each family of textgen_core.families.ARCHITECTURES except GPT-2 (its attention
dropout keeps it on sdpa), the forward and backward of one layer's attention on
random queries, keys and values of the family's heads, key-value heads and head
width, under bf16 autocast, as a training step runs it:

- sdpa: transformers' `sdpa` attention (PyTorch's CPU flash attention), what a
  stock run takes;
- eager: transformers' `eager` attention on a causal mask (a float32 softmax whose
  float32 result is kept beside the bf16 probabilities);
- textgen: kernels/short_attention.py's materialized attention (bf16
  probabilities kept alone), what a bf16 textgen run takes for rows of at most
  `MAX_TOKENS` tokens.

The three run in turn within each repeat, so machine load hits them alike.
Reported per family and length: the median milliseconds of each, and the bytes
each keeps for its backward pass. Prints one JSON line; a table goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import emit  # noqa: E402


def _sides():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.models.llama.modeling_llama import eager_attention_forward

    from textgen_core.kernels.short_attention import _materialized, causal_mask

    def sdpa(module, q, k, v):
        return sdpa_attention_forward(module, q, k, v, None, scaling=q.shape[-1] ** -0.5)[0]

    def eager(module, q, k, v):
        mask = causal_mask(q.shape[2])
        return eager_attention_forward(module, q, k, v, mask, q.shape[-1] ** -0.5)[0]

    def textgen(module, q, k, v):
        return _materialized(module, q, k, v, q.shape[-1] ** -0.5)

    return {"sdpa": sdpa, "eager": eager, "textgen": textgen}


def _step(attend, module, q, k, v, grad) -> tuple[float, int]:
    """(seconds, bytes kept for backward) of one forward and backward."""
    import torch

    kept = {}

    def pack(tensor):
        kept[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    start = time.perf_counter()
    with (
        torch.autocast("cpu", dtype=torch.bfloat16),
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
    ):
        out = attend(module, q, k, v)
    out.float().backward(grad)
    seconds = time.perf_counter() - start
    for t in (q, k, v):
        t.grad = None
    return seconds, sum(kept.values())


def measure(config: dict, length: int, batch: int, repeats: int) -> dict:
    import torch

    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    width = config.get("head_dim") or config["hidden_size"] // heads
    module = types.SimpleNamespace(num_key_value_groups=heads // kv_heads, is_causal=True)
    module.training = True
    torch.manual_seed(0)
    q = torch.randn(batch, heads, length, width, requires_grad=True)
    k, v = (torch.randn(batch, kv_heads, length, width, requires_grad=True) for _ in "kv")
    grad = torch.randn(batch, length, heads, width)
    sides = _sides()
    times = {name: [] for name in sides}
    kept = {}
    for _ in range(repeats + 1):  # the first round warms up
        for name, attend in sides.items():
            seconds, kept[name] = _step(attend, module, q, k, v, grad)
            times[name].append(seconds)
    return {
        "heads": [heads, kv_heads, width],
        **{f"{n}_ms": round(1000 * statistics.median(t[1:]), 2) for n, t in times.items()},
        **{f"{n}_kept_mb": round(b / 2**20, 1) for n, b in kept.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="128,200,256,512")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    from textgen_core.families import ARCHITECTURES
    from textgen_core.kernels.short_attention import MAX_TOKENS

    results = {}
    for name, arch in ARCHITECTURES.items():
        if arch.model_type == "gpt2":
            continue
        for length in map(int, args.lengths.split(",")):
            row = measure(arch.config, length, args.batch, args.repeats)
            results.setdefault(name, {})[str(length)] = row
            print(
                f"{name} {length} tokens: sdpa {row['sdpa_ms']} ms, eager {row['eager_ms']} ms, "
                f"textgen {row['textgen_ms']} ms; kept {row['sdpa_kept_mb']} / "
                f"{row['eager_kept_mb']} / {row['textgen_kept_mb']} MB",
                file=sys.stderr,
                flush=True,
            )
    report = {"benchmark": "attention_layer", "batch": args.batch, "repeats": args.repeats}
    emit({**report, "max_tokens_materialized": MAX_TOKENS, "families": results}, load_before)


if __name__ == "__main__":
    main()
