"""textgen as a user installs it: a built wheel holds every subpackage, and once
installed (no source tree on the path) `textgen app` starts and answers HTTP."""

from __future__ import annotations

import site
import subprocess
import sys
import zipfile
from pathlib import Path

from support.servers import AppServer

REPO = Path(__file__).resolve().parents[1]


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


def test_wheel_holds_every_subpackage_of_the_source_tree(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        str(init.parent.relative_to(REPO)) for init in (REPO / "textgen_core").rglob("__init__.py")
    )
    assert "textgen_core/app/ui" in packages
    assert [p for p in packages if f"{p}/__init__.py" not in names] == []


def test_installed_wheel_starts_the_app_outside_the_source_tree(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # The dependencies come from this environment's site-packages as a plain path
    # entry: its .pth files (the editable install of the source tree) are not run.
    (site_packages(python) / "deps.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(python), "-c", "import textgen_core; print(textgen_core.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed copy, not the source tree
    app = AppServer(tmp_path / "data", command=[str(venv / "bin" / "textgen"), "app"])
    try:
        app.start(timeout=300)
        assert "gradio" in urlopen_text(app.url).lower()
    finally:
        app.stop()


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
