"""Checkpoints mirrored to a Hub repo while a run trains (`--hub-checkpoints`,
`--resume-from-hub`). The run takes a `HubSync` as it is given: it calls
`download` before training and adds `callback()` to the Trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from textgen_core.hub.repo import download_latest_checkpoint, push_checkpoint


@dataclass
class HubSync:
    """Checkpoints mirrored to a Hub repo, so a run on a machine that may vanish
    (a Space) can resume elsewhere."""

    repo_id: str
    token: str | None = None
    push: bool = True
    pull: bool = False

    def callback(self) -> TrainerCallback | None:
        return _PushCheckpoints(self) if self.push else None

    def download(self, checkpoints: Path) -> Path | None:
        return download_latest_checkpoint(self.repo_id, checkpoints, token=self.token)


class _PushCheckpoints(TrainerCallback):
    def __init__(self, sync: HubSync):
        self.sync = sync

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        push_checkpoint(folder, self.sync.repo_id, token=self.sync.token)
