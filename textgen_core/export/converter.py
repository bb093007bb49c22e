"""llama.cpp's own Hugging Face -> GGUF converter (`convert_hf_to_gguf.py` and its
`conversion/` package), fetched once and run in its own process.

Where it comes from: the source distribution of `llama-cpp-python` on PyPI (the
same pinned version whose llama.cpp measures the parity, so the converter writes
what that llama.cpp reads), downloaded with pip and unpacked into textgen's cache:
only the converter, its `conversion/` package, the `gguf-py` it imports and
llama.cpp's MIT licence. Neither llama-cpp-python nor a C++ build is needed to
write a GGUF file; pip's own settings (PIP_INDEX_URL, PIP_FIND_LINKS) apply, so a
mirror or a folder holding the archive works offline.

Why a subprocess: the converter puts its own `gguf-py` first on its import path.
That copy carries the same version number as PyPI's `gguf==0.19.0` (which textgen
and its tests import to read files) but newer contents (architectures, tensor
maps), so the two must never share a process. The converter needs torch, numpy,
transformers and safetensors (textgen's own requirements) and, for SentencePiece
vocabularies (Gemma), `sentencepiece`.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from textgen_core.errors import TextgenError
from textgen_core.model.offline_tokenizers import cache_root

LLAMA_CPP_PYTHON = "0.3.36"
_SDIST_ROOT = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
_WANTED = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/gguf/", "LICENSE")
SCRIPT = "convert_hf_to_gguf.py"


def converter_dir() -> Path:
    """The folder holding `convert_hf_to_gguf.py`, fetched on first use."""
    folder = cache_root() / f"llama.cpp-convert-{LLAMA_CPP_PYTHON}"
    if not (folder / SCRIPT).is_file():
        cache_root().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".convert-", dir=cache_root()) as work:
            unpacked = _unpack(_download(Path(work)), Path(work) / "out")
            try:  # another process may have finished first: its copy is the same
                os.replace(unpacked, folder)
            except OSError:
                if not (folder / SCRIPT).is_file():
                    raise
    return folder


def _download(work: Path) -> Path:
    pin = f"llama-cpp-python=={LLAMA_CPP_PYTHON}"
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
    done = subprocess.run(
        [*command, "--quiet", "--dest", str(work), pin],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    archives = list(work.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or not archives:
        why = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise TextgenError(
            f"GGUF export: llama.cpp's converter comes from the {pin} source archive on "
            f"PyPI, and `pip download` failed ({why}); check that PyPI is reachable, or put "
            f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz in a folder and set PIP_FIND_LINKS "
            "to it (with PIP_NO_INDEX=1 offline)"
        )
    return archives[0]


def _unpack(archive: Path, target: Path) -> Path:
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            inner = member.name.removeprefix(_SDIST_ROOT)
            if inner != member.name and inner.startswith(_WANTED) and member.isfile():
                member.name = inner
                members.append(member)
        tar.extractall(target, members=members, filter="data")
    if not (target / SCRIPT).is_file():
        raise RuntimeError(f"{archive.name} holds no {_SDIST_ROOT}{SCRIPT}")
    return target


def convert(model_folder: Path, out: Path, *, outtype: str, name: str) -> None:
    """Run the converter on a Hugging Face model folder, writing the GGUF `out`."""
    folder = converter_dir()
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    shim = Path(__file__).with_name("llama_cpp_convert.py")
    command = [sys.executable, str(shim), str(folder), str(model_folder)]
    command += ["--outfile", str(out), "--outtype", outtype, "--model-name", name]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode == 0 and out.is_file():
        return
    if "No space left on device" in done.stderr:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out))
    tail = "\n".join(done.stderr.strip().splitlines()[-5:])
    raise RuntimeError(f"llama.cpp's converter failed on {model_folder}:\n{tail}")
