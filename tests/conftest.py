"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_server import ALICE_TOKEN, USER_TOKENS, HubServer

# ---------------------------------------------------------------------------------------
# Hub: a local Hugging Face Hub over real HTTP (tests/hub_server.py)
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
