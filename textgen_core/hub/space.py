"""Spaces on the Hugging Face Hub: the studio (the whole web app, training on the
Space's hardware) and the demo of one trained model (generate only, free CPU).

A studio runs training on its owner's hardware, so it is private unless the owner
makes it public *with* a login: `auth` ("USER:PASS") is stored as the Space secret
`TEXTGEN_AUTH`, which app.py reads; it never goes into a file of the Space. A demo
is public by default: it pins the model's commit at deploy time, so the Space
keeps serving the weights it was deployed with even when the model repo moves on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from textgen_core.errors import TextgenError, hub_endpoint
from textgen_core.hub.repo import (
    Upload,
    _additions,
    _api,
    _folder_files,
    _hub_errors,
    _refuse_token_inside,
    _require_token,
)

__all__ = ["AUTH_SECRET", "DEMO_SETTINGS", "deploy_demo_space", "deploy_space", "space_bundle"]

STUDIO_HARDWARE = "t4-small"
"""Hardware asked for a studio: training wants a GPU."""
DEMO_HARDWARE = "cpu-basic"
"""Hardware asked for a demo: the free CPU decodes a small model fine."""
AUTH_SECRET = "TEXTGEN_AUTH"
"""Name of the Space secret holding USER:PASS; app.py (both kinds) reads it."""
DEMO_SETTINGS = "textgen_demo.json"
"""The demo bundle's record of which model (and commit) it serves."""
_WEIGHTS = (".safetensors", ".bin")

logger = logging.getLogger(__name__)


def deploy_space(
    space_id: str,
    *,
    project_root: Path,
    hardware: str | None = STUDIO_HARDWARE,
    public: bool = False,
    auth: str | None = None,
    token: str | None = None,
) -> str:
    """Create (or update) the studio Space: the whole web app; return the Space URL.

    Private unless `public`, and `public` needs `auth` ("USER:PASS"): a public studio
    without a login would let anyone train on the owner's hardware. Redeploying sets
    the visibility again, so an older public studio becomes private."""
    _check_auth(auth)
    if public and not auth:
        raise TextgenError(
            f"--public: a public studio lets anyone train on {space_id}'s hardware; add "
            "--auth USER:PASS (kept as the Space secret TEXTGEN_AUTH), or leave it private"
        )
    files = space_bundle(Path(project_root))
    return _deploy(space_id, files, hardware, not public, auth, token, "Deploy textgen studio")


def deploy_demo_space(
    space_id: str,
    model_id: str,
    *,
    project_root: Path,
    revision: str | None = None,
    hardware: str | None = DEMO_HARDWARE,
    private: bool = False,
    auth: str | None = None,
    token: str | None = None,
) -> str:
    """Create (or update) a Space that serves `model_id` (a Hub model pushed by
    `textgen push`) for anyone to prompt; return the Space URL.

    The Space loads the model from the Hub at start-up, at the commit `revision`
    resolves to now (default: the newest), and shows its test perplexity before and
    after fine-tuning, its data summary and example prompts from the run."""
    _check_auth(auth)
    token = _require_token(token, space_id)
    with _hub_errors(f"cannot read the model {model_id}", model_id):
        info = _api(token).model_info(model_id, revision=revision)
    _check_servable(model_id, info)
    if info.private:  # a Space gets no token of yours unless you add one
        logger.warning(
            f"note: {model_id} is private, so the Space cannot download it: make the model "
            "public, or add a read token as the Space secret HF_TOKEN"
        )
    demo = {"model": info.id, "revision": info.sha, "space": space_id}
    files = space_bundle(Path(project_root), demo=demo)
    return _deploy(space_id, files, hardware, private, auth, token, f"Deploy demo of {info.id}")


def space_bundle(root: Path, *, demo: dict | None = None) -> Upload:
    """Repo path -> content of every file a Space gets: the studio's app.py, or with
    `demo` ({"model", "revision", "space"}) the demo's, with its settings and README; and the
    textgen_core package (Python files) that both run on."""
    folder = root / "spaces" / "demo" if demo else root / "spaces"
    app = root / "spaces" / "demo" / "app.py" if demo else root / "app.py"
    files: Upload = {
        "app.py": app,
        "requirements.txt": folder / "requirements.txt",
        "README.md": folder / "README.md",
    }
    missing = [str(path) for path in files.values() if not Path(path).is_file()]
    if missing:
        raise TextgenError(f"cannot deploy: missing {', '.join(missing)} under {root}")
    if demo:
        files["README.md"] = _demo_readme(Path(files["README.md"]), demo)
        files[DEMO_SETTINGS] = (json.dumps(demo, indent=2) + "\n").encode()
    package = root / "textgen_core"
    files.update(
        (f"textgen_core/{rel}", path)
        for rel, path in _folder_files(package)
        if rel.endswith(".py") and "__pycache__" not in rel
    )
    return files


def _deploy(
    space_id: str,
    files: Upload,
    hardware: str | None,
    private: bool,
    auth: str | None,
    token: str | None,
    message: str,
) -> str:
    token = _require_token(token, space_id)
    _refuse_token_inside(files, token)
    with _hub_errors(f"cannot deploy the Space {space_id}", space_id):
        api = _api(token)
        url = api.create_repo(
            space_id,
            repo_type="space",
            space_sdk="gradio",
            space_hardware=hardware or None,
            private=private,
            exist_ok=True,
        )
        if api.space_info(url.repo_id).private != private:  # it existed, with the other setting
            api.update_repo_settings(url.repo_id, repo_type="space", private=private)
        if auth is not None:
            api.add_space_secret(url.repo_id, AUTH_SECRET, auth, description="USER:PASS login")
        api.create_commit(
            url.repo_id, repo_type="space", operations=_additions(files), commit_message=message
        )
    return f"{hub_endpoint()}/spaces/{url.repo_id}"


def _check_auth(auth: str | None) -> None:
    if auth is None:
        return
    user, sep, password = auth.partition(":")
    if not (sep and user.strip() and password):
        raise TextgenError("--auth: must be USER:PASS, for example ann:a-long-passphrase")


def _check_servable(model_id: str, info) -> None:
    """A demo serves a full model: config.json and weights at the repo root."""
    names = {sibling.rfilename for sibling in info.siblings or []}
    if "config.json" in names and any("/" not in n and n.endswith(_WEIGHTS) for n in names):
        return
    hint = (
        "it holds only a LoRA adapter; push the merged model (textgen push without --adapter-only)"
        if "adapter_config.json" in names
        else "push a trained model there first (textgen push RUN_DIR REPO_ID)"
    )
    raise TextgenError(f"--model {model_id}: no config.json and weights at its root: {hint}")


def _demo_readme(template: Path, demo: dict) -> bytes:
    """The demo template's README.md (Space settings and text) for `demo`'s model."""
    text = template.read_text(encoding="utf-8")
    values = {"model_id": demo["model"], "model_name": demo["model"].split("/")[-1]}
    values["space_id"] = demo["space"]
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text.encode()
