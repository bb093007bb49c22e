"""The causal-LM loss, computed without materialising the full logits: the
model's body, then its head and the cross-entropy fused over chunks of rows
(`linear_cross_entropy`).

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
  here, on CPUs where oneDNN is the faster library): 1.64x with the
  vocabulary padded to 50304, 1.70x unpadded; with
  `memory.reuse_freed_memory()` as well, 1.96x (padded);
- dropping rows whose label is ignored before the head (the last position of
  each row, pad positions) instead of masking them afterwards: 0.5% of the
  head's FLOPs on full chunks, more on padded batches.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from textgen_core.families import FAMILIES
from textgen_core.kernels.cpu_matmul import fast_cpu_matmuls, fused_gelu
from textgen_core.kernels.linear_cross_entropy import (
    DEFAULT_CHUNK_ROWS,
    IGNORE_INDEX,
    chunk_log_probs,
    fused_linear_cross_entropy,
    loss_dtype,
    row_chunks,
)

# Architectures whose causal-LM forward is exactly `lm_head(body(...).last_hidden_state)`
# followed by the shifted cross-entropy: no logit scaling, soft-capping or bias
# (families.Family.plain_lm_head: gpt2, llama, qwen2, qwen3, gemma3_text).
_FUSABLE_MODEL_TYPES = frozenset(f.model_type for f in FAMILIES.values() if f.plain_lm_head)

LOGIT_CHUNK_ELEMENTS = DEFAULT_CHUNK_ROWS * 50304
"""Most logits alive at once in the fused loss: DEFAULT_CHUNK_ROWS rows of GPT-2's
padded vocabulary (~200 MB in float32). Larger vocabularies get fewer rows per
chunk (Gemma 3's 262144: 196 rows), so a chunk's logits and their gradient stay
the same size whatever the family."""

CUDA_CHUNK_SCALE = 8
"""On a GPU, chunks CUDA_CHUNK_SCALE times bigger in rows and in logits (~1.6 GB
of float32 logits, up to 8192 rows): each chunk adds its bf16 weight-gradient
product into the float32 gradient, a pass over vocab x width floats that is
memory-bound there, so GPT-2-sized chunks made the fused loss slower than the
stock one on big vocabularies (H200, 16 x 512 tokens, bf16, full fine-tuning:
Gemma-3-270M 0.84x, Qwen3-0.6B 0.92x the stock Trainer's speed; 0.94x and 1.02x
with the bigger chunks, for 2.4-4.1 GB more peak memory; BENCHMARKS.md, GPU)."""


class TokenLoss(NamedTuple):
    """Sum of per-token losses over the label tokens, how many there were, and
    optionally the per-token losses laid out like `labels[:, 1:]` (0 where ignored)."""

    loss_sum: torch.Tensor
    num_tokens: torch.Tensor
    per_token: torch.Tensor | None = None


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
        return None  # logit scaling or soft-capping, or an architecture not read
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    body = getattr(lm, getattr(lm, "base_model_prefix", ""), None)
    if not isinstance(head, nn.Linear) or head.bias is not None or body is None:
        return None
    if getattr(config, "final_logit_softcapping", None):  # Gemma's, when its config sets it
        return None
    return body, head


def fused_loss_applies(model: nn.Module) -> bool:
    """Whether `causal_lm_loss` and `token_loss_sum` run the fused head on
    `model` (else the model's own forward, which holds the full logits)."""
    return _fusable_parts(model) is not None


def chunk_rows_for(vocab: int, device: torch.device | str = "cpu") -> int:
    """Rows per chunk of the fused loss for a vocabulary of `vocab` (at most
    DEFAULT_CHUNK_ROWS, at least 64: the weight-gradient product needs some),
    CUDA_CHUNK_SCALE times more on a GPU."""
    scale = CUDA_CHUNK_SCALE if torch.device(device).type == "cuda" else 1
    return max(64, scale * min(DEFAULT_CHUNK_ROWS, LOGIT_CHUNK_ELEMENTS // max(1, vocab)))


def _shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """Position i predicts labels[i + 1]; the last position predicts nothing."""
    pad = torch.full_like(labels[..., :1], IGNORE_INDEX)
    return torch.cat([labels[..., 1:], pad], dim=-1)


def _hidden_states(body: nn.Module, input_ids, attention_mask) -> torch.Tensor:
    with fast_cpu_matmuls(body), fused_gelu(body):
        out = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state


def causal_lm_loss(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None = None,
    chunk_rows: int | None = None,
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
        with fast_cpu_matmuls(model):
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
        chunk_rows=chunk_rows or chunk_rows_for(head.weight.shape[0], hidden.device),
    )


@torch.inference_mode()
def token_loss_sum(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor,
    per_token: bool = False,
    chunk_rows: int | None = None,
) -> TokenLoss:
    """Summed cross-entropy over the (shifted) label tokens and their count,
    for token-weighted evaluation over many batches; no logits are kept.

    With `per_token`, also each position's loss, shaped like `labels[:, 1:]`:
    entry [b, j] is the loss of predicting labels[b, j + 1] (0 where ignored).
    """
    targets = labels[..., 1:]
    parts = _fusable_parts(model)
    if parts is None:
        with fast_cpu_matmuls(model):
            hidden = model(input_ids=input_ids, attention_mask=attention_mask).logits
        weight = None  # `hidden` already holds the logits
    else:
        body, head = parts
        hidden, weight = _hidden_states(body, input_ids, attention_mask), head.weight
    hidden = hidden[..., :-1, :].reshape(-1, hidden.shape[-1])
    vocab = hidden.shape[-1] if weight is None else len(weight)
    chunk_rows = chunk_rows or chunk_rows_for(vocab, hidden.device)
    flat_targets = targets.reshape(-1)
    keep = (flat_targets != IGNORE_INDEX).nonzero().squeeze(1)
    dtype = loss_dtype(hidden.dtype)
    losses = torch.empty(keep.shape[0], dtype=dtype, device=input_ids.device)
    for part in row_chunks(keep.shape[0], chunk_rows):
        rows = keep[part]
        if weight is None:
            logp = torch.log_softmax(hidden[rows].to(dtype), dim=-1)
        else:
            logp = chunk_log_probs(hidden[rows], weight)
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


def fused_in_trainer(
    trainer: Any, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False
) -> bool:
    """Whether `trainer_compute_loss` computes this call's loss with the fused
    head (see there for when it does not)."""
    wants_logits = return_outputs and (
        trainer.compute_metrics is not None or trainer.preprocess_logits_for_metrics is not None
    )
    return not (
        wants_logits
        or "labels" not in inputs
        or not set(inputs) <= {"input_ids", "attention_mask", "labels"}  # e.g. position_ids
        or trainer.label_smoother is not None
        or trainer.compute_loss_func is not None
        or model is not trainer.model  # DDP/FSDP wrappers must run their own forward
        or _fusable_parts(model) is None
    )


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
    if not fused_in_trainer(trainer, model, inputs, return_outputs):
        with fast_cpu_matmuls(model):
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
