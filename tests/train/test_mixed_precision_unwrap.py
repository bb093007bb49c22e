"""After a bf16 Trainer run the model's forward is wrapped in autocast; what runs the
trained model afterwards (the memorization check) and the samples taken at each
evaluation must decode with the model's own float32 forward, as the saved model will."""

from __future__ import annotations

import torch
import transformers
from datasets import Dataset
from support.models import TINY
from transformers import GPT2Config, GPT2LMHeadModel

from textgen_core.train.trainer import TextgenTrainer, without_autocast_wrapper

IDS = torch.randint(300, (4, 16), generator=torch.Generator().manual_seed(0))


def _bf16_trainer(tmp_path, callbacks=(), **args):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, **TINY))
    ids = IDS.tolist()
    rows = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * 16] * 4, "labels": ids})
    settings = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, bf16=True,
        use_cpu=True, save_strategy="no", report_to="none", disable_tqdm=True, **args,
    )  # fmt: skip
    return TextgenTrainer(
        model=model, args=settings, train_dataset=rows, eval_dataset=rows, callbacks=list(callbacks)
    )


def _plain(model) -> bool:
    """Whether `model(IDS)` gives exactly its own float32 forward's logits (in eval
    mode, without dropout; the mode is restored)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        same = torch.equal(model(IDS).logits, GPT2LMHeadModel.forward(model, IDS).logits)
    model.train(was_training)
    return same


def test_the_trained_model_runs_its_own_float32_forward_again(tmp_path):
    trainer = _bf16_trainer(tmp_path)
    trainer.train()
    model = trainer.model
    assert not _plain(model)  # the Trainer's autocast wrapper is on
    assert without_autocast_wrapper(model) is model
    assert _plain(model)


def test_samples_at_an_evaluation_decode_with_the_plain_forward(tmp_path):
    class Probe(transformers.TrainerCallback):
        seen: list[bool] = []

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            self.seen.append(_plain(model))

    probe = Probe()
    trainer = _bf16_trainer(tmp_path, [probe], eval_strategy="steps", eval_steps=1)
    trainer.train()
    assert probe.seen == [True]
    assert not _plain(trainer.model)  # the wrapper is back for the next steps
