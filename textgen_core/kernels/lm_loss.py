"""The causal-LM loss, computed without materialising the full logits.

A GPT-2 training step on CPU spends a large share of its time in the LM head
and cross-entropy: the (tokens x vocab) logits tensor (1600 x 50304 floats,
~320 MB) is written, read by log_softmax, written again, and then its gradient
is built the same way in backward. Here the head and the loss are fused and run
over chunks of rows: each chunk's logits are turned into the loss *and* into
the gradients w.r.t. the hidden states and the head weight while they are still
hot in cache, so backward has nothing left to do but hand them out.

Public API:

- `causal_lm_loss(model, input_ids, attention_mask, labels)`: the value
  `model(..., labels=labels).loss` returns (mean over non-ignored shifted
  labels), with the fused head when the architecture is known, else the model's
  own forward.
- `trainer_compute_loss(trainer, model, inputs, return_outputs, num_items_in_batch)`:
  a drop-in body for `transformers.Trainer.compute_loss`, correct under
  gradient accumulation.
- `token_loss_sum(model, input_ids, attention_mask, labels)`: evaluation
  without logits: (sum of token losses, token count[, per-token losses]).

What each trick bought, measured side by side against a stock Trainer step
(distilgpt2 shape, fp32, 8 x 200 tokens, 2-core AMD EPYC; BENCHMARKS.md):

- the fused, chunked head + loss alone: 1.05x the step speed and ~830 MB
  less peak memory (the full logits, their log-softmax and their gradient
  never exist);
- with the matmuls on oneDNN as well (`cpu_matmul`, used by every function
  here): 1.64x with the vocabulary padded to 50304, 1.70x unpadded; with
  `cpu_memory.reuse_freed_memory()` as well, 1.96x (padded);
- dropping rows whose label is ignored before the head (the last position of
  each row, pad positions) instead of masking them afterwards: 0.5% of the
  head's FLOPs on full chunks, more on padded batches.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from textgen_core.kernels.cpu_matmul import (
    fast_cpu_matmuls,
    fused_gelu,
    onednn_mm,
    onednn_preferred,
)
from textgen_core.kernels.precision import autocast_dtype

IGNORE_INDEX = -100

DEFAULT_CHUNK_ROWS = 1024
"""Most rows of logits alive at once; rows are split into equal chunks, so a
batch of 8 x 200 runs as two chunks of 796 rows (~160 MB of logits each, half
of the full logits). Measured on the project machine, the fused head's
forward + backward takes 1.47 / 1.35 / 1.26 / 1.19 s with chunks of
128 / 256 / 512 / 796 rows: bigger chunks keep the weight-gradient matmul
(whose inner dimension is the chunk) efficient."""

# Architectures whose causal-LM forward is exactly `lm_head(body(...).last_hidden_state)`
# followed by the shifted cross-entropy: no logit scaling, soft-capping or bias.
_FUSABLE_MODEL_TYPES = frozenset({"gpt2", "llama"})


class TokenLoss(NamedTuple):
    """Sum of per-token losses over the label tokens, how many there were, and
    optionally the per-token losses laid out like `labels[:, 1:]` (0 where ignored)."""

    loss_sum: torch.Tensor
    num_tokens: torch.Tensor
    per_token: torch.Tensor | None = None


# ---------------------------------------------------------------------------
# The fused head + cross-entropy over rows
# ---------------------------------------------------------------------------


def _loss_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 at least, as transformers upcasts logits before the loss."""
    return torch.promote_types(dtype, torch.float32)


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b, on oneDNN for CPU float32 (see cpu_matmul)."""
    if a.device.type == "cpu" and a.dtype == b.dtype == torch.float32 and onednn_preferred():
        return onednn_mm(a, b)
    return torch.mm(a, b)


def _chunk_log_probs(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """log_softmax(hidden @ weight.T), at least in float32, for one chunk of rows."""
    logits = _mm(hidden, weight.t())
    return torch.log_softmax(logits.to(_loss_dtype(logits.dtype)), dim=-1)


def _row_chunks(n: int, chunk_rows: int) -> list[slice]:
    """Equal slices of at most `chunk_rows` rows covering range(n)."""
    pieces = max(1, -(-n // chunk_rows))
    size = -(-n // pieces)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)] if n else []


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
        loss = torch.zeros((), dtype=_loss_dtype(hidden.dtype), device=hidden.device)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = None
        for rows in _row_chunks(n, chunk_rows):
            h, t = hidden[rows], targets[rows]
            logp = _chunk_log_probs(h, weight)
            picked = logp.gather(1, t[:, None])
            loss -= picked.sum()
            if not (need_h or need_w):
                continue
            # d CE / d logits = softmax - one_hot(target); built in place over logp.
            probs = logp.exp_()
            probs.scatter_add_(1, t[:, None], torch.full_like(picked, -1.0))
            probs = probs.to(hidden.dtype)
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


def _low_precision_forward(ctx, hidden, weight, targets, scale, chunk_rows, dtype):
    """The chunk loop of `_FusedLinearCrossEntropy` with bf16/fp16 products.
    The weight is cast once (not per chunk); each chunk's gradient products
    come out in `dtype` (as autocast's would) and are summed into float32
    buffers, and the 1/N scale is applied in float32 at the end (1/1600 in
    bf16 would be off by up to 0.4%)."""
    need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    low_h, low_w = hidden.to(dtype), weight.to(dtype)
    loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_h = torch.empty_like(hidden) if need_h else None
    grad_w = torch.zeros_like(weight, dtype=_loss_dtype(weight.dtype)) if need_w else None
    for rows in _row_chunks(hidden.shape[0], chunk_rows):
        h, t = low_h[rows], targets[rows]
        logp = torch.log_softmax(torch.mm(h, low_w.t()).float(), dim=-1)
        picked = logp.gather(1, t[:, None])
        loss -= picked.sum()
        if not (need_h or need_w):
            continue
        probs = logp.exp_()
        probs.scatter_add_(1, t[:, None], torch.full_like(picked, -1.0))
        probs = probs.to(dtype)
        if need_h:
            grad_h[rows] = torch.mm(probs, low_w)
        if need_w:
            grad_w.add_(torch.mm(probs.t(), h))
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
    dtype = _loss_dtype(hidden.dtype)
    scale = 1.0 / torch.as_tensor(divisor, dtype=dtype, device=hidden.device)
    low = autocast_dtype(hidden.device.type)
    low = low if low is not None and low != hidden.dtype else None
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _FusedLinearCrossEntropy.apply(hidden, weight, targets, scale, chunk_rows, low)
    if low is not None:
        hidden, weight = hidden.to(low), weight.to(low)
    loss = torch.zeros((), dtype=dtype, device=hidden.device)
    for rows in _row_chunks(hidden.shape[0], chunk_rows):
        logp = _chunk_log_probs(hidden[rows], weight)
        loss -= logp.gather(1, targets[rows, None]).sum()
    return loss * scale


# ---------------------------------------------------------------------------
# Model plumbing
# ---------------------------------------------------------------------------


def _unwrap(model: nn.Module) -> nn.Module:
    """The transformers causal-LM module under PEFT / compile wrappers."""
    if hasattr(model, "get_base_model"):  # peft.PeftModel
        model = model.get_base_model()
    return getattr(model, "_orig_mod", model)


def _fusable_parts(model: nn.Module) -> tuple[nn.Module, nn.Linear] | None:
    """(body, head) when the fused loss reproduces the model's own loss exactly."""
    lm = _unwrap(model)
    config = getattr(lm, "config", None)
    if getattr(config, "model_type", None) not in _FUSABLE_MODEL_TYPES:
        return None
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    body = getattr(lm, getattr(lm, "base_model_prefix", ""), None)
    if not isinstance(head, nn.Linear) or head.bias is not None or body is None:
        return None
    if getattr(config, "final_logit_softcapping", None):
        return None
    return body, head


def _shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Position i predicts labels[i + 1]; the last position predicts nothing."""
    pad = torch.full_like(labels[..., :1], IGNORE_INDEX)
    return torch.cat([labels[..., 1:], pad], dim=-1)


def _hidden_states(body: nn.Module, input_ids, attention_mask) -> torch.Tensor:
    with fast_cpu_matmuls(), fused_gelu(body):
        out = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def causal_lm_loss(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> torch.Tensor:
    """The loss `model(input_ids, attention_mask=..., labels=labels).loss` returns.

    Labels are shifted inside, as in transformers (`labels = input_ids` with
    -100 at pad positions is the usual input). With `num_items_in_batch` the
    summed loss is divided by it instead of by this batch's label count, which
    is how transformers keeps gradient accumulation exact.
    """
    parts = _fusable_parts(model)
    if parts is None:
        kwargs = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}
        with fast_cpu_matmuls():
            return model(
                input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs
            ).loss
    body, head = parts
    hidden = _hidden_states(body, input_ids, attention_mask)
    targets = _shifted_targets(labels).reshape(-1)
    return fused_linear_cross_entropy(
        hidden.reshape(-1, hidden.shape[-1]),
        head.weight,
        targets,
        divisor=num_items_in_batch,
        chunk_rows=chunk_rows,
    )


@torch.inference_mode()
def token_loss_sum(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
    per_token: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> TokenLoss:
    """Summed cross-entropy over the (shifted) label tokens and their count,
    for token-weighted evaluation over many batches; no logits are kept.

    With `per_token`, also each position's loss, shaped like `labels[:, 1:]`:
    entry [b, j] is the loss of predicting labels[b, j + 1] (0 where ignored).
    """
    targets = labels[..., 1:]
    parts = _fusable_parts(model)
    if parts is None:
        with fast_cpu_matmuls():
            hidden = model(input_ids=input_ids, attention_mask=attention_mask).logits
        weight = None  # `hidden` already holds the logits
    else:
        body, head = parts
        hidden, weight = _hidden_states(body, input_ids, attention_mask), head.weight
    hidden = hidden[..., :-1, :].reshape(-1, hidden.shape[-1])
    flat_targets = targets.reshape(-1)
    keep = (flat_targets != IGNORE_INDEX).nonzero().squeeze(1)
    dtype = _loss_dtype(hidden.dtype)
    losses = torch.empty(keep.shape[0], dtype=dtype, device=input_ids.device)
    for part in _row_chunks(keep.shape[0], chunk_rows):
        rows = keep[part]
        if weight is None:
            logp = torch.log_softmax(hidden[rows].to(dtype), dim=-1)
        else:
            logp = _chunk_log_probs(hidden[rows], weight)
        losses[part] = -logp.gather(1, flat_targets[rows, None]).squeeze(1)
    count = torch.tensor(keep.shape[0], device=input_ids.device)
    if not per_token:
        return TokenLoss(losses.sum(), count)
    table = torch.zeros(flat_targets.shape[0], dtype=dtype, device=input_ids.device)
    table[keep] = losses
    return TokenLoss(losses.sum(), count, table.view(targets.shape))


# ---------------------------------------------------------------------------
# Trainer integration
# ---------------------------------------------------------------------------


def trainer_compute_loss(
    trainer: Any,
    model: nn.Module,
    inputs: dict[str, Any],
    return_outputs: bool = False,
    num_items_in_batch: torch.Tensor | int | None = None,
):
    """Body of `transformers.Trainer.compute_loss` with the fused loss.

    Example::

        class TextgenTrainer(transformers.Trainer):
            def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
                return trainer_compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    Gradient accumulation stays exact: the Trainer passes `num_items_in_batch`
    (label tokens over all accumulated micro-batches) whenever the model accepts
    loss kwargs, as GPT-2 does; the summed loss is divided by it and the Trainer
    then counts the loss as already scaled, exactly as for the model's own loss.
    When it passes none, the per-batch mean is returned and the Trainer divides
    by the accumulation steps itself. Note that Trainer 5.24 counts GPT-2's
    `num_items_in_batch` over all labels, position 0 included (its config's
    `loss_type` is unset), so its reported loss is sum / 1600 for 8 x 200
    tokens, not sum / 1592; this function keeps exactly that value.

    `Trainer.evaluate` (which calls this with `return_outputs=True`) also gets
    the fused loss, with no logits, unless `compute_metrics` or
    `preprocess_logits_for_metrics` needs them. Label smoothing, a custom
    `compute_loss_func`, wrapped (distributed) models, unknown architectures and
    evaluation that needs logits take the stock Trainer path.
    """
    import transformers

    stock = transformers.Trainer.compute_loss
    wants_logits = return_outputs and (
        trainer.compute_metrics is not None or trainer.preprocess_logits_for_metrics is not None
    )
    if (
        wants_logits
        or "labels" not in inputs
        or not set(inputs) <= {"input_ids", "attention_mask", "labels"}  # e.g. position_ids
        or trainer.label_smoother is not None
        or trainer.compute_loss_func is not None
        or model is not trainer.model  # DDP/FSDP wrappers must run their own forward
        or _fusable_parts(model) is None
    ):
        with fast_cpu_matmuls():
            return stock(trainer, model, inputs, return_outputs, num_items_in_batch)
    # The Trainer's mixed precision (bf16=True / fp16=True) is an autocast that
    # accelerate wraps around model.forward; the fused path calls the model's
    # body directly, so it enters the same autocast here.
    with trainer.accelerator.autocast():
        loss = causal_lm_loss(
            model,
            inputs["input_ids"],
            inputs.get("attention_mask"),
            inputs["labels"],
            num_items_in_batch=num_items_in_batch,
        )
    if trainer.args.average_tokens_across_devices and num_items_in_batch is not None:
        # Mirrors the stock method: num_items_in_batch was summed over processes.
        loss = loss * (trainer.accelerator.num_processes // trainer.get_tp_size())
    if return_outputs:
        from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions

        return loss, CausalLMOutputWithCrossAttentions(loss=loss)
    return loss
