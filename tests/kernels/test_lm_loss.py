"""The fused, chunked LM loss must be the model's own loss, in value and gradients."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from textgen_core.kernels.linear_cross_entropy import IGNORE_INDEX, fused_linear_cross_entropy
from textgen_core.kernels.lm_loss import (
    causal_lm_loss,
    chunk_rows_for,
    fused_loss_applies,
    token_loss_sum,
)

VOCAB = 101


def tiny_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).double().eval()


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config).double().eval()


def _tiny_family(model_type: str, seed: int = 0, **extra):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=32,
        **extra,
    )
    return AutoModelForCausalLM.from_config(config).double().eval()


def tiny_qwen2(seed: int = 0):
    return _tiny_family("qwen2", seed)


def tiny_qwen3(seed: int = 0):
    return _tiny_family("qwen3", seed)


def tiny_gemma3(seed: int = 0, **extra):
    """Gemma 3's text model: embeddings scaled by sqrt(width), a tied head, and
    sliding-window layers (the window shorter than the batch's rows)."""
    layers = ["sliding_attention", "full_attention"]
    return _tiny_family(
        "gemma3_text", seed, sliding_window=4, layer_types=layers, query_pre_attn_scalar=16, **extra
    )


FAMILY_MODELS = [tiny_gpt2, tiny_llama, tiny_qwen2, tiny_qwen3, tiny_gemma3]


def unknown_architecture(seed: int = 0) -> GPT2LMHeadModel:
    """A GPT-2 the fused path does not recognise, to exercise the fallback."""
    model = tiny_gpt2(seed)
    model.config.model_type = "not-a-known-type"
    return model


def padded_batch(seed: int = 1) -> dict[str, torch.Tensor]:
    """Three rows of 11 tokens; the last two rows end in padding (label -100)."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, VOCAB, (3, 11), generator=g)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 8:] = 0
    attention_mask[2, 4:] = 0
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def rows_case(n: int = 37, width: int = 16, vocab: int = 53, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, width, generator=g, dtype=torch.float64)
    weight = torch.randn(vocab, width, generator=g, dtype=torch.float64)
    targets = torch.randint(0, vocab, (n,), generator=g)
    targets[::5] = IGNORE_INDEX
    return hidden, weight, targets


@pytest.mark.parametrize("chunk_rows", [1, 7, 16, 1000])
def test_fused_loss_matches_cross_entropy_value_and_grads(chunk_rows):
    hidden, weight, targets = rows_case()
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    ref = F.cross_entropy(h1 @ w1.T, targets, ignore_index=IGNORE_INDEX)
    ref.backward()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    got = fused_linear_cross_entropy(h2, w2, targets, chunk_rows=chunk_rows)
    got.backward()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h2.grad, h1.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w2.grad, w1.grad, rtol=1e-10, atol=1e-12)


def test_fused_loss_divides_by_given_item_count_and_scales_with_upstream_grad():
    hidden, weight, targets = rows_case()
    h1, w1 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    ref = F.cross_entropy(h1 @ w1.T, targets, ignore_index=IGNORE_INDEX, reduction="sum") / 50
    (3 * ref).backward()
    h2, w2 = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    got = fused_linear_cross_entropy(h2, w2, targets, divisor=torch.tensor(50), chunk_rows=8)
    (3 * got).backward()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(h2.grad, h1.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w2.grad, w1.grad, rtol=1e-10, atol=1e-12)


def test_fused_loss_without_grad_matches_cross_entropy():
    hidden, weight, targets = rows_case()
    with torch.no_grad():
        got = fused_linear_cross_entropy(hidden, weight, targets, chunk_rows=6)
    ref = F.cross_entropy(hidden @ weight.T, targets, ignore_index=IGNORE_INDEX)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def reference_loss(model, batch) -> torch.Tensor:
    """Full logits, then cross-entropy in the model's own precision."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        batch["labels"][:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
    )


def assert_same_grads(model, reference, rtol, atol):
    ref_grads = dict(reference.named_parameters())
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, ref_grads[name].grad, rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("make_model", FAMILY_MODELS)
@pytest.mark.parametrize("chunk_rows", [5, 64])
def test_whole_model_loss_and_grads_match_full_logits_cross_entropy(make_model, chunk_rows):
    """In float64, so any difference beyond rounding is a bug. Includes the tied
    head: GPT-2's lm_head.weight *is* transformer.wte.weight."""
    reference, model = make_model(), make_model()
    batch = padded_batch()
    reference_loss(reference, batch).backward()
    got = causal_lm_loss(model, **batch, chunk_rows=chunk_rows)
    got.backward()
    torch.testing.assert_close(got, reference_loss(reference, batch), rtol=1e-12, atol=1e-12)
    assert_same_grads(model, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make_model", FAMILY_MODELS)
def test_float32_loss_and_grads_match_the_models_own_loss(make_model):
    reference, model = make_model().float(), make_model().float()
    batch = padded_batch()
    ref = reference(**batch).loss
    ref.backward()
    got = causal_lm_loss(model, **batch, chunk_rows=7)
    got.backward()
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
    assert_same_grads(model, reference, rtol=1e-4, atol=1e-6)


def test_tied_head_gets_both_embedding_and_head_gradient():
    model = tiny_gpt2()
    assert model.lm_head.weight is model.transformer.wte.weight
    untied = copy.deepcopy(model)
    untied.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
    batch = padded_batch()
    causal_lm_loss(model, **batch).backward()
    causal_lm_loss(untied, **batch).backward()
    both = untied.lm_head.weight.grad + untied.transformer.wte.weight.grad
    torch.testing.assert_close(model.transformer.wte.weight.grad, both)


def test_num_items_in_batch_makes_accumulated_grads_equal_one_big_batch():
    batch = padded_batch()
    big, acc = tiny_gpt2(), tiny_gpt2()
    causal_lm_loss(big, **batch).backward()
    total = (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    for rows in (slice(0, 1), slice(1, 3)):
        part = {k: v[rows] for k, v in batch.items()}
        causal_lm_loss(acc, **part, num_items_in_batch=total).backward()
    for (name, p_big), p_acc in zip(big.named_parameters(), acc.parameters(), strict=True):
        torch.testing.assert_close(p_acc.grad, p_big.grad, rtol=1e-9, atol=1e-12, msg=name)


def test_unknown_architecture_falls_back_to_model_forward():
    model = unknown_architecture()
    batch = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(causal_lm_loss(model, **batch), model(**batch).loss)


def test_gemma_with_final_logit_softcapping_takes_the_models_own_loss():
    """Soft-capped logits are not `lm_head(hidden)`: the fused head would give
    another loss, so such a config runs the model's forward."""
    model = tiny_gemma3(final_logit_softcapping=3.0)
    assert not fused_loss_applies(model) and fused_loss_applies(tiny_gemma3())
    batch = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(causal_lm_loss(model, **batch), model(**batch).loss)


def test_chunks_shrink_with_the_vocabulary_so_their_logits_stay_gpt2_sized():
    assert chunk_rows_for(50304) == 1024  # GPT-2 padded: as before, bit for bit
    for vocab in (128256, 151936, 262144):
        assert chunk_rows_for(vocab) * vocab <= 1024 * 50304
        assert chunk_rows_for(vocab) >= 0.9 * 1024 * 50304 / vocab
    assert chunk_rows_for(10_000_000) == 64


def test_chunks_on_a_gpu_are_bigger_so_the_weight_gradient_is_summed_less_often():
    for vocab in (50304, 151936, 262144):
        assert chunk_rows_for(vocab, "cuda") == 8 * chunk_rows_for(vocab, "cpu")
    assert chunk_rows_for(50304, torch.device("cuda", 0)) == 8192


@pytest.mark.parametrize("make_model", [*FAMILY_MODELS, unknown_architecture])
def test_token_loss_sum_matches_reference_per_token_losses(make_model):
    model = make_model()
    batch = padded_batch()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    per_pos = F.cross_entropy(
        logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:], reduction="none"
    )  # per_pos[b, j] predicts labels[b, j + 1]; 0 where ignored
    out = token_loss_sum(model, **batch, per_token=True, chunk_rows=4)
    assert int(out.num_tokens) == int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    torch.testing.assert_close(out.loss_sum, per_pos.sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.per_token, per_pos, rtol=1e-12, atol=1e-12)
    mean = out.loss_sum / out.num_tokens
    torch.testing.assert_close(mean.float(), model(**batch).loss, rtol=1e-6, atol=1e-6)


def train_tiny(trainer_class, grad_accum: int, tmp_path) -> tuple[list[float], dict]:
    """Three optimizer steps of a tiny GPT-2 with the Trainer; the logged losses
    and the final weights."""
    import transformers

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    model = GPT2LMHeadModel(config)
    g = torch.Generator().manual_seed(3)
    rows = torch.randint(0, VOCAB, (12, 9), generator=g)
    data = []
    for i, row in enumerate(rows):
        labels = row.clone()
        labels[9 - i % 4 :] = IGNORE_INDEX  # uneven label counts across micro-batches
        data.append({"input_ids": row, "attention_mask": torch.ones_like(row), "labels": labels})
    losses: list[float] = []

    class Record(transformers.TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                losses.append(logs["loss"])

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / trainer_class.__name__),
        per_device_train_batch_size=4 // grad_accum,
        gradient_accumulation_steps=grad_accum,
        max_steps=3,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = trainer_class(model=model, args=args, train_dataset=data, callbacks=[Record()])
    trainer.train()
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_trainer_compute_loss_trains_like_the_stock_trainer(grad_accum, tmp_path):
    import transformers

    from textgen_core.kernels.lm_loss import trainer_compute_loss

    class FusedTrainer(transformers.Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return trainer_compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    ref_losses, ref_weights = train_tiny(transformers.Trainer, grad_accum, tmp_path)
    losses, weights = train_tiny(FusedTrainer, grad_accum, tmp_path)
    torch.testing.assert_close(losses, ref_losses, rtol=1e-4, atol=1e-5)
    for name, value in weights.items():
        reference = ref_weights[name]
        if name.endswith("attn.c_attn.bias"):
            # The key bias (the middle third) adds q.b to every score of a query,
            # which softmax ignores: its exact gradient is 0. In float32 the
            # computed one is summation-order noise (~2e-11 here, 4e-20 in
            # float64) and differs by kernel and CPU; Adam (eps 1e-8) turns it
            # into steps of lr * g / eps ~ 2e-5, not comparable across paths.
            # What must hold is that it stays near 0 on both, far below one
            # real Adam step (lr 1e-2; the query and value biases moved 2e-2).
            third = value.shape[0] // 3
            key = slice(third, 2 * third)
            for side in (value, reference):
                assert side[key].abs().max() < 1e-4, name
            value, reference = value.clone(), reference.clone()
            value[key] = reference[key] = 0
        torch.testing.assert_close(value, reference, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_log_probs_computed_in_place_are_the_same_bits_as_a_fresh_log_softmax(dtype):
    from textgen_core.kernels.linear_cross_entropy import _mm, chunk_log_probs

    g = torch.Generator().manual_seed(4)
    hidden = torch.randn(96, 48, generator=g).to(dtype)
    weight = torch.randn(5000, 48, generator=g).to(dtype)
    fresh = torch.log_softmax(_mm(hidden, weight.t()).float(), dim=-1)
    assert torch.equal(chunk_log_probs(hidden, weight), fresh)
