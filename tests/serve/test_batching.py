"""Batched serving: concurrent requests decoded together give what each would alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from textgen_core.config import GenerateConfig
from textgen_core.errors import TextgenError
from textgen_core.generate.sampling import generate
from textgen_core.model.loading import load_for_inference
from textgen_core.serve.batching import Batcher, Server
from textgen_core.serve.settings import ServeConfig

PROMPTS = ["To be, or not", "Hello", "The quick brown fox jumps over the", "A", "Dear friend,"]


@pytest.fixture(scope="module")
def loaded(tiny_model):
    return load_for_inference(str(tiny_model))


def together(batcher: Batcher, requests: list[tuple[str, GenerateConfig]]) -> list[str]:
    """All requests submitted at once from their own threads."""
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(lambda r: batcher.generate(*r), requests))


def test_greedy_requests_in_one_batch_equal_each_decoded_alone(loaded):
    model, tokenizer = loaded
    requests = [
        (p, GenerateConfig(max_new_tokens=8 + 5 * i, temperature=0, repetition_penalty=1 + i / 10))
        for i, p in enumerate(PROMPTS)
    ]
    batcher = Batcher(model, tokenizer, max_batch=8, gap=1.0, window=1.0)
    texts = together(batcher, requests)
    assert batcher.batch_sizes == [len(requests)]
    assert texts == [generate(model, tokenizer, p, cfg)[0] for p, cfg in requests]
    assert len(set(texts)) > 1


def test_seeded_sampling_does_not_depend_on_the_batch(loaded):
    model, tokenizer = loaded
    mixed = [
        ("Hello", GenerateConfig(max_new_tokens=20, temperature=0.9, seed=7)),
        ("Hello", GenerateConfig(max_new_tokens=20, temperature=0.9, seed=8)),
        ("A", GenerateConfig(max_new_tokens=12, temperature=1.3, top_k=0, top_p=0.8, seed=7)),
        ("A", GenerateConfig(max_new_tokens=12, temperature=0, seed=7)),
    ]
    batcher = Batcher(model, tokenizer, max_batch=8, gap=1.0, window=1.0)
    texts = together(batcher, mixed)
    alone = [Batcher(model, tokenizer).generate(*request) for request in mixed]
    assert batcher.batch_sizes == [4]
    assert texts == alone
    # the same tokens as `textgen generate --seed` draws
    assert texts == [generate(model, tokenizer, p, cfg)[0] for p, cfg in mixed]
    assert texts[0] != texts[1]  # each row its own generator


def test_each_request_stops_at_its_own_stop_string(loaded):
    model, tokenizer = loaded
    free = GenerateConfig(max_new_tokens=30, temperature=0)
    full = generate(model, tokenizer, "Hello", free)[0]
    stop = full[10:13]
    stopped = GenerateConfig(max_new_tokens=30, temperature=0, stop=[stop])
    batcher = Batcher(model, tokenizer, gap=1.0, window=1.0)
    texts = together(batcher, [("Hello", free), ("Hello", stopped)])
    assert texts == [full, full[: full.index(stop)]]
    pieces = list(batcher.stream("Hello", stopped))
    assert len(pieces) >= 1 and "".join(pieces) == full[: full.index(stop)]


def test_bad_requests_are_refused_before_they_join_a_batch(loaded):
    model, tokenizer = loaded
    batcher = Batcher(model, tokenizer)
    with pytest.raises(TextgenError, match="exceeds the model's context"):
        batcher.generate("Hello", GenerateConfig(max_new_tokens=10_000))
    with pytest.raises(TextgenError, match="--top-p"):
        batcher.generate("Hello", GenerateConfig(top_p=0))
    assert batcher.batch_sizes == []
    full = Batcher(model, tokenizer, max_waiting=0)
    with pytest.raises(TextgenError, match="busy: 0 requests are already waiting"):
        full.generate("Hello", GenerateConfig(max_new_tokens=2))


def test_server_keeps_one_batcher_per_loaded_model(tiny_model):
    server = Server(config=ServeConfig(max_batch=4))
    first = server.batcher(str(tiny_model))
    assert server.batcher(str(tiny_model)) is first
    assert "".join(server.stream(str(tiny_model), "Hi", GenerateConfig(max_new_tokens=3)))
