"""What a demo Space shows about its model, read from the model repo at one commit:
the key figures of results.json (test loss and perplexity of the base model and the
fine-tuned one, the data it learned from) and example prompts from the run's
samples (samples.jsonl), else from its model card."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from textgen_core.hub.repo import _api, _hub_errors, resolve_token
from textgen_core.train.results import RunResults

MAX_EXAMPLES = 6
_CARD_PROMPT = re.compile(r'--prompt "((?:[^"\\\n]|\\.)*)"')


@dataclass
class ModelPage:
    model_id: str
    revision: str
    figures: str
    """Markdown: the before/after table and the data summary."""
    examples: list[str] = field(default_factory=list)
    """Prompts to offer, from the run's samples or the card."""


def read_model_page(model_id: str, revision: str, *, token: str | None = None) -> ModelPage:
    """The page of `model_id` at `revision`, from its results.json, samples.jsonl and
    README.md; a file the repo lacks just leaves its part out."""
    files = _read_files(model_id, revision, ("results.json", "samples.jsonl", "README.md"), token)
    results = RunResults.from_dict(json.loads(files["results.json"] or "{}"))
    examples = example_prompts(files["samples.jsonl"], files["README.md"])
    return ModelPage(model_id, revision, key_figures(results), examples)


def key_figures(results: RunResults | dict) -> str:
    """Markdown of the figures a visitor should see first (any may be missing)."""
    if not isinstance(results, RunResults):  # a results.json as read
        results = RunResults.from_dict(results)
    if results.test_perplexity is None:
        return "This model's repository has no test results (results.json)."
    base = results.base_model
    rows = [
        (
            f"base model (`{base}`)" if base else "base model",
            "base_test_loss",
            "base_test_perplexity",
        ),
        ("fine-tuned", "test_loss", "test_perplexity"),
    ]
    table = "\n".join(
        f"| {label} | {_figure(getattr(results, loss))} | {_figure(getattr(results, ppl))} |"
        for label, loss, ppl in rows
    )
    return (
        "On held-out test text the model never trained on (lower is better):\n\n"
        f"| model | test loss | test perplexity |\n| --- | --- | --- |\n{table}\n\n"
        + data_summary(results)
    )


def data_summary(results: RunResults) -> str:
    """One sentence on what the model learned from."""
    used, skipped = results.files_used, results.files_skipped or []
    parts = []
    if used:
        count = len(used) if isinstance(used, list) else used
        parts.append(f"{count} file{'' if count == 1 else 's'}")
    splits = (
        (results.train_tokens, "train"),
        (results.val_tokens, "validation"),
        (results.test_tokens, "test"),
    )
    tokens = [f"{label} {count:,}" for count, label in splits if count is not None]
    text = "Trained on " + (" ".join(parts) or "its data")
    text += f" (tokens: {', '.join(tokens)})" if tokens else ""
    if skipped:
        text += f"; {len(skipped)} file{'' if len(skipped) == 1 else 's'} skipped"
    if results.steps is not None:
        text += f"; {results.steps:,} optimizer steps"
    return text + "."


def example_prompts(samples_jsonl: str | None, card: str | None) -> list[str]:
    """The distinct non-empty prompts of the run's samples, else those the card shows."""
    prompts: list[str] = []
    for line in (samples_jsonl or "").splitlines():
        try:
            prompt = json.loads(line).get("prompt")
        except (json.JSONDecodeError, AttributeError):
            continue  # a damaged line costs one example, not the page
        if isinstance(prompt, str):
            prompts.append(prompt)
    if not any(p.strip() for p in prompts):
        prompts = [json.loads(f'"{match}"') for match in _CARD_PROMPT.findall(card or "")]
    distinct = dict.fromkeys(p for p in prompts if p.strip())
    return list(distinct)[:MAX_EXAMPLES]


def _read_files(
    model_id: str, revision: str, names: tuple[str, ...], token: str | None
) -> dict[str, str | None]:
    from huggingface_hub.errors import RemoteEntryNotFoundError

    api = _api(resolve_token(token))
    found: dict[str, str | None] = {}
    with _hub_errors(f"cannot read {model_id}", model_id):
        for name in names:
            try:
                path = api.hf_hub_download(model_id, name, revision=revision)
            except RemoteEntryNotFoundError:
                found[name] = None
                continue
            with open(path, encoding="utf-8") as handle:
                found[name] = handle.read()
    return found


def _figure(value: object) -> str:
    return "n/a" if value is None else f"{value:,.4g}" if isinstance(value, float) else str(value)
