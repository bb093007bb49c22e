"""Checkpoints: complete only once fully written; damage is named, never papered over."""

from __future__ import annotations

import pytest

from textgen_core.errors import TextgenError
from textgen_core.train import checkpoints

FILES = ("model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json")


def make(root, step: int, marked: bool = True):
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).write_bytes(f"{name} at {step}".encode() * 100)
    if marked:
        checkpoints.mark_complete(folder)
    return folder


def truncate(path):
    path.write_bytes(path.read_bytes()[:10])


def garble(path):
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("spoil", "file", "reason"),
    [
        (truncate, "model.safetensors", "bytes"),
        (lambda p: p.write_bytes(b""), "optimizer.pt", "0 bytes"),
        (garble, "scheduler.pt", "contents changed"),
        (lambda p: p.unlink(), "optimizer.pt", "missing"),
        (lambda p: p.write_text("{not json"), checkpoints.MARKER, "unreadable"),
    ],
)
def test_damaged_checkpoint_is_refused_naming_the_file_unless_told_to_fall_back(
    tmp_path, spoil, file, reason, messages
):
    older, newest = make(tmp_path, 10), make(tmp_path, 20)
    spoil(newest / file)
    with pytest.raises(TextgenError, match=rf"{newest / file}: .*{reason}.*--force"):
        checkpoints.resume_point(tmp_path, fall_back=False)
    assert checkpoints.resume_point(tmp_path, fall_back=True) == older
    assert str(newest) in messages[0] and "damaged" in messages[0]


def test_unfinished_save_is_named_and_passed_over(tmp_path, messages):
    done, unfinished = make(tmp_path, 10), make(tmp_path, 20, marked=False)
    assert checkpoints.resume_point(tmp_path, fall_back=False) == done
    assert messages == [
        f"warning: {unfinished} is incomplete (interrupted while saving); ignoring it"
    ]


def test_marker_refuses_a_checkpoint_missing_its_optimizer(tmp_path):
    folder = make(tmp_path, 5, marked=False)
    (folder / "optimizer.pt").unlink()
    with pytest.raises(TextgenError, match="missing optimizer.pt"):
        checkpoints.mark_complete(folder)
    assert not checkpoints.is_complete(folder)


def test_rotation_keeps_the_newest_and_the_best_and_ignores_unfinished(tmp_path):
    for step in (10, 20, 30, 40):
        make(tmp_path, step)
    unfinished = make(tmp_path, 50, marked=False)
    checkpoints.rotate(tmp_path, keep=2, protect=tmp_path / "checkpoint-10")
    left = [p.name for p in checkpoints.all_checkpoints(tmp_path)]
    assert left == ["checkpoint-10", "checkpoint-30", "checkpoint-40", unfinished.name]


def test_a_full_disk_is_recognised_however_the_writer_reports_it(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    make(tmp_path, 10)  # a checkpoint of a few kB: 1 MiB free is the least that counts
    failing = tmp_path / "checkpoint-15"
    assert checkpoints.out_of_space(OSError(errno.ENOSPC, "No space left on device"), failing)
    assert checkpoints.out_of_space(OSError(errno.EDQUOT, "Disk quota exceeded"), failing)
    safetensors_says = RuntimeError("I/O error: No space left on device (os error 28)")
    assert checkpoints.out_of_space(safetensors_says, failing)
    # torch.save on a full disk: a bare RuntimeError; decided by the space left.
    torch_says = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 6784")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    assert checkpoints.out_of_space(torch_says, failing)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 0, 10**9))
    assert not checkpoints.out_of_space(torch_says, failing)
    assert not checkpoints.out_of_space(OSError(errno.EACCES, "Permission denied"), failing)
