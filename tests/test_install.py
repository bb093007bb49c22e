"""textgen as a user installs it: a built wheel holds every subpackage and requires
what running needs (llama.cpp only as the `llama` extra), and once installed (no
source tree on the path) `textgen app` starts and answers HTTP."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support.servers import AppServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("dist"))


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return next(out.glob("textgen-*.whl"))


def test_wheel_holds_every_subpackage_of_the_source_tree(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        str(init.parent.relative_to(REPO)) for init in (REPO / "textgen_core").rglob("__init__.py")
    )
    assert "textgen_core/app/ui" in packages
    assert [p for p in packages if f"{p}/__init__.py" not in names] == []


def test_installed_wheel_starts_the_app_outside_the_source_tree(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages as a plain path
    # entry: its .pth files (the editable install of the source tree) are not run.
    (site_packages(python) / "deps.pth").write_text(site.getsitepackages()[0] + "\n")
    outside = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no source tree
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        env=outside,
        check=True,
        capture_output=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(python), "-c", "import textgen_core; print(textgen_core.__file__)"],
        cwd=tmp_path,
        env=outside,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(venv)), (
        where.stdout + where.stderr
    )  # the installed copy, not the source tree
    app = AppServer(tmp_path / "data", command=[str(venv / "bin" / "textgen"), "app"])
    try:
        app.start(timeout=300)
        assert "gradio" in urlopen_text(app.url).lower()
    finally:
        app.stop()


def test_wheel_requires_the_runtime_pins_and_offers_llama_cpp_as_an_extra(wheel):
    """`pip install textgen` brings requirements.txt; `textgen[llama]` adds llama.cpp at
    the pin the tests measure parity with (requirements-dev.txt)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA")))
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in meta.decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    runtime = {str(r) for r in requires if r.marker is None}
    assert runtime == {str(r) for r in pinned(REPO / "requirements.txt")}
    [llama] = [r for r in requires if r.marker is not None]
    assert llama.marker.evaluate({"extra": "llama"}) and not llama.marker.evaluate({"extra": ""})
    dev = {r.name: r for r in pinned(REPO / "requirements-dev.txt")}
    assert str(llama.specifier) == str(dev["llama-cpp-python"].specifier) != ""
    assert "llama-cpp-python" not in {r.name for r in pinned(REPO / "requirements.txt")}


def pinned(path: Path) -> list[Requirement]:
    """The requirements a requirements file names itself (not those it includes)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(out)


def urlopen_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()
