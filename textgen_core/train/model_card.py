"""The model card (README.md) of a trained model: Hub metadata, what it was trained on,
how well it learned compared with its base model, and how to load it.

Built only from results.json-style numbers and settings; keys whose names suggest a
secret are dropped and anything shaped like a Hub token is redacted, so a card can
be published safely.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath

from textgen_core.families import FAMILIES
from textgen_core.train.results import RunResults

token_pattern = re.compile(r"hf_[A-Za-z0-9]{30,}")
"""Shape of a Hugging Face access token."""
_SECRET_KEY = re.compile(
    r"(^|[_-])(token|auth|authorization|password|passwd|secret|api_?key)$", re.IGNORECASE
)
_LISTED_FILES = 20


def render_model_card(
    results: RunResults | dict, config: dict, *, repo_id: str | None, adapter: bool = False
) -> str:
    """README.md text with YAML front matter for a run's `results` (a RunResults, or
    the dict of a results.json, any key missing) and `config` (TrainConfig.to_dict());
    `adapter` for a LoRA-only repo."""
    raw = results.to_dict() if isinstance(results, RunResults) else dict(results)
    results, config = RunResults.from_dict(_without_secrets(raw)), _without_secrets(config)
    base = results.base_model or config.get("model")
    sections = [
        _front_matter(results, config, base, adapter),
        f"# {repo_id.split('/')[-1] if repo_id else 'textgen model'}\n\n{_summary(base, adapter)}"
        + _family_note(results.model_type, base),
        _data_section(results),
        _settings_section(config, results),
        _results_section(results, base),
        _samples_section(results, base),
        _memorization_section(results.memorization),
        _usage_section(repo_id, base, adapter),
    ]
    card = "\n\n".join(section for section in sections if section) + "\n"
    return token_pattern.sub("[redacted]", card)


def _front_matter(results: RunResults, config: dict, base: str | None, adapter: bool) -> str:
    meta: dict[str, object] = {}
    if _is_hub_id(base):
        meta["base_model"] = base
    meta["library_name"] = "peft" if adapter else "transformers"
    meta["pipeline_tag"] = "text-generation"
    meta["tags"] = ["textgen", "text-generation"] + (["lora"] if adapter else [])
    for key in ("license", "datasets", "language"):
        value = results.extra.get(key) or config.get(key)
        if value:
            meta[key] = value
    family = FAMILIES.get(results.model_type or "")
    if "license" not in meta and family is not None and family.hub_licence:
        meta["license"] = family.hub_licence  # the base model's, which a fine-tune inherits
    # JSON scalars and lists are valid YAML, and quoting keeps odd names safe
    lines = []
    for key, value in meta.items():
        if isinstance(value, list):
            lines.append(f"{key}:\n" + "\n".join(f"- {json.dumps(item)}" for item in value))
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "---\n" + "\n".join(lines) + "\n---"


def _summary(base: str | None, adapter: bool) -> str:
    what = "A LoRA adapter" if adapter else "A causal language model"
    start = f"fine-tuned from `{base}`" if base else "trained"
    return f"{what} {start} with textgen on the author's own text files."


def _family_note(model_type: str | None, base: str | None) -> str:
    """The base model's family and its licence, which binds the fine-tuned model too."""
    if not model_type:
        return ""
    family = FAMILIES.get(model_type)
    name = f"{family.name} (`{model_type}`)" if family else f"`{model_type}`"
    if base and base.startswith("scratch:"):
        return (
            f"\n\nArchitecture: {name}, trained from random weights: no base model's licence "
            "applies, only its tokenizer's terms."
        )
    licence = family.licence if family else "see the base model's card"
    return (
        f"\n\nBase model family: {name}. Licence: {licence}; the base model's licence "
        "applies to this model too."
    )


def _data_section(results: RunResults) -> str:
    used, skipped = results.files_used, results.files_skipped or []
    lines = ["## Data", ""]
    if isinstance(used, list):
        names = ", ".join(f"`{_name(path)}`" for path in used[:_LISTED_FILES])
        more = f" and {len(used) - _LISTED_FILES} more" if len(used) > _LISTED_FILES else ""
        lines.append(f"- Files used: {len(used)} ({names}{more})")
    elif used is not None:
        lines.append(f"- Files used: {used}")
    if skipped:
        lines.append(f"- Files skipped: {len(skipped)}")
        lines += [f"  - `{_name(item)}`: {_reason(item)}" for item in skipped[:_LISTED_FILES]]
    tokens = [
        ("train", results.train_tokens),
        ("val", results.val_tokens),
        ("test", results.test_tokens),
    ]
    if any(count is not None for _, count in tokens):
        counts = ", ".join(f"{split} {_number(count)}" for split, count in tokens)
        lines.append(f"- Tokens per split: {counts}")
    return "\n".join(lines) if len(lines) > 2 else ""


def _settings_section(config: dict, results: RunResults) -> str:
    if results.precision:  # what `auto` resolved to on the training machine
        config = {**config, "precision": results.precision}
    rows = [(key, value) for key, value in _flatten(config) if value is not None]
    if (results.processes or 1) > 1:  # batch_size is then per process
        rows += [
            ("processes", results.processes),
            ("effective_batch_size", results.effective_batch_size),
        ]
    if not rows:
        return ""
    table = "\n".join(f"| {key} | {_number(value)} |" for key, value in rows)
    return f"## Training settings\n\n| setting | value |\n| --- | --- |\n{table}"


def _results_section(results: RunResults, base: str | None) -> str:
    rows = [
        (
            f"base model (`{base}`)" if base else "base model",
            "base_test_loss",
            "base_test_perplexity",
        ),
        ("fine-tuned", "test_loss", "test_perplexity"),
    ]
    if all(getattr(results, loss) is None for _, loss, _ in rows):
        return ""
    table = "\n".join(
        f"| {label} | {_number(getattr(results, loss))} | {_number(getattr(results, ppl))} |"
        for label, loss, ppl in rows
    )
    facts = [
        f"{label}: {_number(getattr(results, key))}"
        for key, label in (
            ("train_loss", "final train loss"),
            ("val_loss", "validation loss"),
            ("steps", "optimizer steps"),
            ("train_seconds", "training seconds"),
            ("train_tokens_per_second", "training tokens/s"),
        )
        if getattr(results, key) is not None
    ]
    return (
        "## Results\n\nOn held-out test text (lower is better):\n\n"
        f"| model | test loss | test perplexity |\n| --- | --- | --- |\n{table}\n\n"
        + (_sentence("; ".join(facts)) + "\n\n" if facts else "")
        + "![loss](loss.png)"
    )


def _samples_section(results: RunResults, base: str | None) -> str:
    """Before/after: the base model's and the fine-tuned model's continuation
    of the same prompts with the same seed (results.json `samples`)."""
    rows = [r for r in results.samples or [] if isinstance(r, dict) and "prompt" in r]
    if not rows:
        return ""
    seed = (results.config or {}).get("seed")
    parts = [
        "## Samples: before and after",
        "",
        "The same prompts continued with the same sampling settings"
        + (f" and seed ({seed})" if seed is not None else "")
        + " by the base model and by the fine-tuned one:",
    ]
    for row in rows:
        parts += ["", f"**Prompt:** {_inline(row['prompt'])}", ""]
        if row.get("base") is not None:
            label = f"`{base}`" if base else "base model"
            parts += [f"Base model ({label}):", "", _fenced(row["prompt"] + row["base"]), ""]
        step = f", step {row['step']}" if row.get("step") is not None else ""
        parts += [f"Fine-tuned{step}:", "", _fenced(row["prompt"] + str(row.get("fine_tuned", "")))]
    return "\n".join(parts)


def _fenced(text: str) -> str:
    """A code block no backtick run in `text` can close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _inline(text: str) -> str:
    return f"`` {text} ``" if text.strip() else "(empty: the start of a text)"


def _memorization_section(block: dict | None) -> str:
    """Whether the model copies its training text: the verdict, its figures and
    the longest copied passage."""
    if not isinstance(block, dict) or not block.get("verdict"):
        return ""
    rows = [
        ("generated text", block.get("copied_ngram_rate"), block.get("longest_copied_tokens")),
        (
            "the author's unseen text (chance level)",
            block.get("reference_ngram_rate"),
            block.get("reference_longest_tokens"),
        ),
    ]
    table = "\n".join(
        f"| {label} | {_percent(rate)} | {_number(longest)} |" for label, rate, longest in rows
    )
    text = (
        f"## Memorization\n\n**{_number(block['verdict'])}**\n\n"
        f"{_number(block.get('prompts'))} held-out prompts, each continued by "
        f"{_number(block.get('continuation_tokens'))} tokens, compared with the training "
        f"text:\n\n| text | {block.get('ngram', 8)}-grams found in training text | "
        f"longest verbatim passage (tokens) |\n| --- | --- | --- |\n{table}"
    )
    example = block.get("longest_copied_example") or {}
    if example.get("text"):
        quoted = "\n".join(f"> {line}" for line in str(example["text"]).splitlines())
        text += f"\n\nLongest copied passage (from `{_name(example.get('file'))}`):\n\n{quoted}"
    return text


def _percent(value: object) -> str:
    return f"{value:.0%}" if isinstance(value, float) else _number(value)


def _usage_section(repo_id: str | None, base: str | None, adapter: bool) -> str:
    name = repo_id or "path/to/model"
    if adapter:
        python = (
            "from peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{name}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{base or name}")'
        )
    else:
        python = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{name}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{name}")'
        )
    return (
        "## How to use\n\nWith transformers:\n\n"
        f"```python\n{python}\n"
        'inputs = tokenizer("Once upon a time", return_tensors="pt")\n'
        "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=50)[0]))\n```\n\n"
        f'With textgen:\n\n```bash\ntextgen generate {name} --prompt "Once upon a time"\n```'
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _without_secrets(values: object) -> object:
    if isinstance(values, dict):
        return {
            key: _without_secrets(value)
            for key, value in values.items()
            if not _SECRET_KEY.search(str(key))
        }
    if isinstance(values, list):
        return [_without_secrets(value) for value in values]
    return values


def _flatten(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in config.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        elif not isinstance(value, list) or value:
            rows.append((f"{prefix}{key}", value))
    return rows


def _is_hub_id(name: str | None) -> bool:
    if not name or name.startswith((".", "~", "/")) or ":" in name or "\\" in name:
        return False
    return name.count("/") <= 1


def _name(item: object) -> str:
    path = item.get("path", "?") if isinstance(item, dict) else item
    return PurePath(str(path)).name


def _reason(item: object) -> str:
    return str(item.get("reason", "skipped")) if isinstance(item, dict) else "skipped"


def _number(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")
