"""After a bf16 Trainer run the model's forward is wrapped in autocast; what runs the
trained model afterwards (samples, memorization) must get the plain forward back."""

from __future__ import annotations

import torch
import transformers
from support.models import TINY
from transformers import GPT2Config, GPT2LMHeadModel

from textgen_core.train.trainer import TextgenTrainer, without_autocast_wrapper


def test_the_trained_model_runs_its_own_float32_forward_again(tmp_path):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, **TINY))
    ids = torch.randint(300, (4, 16))
    rows = [{"input_ids": r, "attention_mask": torch.ones_like(r), "labels": r} for r in ids]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, bf16=True,
        use_cpu=True, save_strategy="no", report_to="none", disable_tqdm=True,
    )  # fmt: skip
    TextgenTrainer(model=model, args=args, train_dataset=rows).train()
    model.eval()
    with torch.no_grad():
        plain = GPT2LMHeadModel.forward(model, ids).logits
        assert not torch.equal(model(ids).logits, plain)  # the Trainer's autocast wrapper
        unwrapped = without_autocast_wrapper(model)
        assert unwrapped is model
        assert torch.equal(model(ids).logits, plain)
