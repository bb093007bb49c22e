"""The LM head and cross-entropy fused, over chunks of rows, without the full logits.

A GPT-2 training step on CPU spends a large share of its time in the LM head
and cross-entropy: the (tokens x vocab) logits tensor (1600 x 50304 floats,
~320 MB) is written, read by log_softmax, written again, and then its gradient
is built the same way in backward. Here the head and the loss are fused and run
over chunks of rows: each chunk's logits are turned into the loss *and* into
the gradients w.r.t. the hidden states and the head weight while they are still
hot in cache, so backward has nothing left to do but hand them out.

`fused_linear_cross_entropy(hidden, weight, targets, divisor)` is the whole
API; `lm_loss` applies it to causal language models. What it buys is measured
there (and in BENCHMARKS.md).
"""

from __future__ import annotations

from typing import Any

import torch

from textgen_core.kernels.cpu_matmul import onednn_mm, onednn_preferred
from textgen_core.precision import autocast_dtype

IGNORE_INDEX = -100

DEFAULT_CHUNK_ROWS = 1024
"""Most rows of logits alive at once; rows are split into equal chunks, so a
batch of 8 x 200 runs as two chunks of 796 rows (~160 MB of logits each, half
of the full logits). Measured on the project machine, the fused head's
forward + backward takes 1.47 / 1.35 / 1.26 / 1.19 s with chunks of
128 / 256 / 512 / 796 rows: bigger chunks keep the weight-gradient matmul
(whose inner dimension is the chunk) efficient."""


WEIGHT_GRAD_ROWS = DEFAULT_CHUNK_ROWS
"""Most rows whose bf16/fp16 logit gradients one product sums into the head's
weight gradient. Each such product makes a vocab x width matrix however few
rows it has, and adding it into the float32 gradient is a pass over vocab x
width floats: with a large vocabulary's small chunks (Gemma 3's 262,144: nine
chunks of 177 rows for 8 x 200 tokens) one product and pass per chunk made the
fused head slower than the stock one (BENCHMARKS.md). So the chunks' gradients,
kept in the low dtype (half the bytes of their float32 logits), are gathered
over up to this many rows first; GPT-2's chunks are this big already. float32
runs keep one product per chunk: their gradients, gathered, would take as many
bytes as the logits the chunks bound."""


def loss_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 at least, as transformers upcasts logits before the loss."""
    return torch.promote_types(dtype, torch.float32)


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b, on oneDNN for CPU float32 (see cpu_matmul)."""
    if a.device.type == "cpu" and a.dtype == b.dtype == torch.float32 and onednn_preferred():
        return onednn_mm(a, b)
    return torch.mm(a, b)


def chunk_log_probs(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """log_softmax(hidden @ weight.T), at least in float32, for one chunk of rows.
    Computed in place over the logits, which nothing else reads: one chunk of
    logits less alive at once (~200 MB), the same bits as a fresh output."""
    logits = _mm(hidden, weight.t())
    logits = logits.to(loss_dtype(logits.dtype))
    return torch.log_softmax(logits, dim=-1, out=logits)


def row_chunks(n: int, chunk_rows: int) -> list[slice]:
    """Equal slices of at most `chunk_rows` rows covering range(n)."""
    pieces = max(1, -(-n // chunk_rows))
    size = -(-n // pieces)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)] if n else []


def _loss_and_logit_grad(logp, targets, need_grad: bool, dtype, out=None):
    """(the chunk's summed cross-entropy, its gradient w.r.t. the logits in
    `dtype` (written into `out` where given), or None without `need_grad`). The
    gradient, softmax minus the targets' one-hot, is built in place over `logp`."""
    picked = logp.gather(1, targets[:, None])
    if not need_grad:
        return picked.sum().neg(), None
    probs = logp.exp_()
    probs.scatter_add_(1, targets[:, None], torch.full_like(picked, -1.0))
    return picked.sum().neg(), probs.to(dtype) if out is None else out.copy_(probs)


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i @ weight.T, target_i) * scale, with gradients computed
    in the same chunk loop as the loss (no second pass over the logits).
    With `compute_dtype` (bf16/fp16 under autocast) the products run in that
    dtype, as autocast would run the head, while the loss, the softmax and the
    accumulated weight gradient stay float32."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.Tensor,
        scale: torch.Tensor,
        chunk_rows: int,
        compute_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        if compute_dtype is not None:
            with torch.autocast(hidden.device.type, enabled=False):
                return _low_precision_forward(
                    ctx, hidden, weight, targets, scale, chunk_rows, compute_dtype
                )
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        n = hidden.shape[0]
        loss = torch.zeros((), dtype=loss_dtype(hidden.dtype), device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = None
        for rows in row_chunks(n, chunk_rows):
            h, t = hidden[rows], targets[rows]
            chunk_loss, probs = _loss_and_logit_grad(
                chunk_log_probs(h, weight), t, need_h or need_w, hidden.dtype
            )
            loss += chunk_loss
            if probs is None:
                continue
            if need_h:
                grad_h[rows] = _mm(probs, weight)
            if need_w:
                chunk_grad_w = _mm(probs.t(), h * scale.to(h.dtype))
                grad_w = chunk_grad_w if grad_w is None else grad_w.add_(chunk_grad_w)
        if need_h:
            grad_h.mul_(scale.to(grad_h.dtype))
        if need_w and grad_w is None:  # no rows at all
            grad_w = torch.zeros_like(weight)
        ctx.save_for_backward(*(g for g in (grad_h, grad_w) if g is not None))
        ctx.has = (need_h, need_w)
        return loss * scale

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        saved = list(ctx.saved_tensors)
        need_h, need_w = ctx.has
        grad_h = saved.pop(0) if need_h else None
        grad_w = saved.pop(0) if need_w else None
        # The loss is a scalar fed straight into backward, so grad_out is almost always 1.
        if grad_h is not None:
            grad_h = grad_h * grad_out.to(grad_h.dtype)
        if grad_w is not None:
            grad_w = grad_w * grad_out.to(grad_w.dtype)
        return grad_h, grad_w, None, None, None, None


def chunk_groups(chunks: list[slice], rows: int) -> list[list[slice]]:
    """Consecutive `chunks` gathered into groups of at most `rows` rows (a
    bigger chunk makes a group alone)."""
    groups: list[list[slice]] = []
    size = 0
    for chunk in chunks:
        if not groups or size + chunk.stop - chunk.start > rows:
            groups.append([])
            size = 0
        groups[-1].append(chunk)
        size += chunk.stop - chunk.start
    return groups


def _low_precision_forward(ctx, hidden, weight, targets, scale, chunk_rows, dtype):
    """The chunk loop of `_FusedLinearCrossEntropy` with bf16/fp16 products.
    The weight is cast once (not per chunk); the gradient products come out in
    `dtype` (as autocast's would) and are summed into float32 buffers, the
    weight's over groups of chunks (WEIGHT_GRAD_ROWS), and the 1/N scale is
    applied in float32 at the end (1/1600 in bf16 would be off by up to 0.4%)."""
    need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    low_h, low_w = hidden.to(dtype), weight.to(dtype)
    loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_h = torch.empty_like(hidden) if need_h else None
    grad_w = torch.zeros_like(weight, dtype=loss_dtype(weight.dtype)) if need_w else None
    for group in chunk_groups(row_chunks(hidden.shape[0], chunk_rows), WEIGHT_GRAD_ROWS):
        span = slice(group[0].start, group[-1].stop)
        group_probs = low_h.new_empty(span.stop - span.start, len(weight)) if need_w else None
        for rows in group:
            h, t = low_h[rows], targets[rows]
            logp = torch.log_softmax(torch.mm(h, low_w.t()).float(), dim=-1)
            at = slice(rows.start - span.start, rows.stop - span.start)
            out = group_probs[at] if need_w else None
            chunk_loss, probs = _loss_and_logit_grad(logp, t, need_h or need_w, dtype, out)
            loss += chunk_loss
            if need_h:
                grad_h[rows] = torch.mm(probs, low_w)
        if need_w:
            grad_w.add_(torch.mm(group_probs.t(), low_h[span]))
    if need_h:
        grad_h.mul_(scale.to(grad_h.dtype))
    if need_w:
        grad_w = grad_w.mul_(scale).to(weight.dtype)
    ctx.save_for_backward(*(g for g in (grad_h, grad_w) if g is not None))
    ctx.has = (need_h, need_w)
    return loss * scale


def fused_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    divisor: torch.Tensor | int | float | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> torch.Tensor:
    """`F.cross_entropy(hidden @ weight.T, targets, reduction="sum") / divisor`
    without the full logits. `hidden` is (rows, width), `weight` (vocab, width),
    `targets` (rows,) with `IGNORE_INDEX` for rows that do not count; `divisor`
    defaults to the number of counted rows (a mean). Under autocast (bf16/fp16)
    the head's products run in the autocast dtype, the loss in float32."""
    keep = targets != IGNORE_INDEX
    # Ignored rows cost nothing: drop them before the head instead of masking after.
    if not bool(keep.all()):
        hidden, targets = hidden[keep], targets[keep]
    if divisor is None:
        divisor = targets.shape[0]
    dtype = loss_dtype(hidden.dtype)
    scale = 1.0 / torch.as_tensor(divisor, dtype=dtype, device=hidden.device)
    low = autocast_dtype(hidden.device.type)
    low = low if low is not None and low != hidden.dtype else None
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _FusedLinearCrossEntropy.apply(hidden, weight, targets, scale, chunk_rows, low)
    if low is not None:
        hidden, weight = hidden.to(low), weight.to(low)
    loss = torch.zeros((), dtype=dtype, device=hidden.device)
    for rows in row_chunks(hidden.shape[0], chunk_rows):
        logp = chunk_log_probs(hidden[rows], weight)
        loss -= logp.gather(1, targets[rows, None]).sum()
    return loss * scale
