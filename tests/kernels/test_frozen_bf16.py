"""Frozen weights stored in bf16 during a bf16 run: the same numbers, in half the
memory, and float32 outside autocast and after; LoRA inputs left in bf16: the
same numbers, without PEFT's widening."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from support.models import build_tiny_family_model
from support.runs import tiny_config
from transformers import TrainerCallback

from textgen_core.config import LoraConfig
from textgen_core.kernels.frozen_bf16 import (
    bf16_frozen_weights,
    bf16_steps,
    float32_weights,
    lora_inputs_as_given,
)
from textgen_core.kernels.lm_loss import causal_lm_loss
from textgen_core.kernels.lora_dropout import fast_lora_dropout
from textgen_core.model.loading import apply_lora, load_model, load_tokenizer
from textgen_core.precision import cpu_bf16_native
from textgen_core.train import train


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory):
    """A tiny Llama saved in bf16, as published SmolLM2/Qwen3/Gemma 3 checkpoints are."""
    folder = tmp_path_factory.mktemp("bf16_llama")
    return str(build_tiny_family_model(folder, "llama", dtype=torch.bfloat16))


def lora_model(name):
    """LoRA as `textgen train` prepares it (its dropout included)."""
    model = load_model(name, load_tokenizer(name))
    return fast_lora_dropout(apply_lora(model, LoraConfig(r=4)))


def batch(seed=0):
    ids = torch.randint(0, 1000, (2, 24), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def bf16_step(model):
    """The loss and the LoRA gradients of one bf16 autocast step."""
    model.train().zero_grad()
    torch.manual_seed(0)  # LoRA's dropout
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = causal_lm_loss(model, **batch())
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


def eval_loss(model):
    with torch.no_grad():
        return causal_lm_loss(model.eval(), **batch(1)).item()


def test_a_bf16_lora_step_is_bit_for_bit_the_same_with_frozen_weights_in_bf16(bf16_checkpoint):
    model = lora_model(bf16_checkpoint)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain_loss, plain_grads = bf16_step(model)
    plain_eval = eval_loss(model)
    with bf16_frozen_weights(model, "bf16") as stored:
        assert stored == 2 * 7  # two blocks of q, k, v, o, gate, up, down
        base = [m for n, m in model.named_modules() if n.endswith("q_proj.base_layer")]
        assert base and all(m.weight.dtype == torch.bfloat16 for m in base)
        assert model.get_output_embeddings().weight.dtype == torch.float32
        assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
        loss, grads = bf16_step(model)
        assert eval_loss(model) == plain_eval  # outside autocast: float32 math
        with float32_weights(model):
            assert all(m.weight.dtype == torch.float32 for m in base)
            assert eval_loss(model) == plain_eval
        assert all(m.weight.dtype == torch.bfloat16 for m in base)
    assert torch.equal(loss, plain_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, plain_grads, strict=True))
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())


def test_weights_that_are_not_bf16_numbers_or_a_fp32_run_are_left_alone(tmp_path):
    fp32_values = build_tiny_family_model(tmp_path / "fp32", "llama")  # random float32
    with bf16_frozen_weights(lora_model(str(fp32_values)), "bf16") as stored:
        assert stored == 0
    model = lora_model(
        str(build_tiny_family_model(tmp_path / "bf16", "llama", dtype=torch.bfloat16))
    )
    with bf16_frozen_weights(model, "fp32") as stored:
        assert stored == 0
    with bf16_frozen_weights(model, "bf16") as stored:
        assert stored == 14


def lora_input_dtypes(model):
    """The dtypes the down_proj adapters' first products were given (a bf16
    autocast product's output in a bf16 step), as a live set."""
    seen = set()
    for name, module in model.named_modules():
        if name.endswith("down_proj.lora_A.default"):
            module.register_forward_pre_hook(lambda m, args: seen.add(args[0].dtype))
    return seen


def test_a_bf16_lora_step_is_bit_for_bit_the_same_with_its_inputs_left_in_bf16(bf16_checkpoint):
    model = lora_model(bf16_checkpoint)  # LoRA's default dropout: the same masks both ways
    seen = lora_input_dtypes(model)
    plain_loss, plain_grads = bf16_step(model)
    assert seen == {torch.float32}  # PEFT widened the bf16 input
    seen.clear()
    with lora_inputs_as_given(model, "bf16"):
        loss, grads = bf16_step(model)
        assert seen == {torch.bfloat16}
        assert eval_loss(model) == eval_loss(
            lora_model(bf16_checkpoint)
        )  # float32 outside autocast
    assert torch.equal(loss, plain_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, plain_grads, strict=True))
    seen.clear()
    with lora_inputs_as_given(model, "fp32"):
        bf16_step(model)
    bf16_step(model)
    assert seen == {torch.float32}  # left alone in a float32 run, and after the block
    with bf16_steps(model, "bf16") as stored:
        assert stored == 14
        seen.clear()
        bf16_step(model)
        assert seen == {torch.bfloat16}


class Dtypes(TrainerCallback):
    """The dtypes of the frozen q_proj weights the training steps and evaluations
    saw, and of the inputs the down_proj adapters were given."""

    def __init__(self):
        self.seen = {"step": set(), "evaluate": set()}
        self.inputs = {"step": set(), "evaluate": set()}
        self.since = set()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.since = lora_input_dtypes(model)

    def _note(self, when, model):
        base = [m for n, m in model.named_modules() if n.endswith("q_proj.base_layer")]
        self.seen[when] |= {m.weight.dtype for m in base}
        self.inputs[when] |= self.since
        self.since.clear()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self._note("step", model)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self._note("evaluate", model)


@pytest.mark.skipif(not cpu_bf16_native(), reason="bf16 training needs a CPU with native bf16")
def test_a_bf16_lora_run_steps_on_bf16_frozen_weights_and_saves_float32(
    bf16_checkpoint, corpus_dir, tmp_path
):
    cfg = tiny_config(
        bf16_checkpoint, precision="bf16", lora=LoraConfig(r=4), max_steps=4, eval_steps=2
    )
    dtypes = Dtypes()
    results = train([corpus_dir], tmp_path / "run", cfg, callbacks=[dtypes])
    assert dtypes.seen == {"step": {torch.bfloat16}, "evaluate": {torch.float32}}
    assert dtypes.inputs == {"step": {torch.bfloat16}, "evaluate": {torch.float32}}
    assert results.precision == "bf16" and results.test_loss < results.base_test_loss
    merged = load_file(tmp_path / "run" / "model" / "model.safetensors")
    assert {t.dtype for t in merged.values()} == {torch.float32}
