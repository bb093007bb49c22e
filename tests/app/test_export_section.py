"""The Publish tab's Export section: a model trained in the app comes back as a zip
to download, with the parity figures shown beside it."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from textgen_core.app.ui.export_section import CHOICES, export_for_download
from textgen_core.errors import TextgenError


class OneRun:
    """The part of the job store the section uses: a job id's run folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def run_dir(self, job_id: str) -> Path:
        if job_id != "job-1":
            raise TextgenError(f"job {job_id}: no such job")
        return self.folder


def test_export_section_offers_the_onnx_folder_as_a_zip_with_its_figures(tiny_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_model, run / "model")
    (run / "results.json").write_text("{}")
    choice = next(c for c, (to, q) in CHOICES.items() if (to, q) == ("onnx", "fp32"))

    download, figures = export_for_download(OneRun(run), "job-1", choice)

    names = set(zipfile.ZipFile(download).namelist())
    assert {"onnx/model.onnx", "tokenizer.json", "config.json", "export.json"} <= names
    assert Path(download).parent == run / "exports"
    assert "- fp32: perplexity" in figures and "max logit difference" in figures


def test_export_section_without_a_model_says_so(tmp_path):
    with pytest.raises(TextgenError, match="model: choose a trained model"):
        export_for_download(OneRun(tmp_path), "", next(iter(CHOICES)))
