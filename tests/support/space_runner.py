"""A Space bundle run the way the Hugging Face Space runs it, for tests: the files
as uploaded to the test Hub, written to a folder, started with `python app.py` in
that folder with the Space's environment (SYSTEM=spaces, SPACE_ID, GRADIO_SERVER_NAME,
GRADIO_SERVER_PORT, its secrets), nothing installed and the project not on the path.

The Space installs only its requirements.txt, so the bundle runs on just those:
`requirements_site` links the installed distributions that `pip install -r
requirements.txt` would bring (each and its dependencies) into one folder, and the
app runs with `python -S` (no site-packages) and that folder as its only path. A
library the bundle needs but does not list fails to import there, as on the Space;
an optional one (transformers' accelerate, pandas' pyarrow) is simply absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement

from support.hub_server import HubServer
from support.servers import ServerProcess, free_port


def write_bundle(hub: HubServer, space_id: str, folder: Path) -> Path:
    """The Space's files at the head of main, as a clone of the Space would hold them."""
    for name, content in hub.files(space_id, "space").items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return folder


def installed_closure(requirements: Path) -> set[str]:
    """The distributions `pip install -r requirements` brings: each and its dependencies
    (with the extras asked for), as installed here; canonical names."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    todo = [Requirement(line) for line in lines if line]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        req = todo.pop()
        name, extras = canonical(req.name), frozenset(req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            deps = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for dep in map(Requirement, deps):
            env = [{"extra": extra} for extra in extras or {""}]
            if not dep.marker or any(dep.marker.evaluate(e) for e in env):
                todo.append(dep)
    return {name for name, _ in seen}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_site(requirements: Path, folder: Path) -> Path:
    """A folder linking exactly the installed files of `installed_closure(requirements)`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in installed_closure(requirements):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # not installed here: the run shows whether it was needed
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops - {"..", "__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def space_environment(hub: HubServer, space_id: str, home: Path, port: int) -> dict[str, str]:
    """What the Space runtime sets: its id, the server address, and the secrets as
    variables; no HF_TOKEN (a public model needs none) and no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_TOKEN")}
    env.update(
        SYSTEM="spaces",
        SPACE_ID=space_id,
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_ENDPOINT=hub.url,
        HF_HOME=str(home / "hf_home"),
        TEXTGEN_DATA_DIR=str(home / "data"),
        **hub.repo(space_id, "space").secrets,
    )
    return env


class SpaceProcess(ServerProcess):
    """`python app.py` in a bundle folder, on a free port; the log beside the folder."""

    what = "the Space"

    def __init__(self, hub: HubServer, space_id: str, bundle: Path) -> None:
        port = free_port()
        super().__init__(bundle.parent / f"space-{port}.log", port)
        self.bundle = bundle
        self.env = space_environment(hub, space_id, bundle.parent, self.port)
        site = requirements_site(bundle / "requirements.txt", bundle.parent / "site")
        self.env["PYTHONPATH"] = str(site)
        self.python = [sys.executable, "-S"]  # no site-packages: only what the Space installs

    def command(self):
        return [*self.python, "app.py"], self.env, self.bundle

    def run_python(self, code: str) -> str:
        """Run `code` in the bundle folder with the Space's environment; its stdout."""
        done = subprocess.run(
            [*self.python, "-c", code],
            cwd=self.bundle,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout
