"""Samples while training runs: the same prompts, continued with the same
seed, by the base model before training and after every evaluation, appended
to the run's samples.jsonl (textgen_core.quality.samples).

Sampling must not change the run: it happens in eval mode inside a forked
random state (so dropout and the data order draw exactly what they would have
drawn without it), and it depends only on the weights and the seed, so a run
killed and resumed writes the same samples as one that never stopped.
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from textgen_core.chat_template import chat_prompt
from textgen_core.config import GenerateConfig, TrainConfig
from textgen_core.data.splits import IGNORE_INDEX
from textgen_core.data.tokens import with_start
from textgen_core.errors import TextgenError
from textgen_core.generate.sampling import generate
from textgen_core.model.loading import context_length
from textgen_core.quality import samples as records

DEFAULT_PROMPTS = 2
OPENING_WORDS = 6
_SCAN_CHUNKS = 2000  # validation chunks searched for document openings


def sample_config(cfg: TrainConfig) -> GenerateConfig:
    """textgen's default sampling settings, seeded with the run's seed."""
    return GenerateConfig(max_new_tokens=cfg.sample_tokens, seed=cfg.seed)


def default_prompts(
    validation, tokenizer, count: int = DEFAULT_PROMPTS, by_document: bool = True
) -> list[str]:
    """The opening words of the first `count` validation documents: the
    validation text's start and whatever follows an end-of-text token. When
    the split cut documents (`by_document` false), the validation text starts
    mid-sentence, so the words that start a line are taken instead."""
    eos, prompts = tokenizer.eos_token_id, []

    def add(opening: list[int]) -> None:
        words = " ".join(tokenizer.decode(opening).split()[:OPENING_WORDS])
        if words and words not in prompts:
            prompts.append(words)

    # opening: the tokens taken so far; None while waiting for the next start
    opening: list[int] | None = [] if by_document else None
    for row in validation.select(range(min(len(validation), _SCAN_CHUNKS))):
        for token, keep in zip(row["input_ids"], row["attention_mask"], strict=True):
            if not keep:
                continue
            if token == eos:
                if opening:
                    add(opening)  # a document shorter than the opening taken
                opening = []
            elif not by_document and tokenizer.decode([token]).endswith("\n"):
                if opening:
                    add(opening)  # a line shorter than the opening taken
                opening = []
            elif opening is not None:
                opening.append(token)
                if len(opening) == 4 * OPENING_WORDS:  # enough tokens for the words
                    add(opening)
                    opening = None
            if len(prompts) == count:
                return prompts
    if opening:
        add(opening)
    if not prompts and not by_document:  # no line break: the text's first words
        return default_prompts(validation, tokenizer, count, by_document=True)
    return prompts[:count] or [""]


def held_out_prompts(validation, tokenizer, chat_files: set[int], count: int = DEFAULT_PROMPTS):
    """The conversations of the first `count` validation examples up to their
    first answer, as rendered for the model (template tokens included);
    `chat_files` are the indices of the prompt/answer files."""
    prompts: list[str] = []
    for row in validation.select(range(min(len(validation), _SCAN_CHUNKS))):
        if row["source"][0] not in chat_files:
            continue
        first = next(i for i, label in enumerate(row["labels"]) if label != IGNORE_INDEX)
        text = tokenizer.decode(row["input_ids"][:first])
        if text not in prompts:
            prompts.append(text)
        if len(prompts) == count:
            break
    return prompts


def check_prompts(prompts: list[str], model, tokenizer, cfg: GenerateConfig) -> None:
    limit = context_length(model)
    for prompt in prompts:
        n = len(with_start(tokenizer, tokenizer(prompt, add_special_tokens=False)["input_ids"]))
        if n + cfg.max_new_tokens > limit:
            raise TextgenError(
                f"--sample-prompt {prompt[:40]!r}: {n} tokens + {cfg.max_new_tokens} new "
                f"exceed the model's context of {limit}; shorten it or lower --sample-tokens"
            )


def take_samples(model, tokenizer, prompts: list[str], cfg: GenerateConfig, step: int):
    """One record per prompt; the global random state and the model's
    train/eval mode are as they were before."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng():
            return [
                {"step": step, "prompt": p, "text": generate(model, tokenizer, p, cfg)[0]}
                for p in prompts
            ]
    finally:
        model.train(was_training)


def _print_above_progress_bar(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)


class SampleAtEvaluation(TrainerCallback):
    """After each evaluation (main process only): sample every prompt, append
    the records to `path`, and print them when `show`."""

    def __init__(self, path: Path, tokenizer, prompts: list[str], cfg: GenerateConfig, show=False):
        self.path, self.tokenizer, self.prompts, self.cfg = Path(path), tokenizer, prompts, cfg
        self.show = show

    def sample(self, model, step: int) -> list[dict]:
        taken = take_samples(model, self.tokenizer, self.prompts, self.cfg, step)
        records.append_samples(self.path, taken)
        if self.show:
            _print_above_progress_bar(records.format_evaluation(taken))
        return taken

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if state.is_world_process_zero and model is not None:
            self.sample(model, state.global_step)


def for_run(
    path: Path, cfg: TrainConfig, model, tokenizer, splits, show: bool
) -> SampleAtEvaluation | None:
    """The sampler of a run (None with `sample_tokens` 0): `cfg.sample_prompts`,
    else the opening words of two validation documents; prompts too long for
    the model are refused before training starts. With prompt/answer data,
    each prompt is a user message rendered with the chat template, and the
    default prompts are two validation conversations up to their first answer."""
    if cfg.sample_tokens == 0:
        return None
    generation = sample_config(cfg)
    if getattr(splits, "chat", None) is not None:  # prompt/answer data: user messages
        chat_files = {splits.files.index(path) for path in splits.chat["per_file"]}
        prompts = [chat_prompt(tokenizer, p) for p in cfg.sample_prompts] or held_out_prompts(
            splits.validation, tokenizer, chat_files
        )
    else:
        prompts = list(cfg.sample_prompts) or default_prompts(
            splits.validation, tokenizer, by_document=splits.split_by == "document"
        )
    check_prompts(prompts, model, tokenizer, generation)
    return SampleAtEvaluation(path, tokenizer, prompts, generation, show=show)


def final_samples(trainer) -> list[dict]:
    """results.json's `samples`: per prompt the base model's text and the
    saved model's (the best checkpoint's evaluation, whose weights it has)."""
    from textgen_core.train.checkpoints import step_of

    found = [c for c in trainer.callback_handler.callbacks if isinstance(c, SampleAtEvaluation)]
    if not found:
        return []
    best = trainer.state.best_model_checkpoint
    step = step_of(Path(best)) if best else None
    return records.before_after(records.read_samples(found[0].path), step)
