"""The family matrix: one trained run per (family, mode), shared by every column.

Rows are `MATRIX`: each family of `runners.FAMILIES` (gpt2, llama, qwen2, qwen3,
gemma3_text) as a tiny model (2 layers, 64 wide, the family's published vocabulary
size: runners.TINY_FAMILIES) with its real tokenizer, trained in each of `MODES`
(full fine-tuning, LoRA). `family_run(model_type, mode)` trains it on first use,
once per test run (shared by both test processes), with `textgen train` in a
subprocess as a user runs it (a few steps, memorization report and samples on),
and returns a `FamilyRun`: the run folder, its results.json and the process's
peak RSS.

Columns are test modules in this folder, each parametrized over `support.runs.MATRIX`
and taking the shared runs, so a column adds only its own work:

- test_matrix.py: train, eval, generate, serve (and the peak-RSS bound)
- export (GGUF, ONNX): add a module here, e.g. test_export_matrix.py, with
  `from support.runs import MATRIX`,
  `@pytest.mark.parametrize(("model_type", "mode"), MATRIX)` and
  `run = family_run(model_type, mode)`; export `run.model` (the merged model
  folder; a LoRA run's adapter is in `run.model / "adapter"`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli import textgen_peak_rss
from support.models import FAMILIES, FAMILY_TOKENIZER, build_tiny_family_model, shakespeare
from support.runs import MODE_ARGS, MODES, TRAIN_ARGS
from support.shared import built_once

from textgen_core.model.offline_tokenizers import tokenizer_dir


@dataclass
class FamilyRun:
    model_type: str
    mode: str
    root: Path
    results: dict
    peak_rss_mb: float

    @property
    def model(self) -> Path:
        """The run's model folder (for LoRA: the merged model, its adapter in adapter/)."""
        return self.root / "model"


@pytest.fixture(scope="session")
def family_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight files of verse (~10k characters): enough chunks of 32 for every split,
    few enough tokens that a 262k-row head scores them quickly."""

    def write(folder):
        text = shakespeare()[:10_000]
        for i in range(8):
            (folder / f"part{i}.txt").write_text(text[i * 1250 : (i + 1) * 1250])

    return built_once(tmp_path_factory, "family_corpus", write)


def _train(
    tmp_path_factory, name: str, model: Path, corpus: Path, model_type: str, mode: str
) -> FamilyRun:
    """The run `name` (once per test run) of `textgen train` in a subprocess, with
    the peak RSS of that process kept beside it for the test processes that read it."""

    def train(folder):
        done, peak = textgen_peak_rss(
            "train", corpus, "--output", folder / "run", "--model", model,
            *TRAIN_ARGS, *MODE_ARGS[mode],
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        (folder / "peak_rss_mb").write_text(str(peak))

    folder = built_once(tmp_path_factory, name, train)
    results = json.loads((folder / "run" / "results.json").read_text())
    peak = float((folder / "peak_rss_mb").read_text())
    return FamilyRun(model_type, mode, folder / "run", results, peak)


@pytest.fixture(scope="session")
def family_run(tmp_path_factory, family_model, family_corpus):
    """`family_run(model_type, mode)` -> FamilyRun, trained once per test run."""

    def get(model_type: str, mode: str) -> FamilyRun:
        assert model_type in FAMILIES and mode in MODES
        model = family_model(model_type)
        name = f"run_{model_type}_{mode}"
        return _train(tmp_path_factory, name, model, family_corpus, model_type, mode)

    return get


@pytest.fixture(scope="session")
def gpt2_like(tmp_path_factory, family_model, family_corpus):
    """`gpt2_like(model_type)` -> FamilyRun: the matrix's full run of a tiny GPT-2
    of that family's size: 2 layers, 64 wide, the family's tokenizer and embedding
    rows, so that only the architecture differs. To compare memory with."""

    def get(model_type: str) -> FamilyRun:
        tokenizer = FAMILY_TOKENIZER[model_type]
        rows = json.loads((family_model(model_type) / "config.json").read_text())["vocab_size"]
        model = built_once(
            tmp_path_factory,
            f"gpt2_like_{tokenizer}",
            lambda folder: build_tiny_family_model(
                folder, "gpt2", vocab_size=rows, tokenizer_folder=tokenizer_dir(tokenizer)
            ),
        )
        name = f"run_gpt2_like_{tokenizer}"
        return _train(tmp_path_factory, name, model, family_corpus, "gpt2", "full")

    return get
