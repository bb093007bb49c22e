"""What a job's run folder shows people: its loss curves, and its results with
the uploaded files under the names their uploaders gave them (the server's
stored paths never leave it)."""

from __future__ import annotations

import json
from pathlib import Path

from textgen_core.app.uploads import shown
from textgen_core.train.results import RunResults


def loss_curves(path: Path) -> dict[str, list[list[float]]]:
    """[step, loss] pairs of training and validation loss (a line being written is skipped)."""
    train, validation = [], []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if "loss" in record:
                train.append([record["step"], record["loss"]])
            if "val_loss" in record:
                validation.append([record["step"], record["val_loss"]])
    return {"train": train, "validation": validation}


def shown_results(results: RunResults, names: dict[str, str]) -> dict:
    """The API's results: results.json with the stored files' paths replaced by
    the names people gave them and no server paths."""
    api = results.to_dict()
    api["files_used"] = [shown(p, names) for p in results.files_used]
    # "file", not "path": API clients take any {"path": ...} object for a file to download
    api["files_skipped"] = [
        {"file": shown(s["path"], names), "reason": shown(s["reason"], names)}
        for s in results.files_skipped
    ]
    api["test_per_file"] = {shown(p, names): v for p, v in results.test_per_file.items()}
    api["file_table"] = [
        {
            **{k: v for k, v in row.items() if k != "path"},
            "file": shown(row["path"], names),
            **({"reason": shown(row["reason"], names)} if "reason" in row else {}),
        }
        for row in results.file_table
    ]
    api.pop("best_checkpoint", None)
    if results.memorization:
        api["memorization"] = _shown_memorization(results.memorization, names)
    return api


def _shown_memorization(block: dict, names: dict[str, str]) -> dict:
    """The memorization block naming the copied file as its uploader named it."""
    block, example = dict(block), dict(block.get("longest_copied_example") or {})
    stored = example.get("file")
    if stored:
        example["file"] = names.get(stored, Path(stored).name)
        block["verdict"] = block["verdict"].replace(Path(stored).name, example["file"])
    block["longest_copied_example"] = example
    return block
