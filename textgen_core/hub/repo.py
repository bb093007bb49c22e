"""The Hugging Face Hub: push trained models and checkpoints, pull checkpoints back,
and explain Hub failures as one-line `TextgenError`s (Spaces: `space.py`).

The endpoint is `HF_ENDPOINT` as it is when each call is made (default
https://huggingface.co), so a mirror or a local test Hub works even when it was
configured after huggingface_hub was imported. Tokens are resolved by
`resolve_token` and only ever sent in the Authorization header: they are never
printed, logged, or written to a file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from textgen_core.errors import TextgenError, hub_endpoint, hub_problem
from textgen_core.train.model_card import render_model_card, token_pattern

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "download_latest_checkpoint",
    "push_checkpoint",
    "push_model",
    "render_model_card",
    "resolve_token",
]

RUN_FILES = ("results.json", "loss.png", "samples.jsonl")
"""Files of a run folder that travel with the model (besides the card, README.md)."""
LATEST_CHECKPOINT = "checkpoints/latest.json"
"""Pointer to the newest checkpoint in a repo, written with every checkpoint push."""
SCAN_LIMIT = 20_000_000
"""Files up to this size are checked for the token before they leave the machine."""
Upload = dict[str, Path | bytes]
"""Repo path -> local file or content: what one commit uploads."""


def resolve_token(token: str | None = None) -> str | None:
    """The token to use: `token` (--token), else HF_TOKEN, else the `hf auth login` cache."""
    if token and token.strip():
        return token.strip()
    from huggingface_hub import get_token

    return os.environ.get("HF_TOKEN", "").strip() or get_token()


def push_model(
    model_dir: Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    adapter_only: bool = False,
    commit_message: str | None = None,
    extra_files: Upload | None = None,
    card_section: str = "",
) -> str:
    """Upload a trained model with its card, results and loss plot; return the repo URL.

    `model_dir` is a run folder (holding `model/`) or the `model/` folder itself. The repo
    root gets the weights, config and tokenizer files, README.md, results.json and loss.png;
    with `adapter_only`, the PEFT adapter from `model/adapter/` instead of the weights.
    `extra_files` (repo path -> file) travel in the same commit, and `card_section` is
    appended to the model card (a GGUF export and its parity, `hub.gguf_files`).
    """
    run_dir, weights_dir = _locate_model(Path(model_dir))
    files = _model_files(run_dir, weights_dir, adapter_only)
    files.update(extra_files or {})
    if card_section:
        card = files["README.md"]
        text = card.read_text(encoding="utf-8") if isinstance(card, Path) else card.decode()
        files["README.md"] = (text.rstrip("\n") + "\n\n" + card_section).encode()
    token = _require_token(token, repo_id)
    _refuse_token_inside(files, token)
    message = commit_message or ("Upload LoRA adapter" if adapter_only else "Upload model")
    with _hub_errors(f"cannot push to {repo_id}", repo_id):
        api = _api(token)
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.create_commit(url.repo_id, operations=_additions(files), commit_message=message)
    return str(url)


def push_checkpoint(
    checkpoint_dir: Path, repo_id: str, *, token: str | None = None, private: bool = False
) -> str:
    """Upload a training checkpoint to `checkpoints/<name>/` in the repo, replacing older ones,
    so that a crashed run (e.g. on a Space) can resume from it. Returns the repo URL."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise TextgenError(f"{checkpoint_dir}: no such checkpoint folder")
    name = checkpoint_dir.name
    files = {f"checkpoints/{name}/{rel}": path for rel, path in _folder_files(checkpoint_dir)}
    token = _require_token(token, repo_id)
    _refuse_token_inside(files, token)
    with _hub_errors(f"cannot push checkpoint {name} to {repo_id}", repo_id):
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        api = _api(token)
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        pointer = json.dumps({"name": name}).encode()
        operations = [*_additions(files), CommitOperationAdd(LATEST_CHECKPOINT, pointer)]
        operations += [
            CommitOperationDelete(f"{old}/", is_folder=True)
            for old in _remote_checkpoints(api, url.repo_id)
            if old != f"checkpoints/{name}"
        ]
        api.create_commit(url.repo_id, operations=operations, commit_message=f"Checkpoint {name}")
    return str(url)


def download_latest_checkpoint(
    repo_id: str, dest: Path, *, token: str | None = None
) -> Path | None:
    """Download the newest checkpoint pushed by `push_checkpoint` into `dest/<name>/`.

    Returns that folder, or None when the repo holds no checkpoint (nothing to resume)."""
    from huggingface_hub.errors import RemoteEntryNotFoundError

    token = resolve_token(token)
    staging = Path(dest) / ".hub-download"
    try:
        with _hub_errors(f"cannot download a checkpoint from {repo_id}", repo_id):
            api = _api(token)
            try:
                pointer = api.hf_hub_download(repo_id, LATEST_CHECKPOINT, local_dir=staging)
            except RemoteEntryNotFoundError:
                return None
            name = json.loads(Path(pointer).read_text())["name"]
            api.snapshot_download(
                repo_id, allow_patterns=f"checkpoints/{name}/*", local_dir=staging
            )
        target = Path(dest) / name
        if target.exists():
            shutil.rmtree(target)
        shutil.move(staging / "checkpoints" / name, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- what goes into a repo ---------------------------------------------------------------


def _locate_model(path: Path) -> tuple[Path | None, Path]:
    """(run folder or None, folder holding the weights) for a run folder or its model/."""
    if (path / "model").is_dir():
        return path, path / "model"
    if (path / "config.json").is_file() or (path / "adapter").is_dir():
        run_dir = path.parent if path.name == "model" else None
        return run_dir, path
    raise TextgenError(
        f"{path}: no trained model here; expected a run folder with model/config.json "
        "(the --output of `textgen train`) or the model/ folder itself"
    )


def _model_files(run_dir: Path | None, weights_dir: Path, adapter_only: bool) -> Upload:
    """Repo path -> local file for everything a model push uploads."""
    source = weights_dir / "adapter" if adapter_only else weights_dir
    if adapter_only and not (source / "adapter_config.json").is_file():
        raise TextgenError(f"{source}: no LoRA adapter (adapter_config.json); train with --lora")
    files: Upload = {
        rel: path for rel, path in _folder_files(source) if not rel.startswith("adapter/")
    }
    for name in RUN_FILES if run_dir else ():
        if (run_dir / name).is_file():
            files[name] = run_dir / name
    files["README.md"] = _model_card(run_dir, adapter_only)
    return files


def _model_card(run_dir: Path | None, adapter_only: bool) -> Path | bytes:
    """The run's README.md, or a card rendered from results.json when there is none (or
    when pushing only the adapter, whose loading instructions differ)."""
    if run_dir and (run_dir / "README.md").is_file() and not adapter_only:
        return run_dir / "README.md"
    results_file = run_dir / "results.json" if run_dir else None
    results = {}
    if results_file and results_file.is_file():
        results = json.loads(results_file.read_text(encoding="utf-8"))
    config = results.get("config") or {}
    return render_model_card(results, config, repo_id=None, adapter=adapter_only).encode()


def _folder_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(posix path relative to folder, path) of every file below it, hidden ones excluded."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            yield rel, path


def _additions(files: Upload) -> list:
    from huggingface_hub import CommitOperationAdd

    return [
        CommitOperationAdd(repo_path, data if isinstance(data, bytes) else str(data))
        for repo_path, data in files.items()
    ]


def _remote_checkpoints(api: HfApi, repo_id: str) -> list[str]:
    from huggingface_hub import RepoFolder
    from huggingface_hub.errors import RemoteEntryNotFoundError

    try:
        entries = list(api.list_repo_tree(repo_id, path_in_repo="checkpoints"))
    except RemoteEntryNotFoundError:
        return []
    return [entry.path for entry in entries if isinstance(entry, RepoFolder)]


# -- tokens and errors ----------------------------------------------------------------------


def _api(token: str | None) -> HfApi:
    from huggingface_hub import HfApi

    from textgen_core import __version__

    # token=False, not None, stops huggingface_hub from looking for one on its own
    return HfApi(
        endpoint=hub_endpoint(),
        token=token or False,
        library_name="textgen",
        library_version=__version__,
    )


def _require_token(token: str | None, repo_id: str) -> str:
    resolved = resolve_token(token)
    if not resolved:
        raise TextgenError(
            f"writing to {repo_id} needs a Hugging Face token with write access: pass --token, "
            "set HF_TOKEN, or run `hf auth login` (tokens: https://huggingface.co/settings/tokens)"
        )
    return resolved


def _refuse_token_inside(files: Upload, token: str) -> None:
    """Stop before uploading a file that contains the token (or, if text, any Hub token)."""
    for repo_path, data in files.items():
        if isinstance(data, Path) and data.stat().st_size > SCAN_LIMIT:
            continue
        content = data if isinstance(data, bytes) else data.read_bytes()
        is_text = PurePosixPath(repo_path).suffix in (".md", ".json", ".txt", ".py", ".yaml")
        if token.encode() in content or (
            is_text and token_pattern.search(content.decode("latin-1"))
        ):
            source = data if isinstance(data, Path) else repo_path
            raise TextgenError(f"{source} contains a Hugging Face token; remove it before pushing")


@contextmanager
def _hub_errors(action: str, repo_id: str) -> Iterator[None]:
    """Re-raise Hub failures as one-line TextgenErrors starting with `action`."""
    try:
        yield
    except TextgenError:
        raise
    except Exception as exc:
        problem = hub_problem(exc, repo_id)
        if problem is None:
            raise
        raise TextgenError(f"{action}: {problem}") from exc
