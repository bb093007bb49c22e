"""A run recorded before a setting existed still resumes: the new setting
counts at its default."""

from __future__ import annotations

import json

import pytest

from textgen_core.config import TrainConfig
from textgen_core.errors import TextgenError
from textgen_core.run_folder import RunPaths
from textgen_core.train.resume import resume_point


def _record(config: dict) -> dict:
    return {"config": config, "data_fingerprint": "f", "processes": 1}


def test_a_run_recorded_without_doc_separator_resumes_with_the_default(tmp_path, messages):
    out = RunPaths(tmp_path)
    old = TrainConfig().to_dict()
    del old["data"]["doc_separator"]  # as recorded before the setting existed
    out.record.write_text(json.dumps(_record(old)))
    assert resume_point(out, _record(TrainConfig().to_dict()), False) is None
    assert "no complete checkpoint" in messages[0]


def test_a_changed_doc_separator_is_still_refused(tmp_path):
    out = RunPaths(tmp_path)
    out.record.write_text(json.dumps(_record(TrainConfig().to_dict())))
    changed = TrainConfig()
    changed.data.doc_separator = "***"
    with pytest.raises(TextgenError, match="settings differ"):
        resume_point(out, _record(changed.to_dict()), False)
