"""64 streaming clients at once against `textgen serve`: all answered in
full, no server error, requests batched together, and the server serves after."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from support.servers import ApiServer, metric

CLIENTS = 64
TOKENS = 16


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model):
    server = ApiServer(tmp_path_factory.mktemp("serve_load"), [f"tiny={tiny_model}"]).start()
    yield server
    server.stop()


async def stream_one(client: openai.AsyncOpenAI, i: int) -> tuple[str, str | None]:
    stream = await client.completions.create(
        model="tiny",
        prompt=f"Request {i} says",
        max_tokens=TOKENS,
        temperature=0.8,
        seed=i,
        stream=True,
    )
    text, finish = "", None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.text
            finish = choice.finish_reason or finish
    return text, finish


async def crowd(url: str) -> list:
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=120)
    try:
        tasks = [stream_one(client, i) for i in range(CLIENTS)]
        return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 180)
    finally:
        await client.close()


def test_sixty_four_concurrent_streams_complete_in_batches_and_the_server_serves_after(served):
    began = time.perf_counter()
    answers = asyncio.run(crowd(served.url))
    seconds = time.perf_counter() - began
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert failures == []
    assert all(finish == "length" and text for text, finish in answers)
    assert seconds < 180

    metrics = httpx.get(served.url + "/metrics").text
    assert metric(metrics, 'textgen_requests_total{route="/v1/completions",status="200"}') == 64
    assert 'status="5' not in metrics  # no 5xx answered
    assert metric(metrics, "textgen_completion_tokens_total") == CLIENTS * TOKENS
    batches = metric(metrics, "textgen_batch_size_count")
    alone = metric(metrics, 'textgen_batch_size_bucket{le="1.0"}')
    assert batches < CLIENTS and alone < batches  # rows were decoded together
    assert metric(metrics, "textgen_batch_size_sum") == CLIENTS
    assert metric(metrics, "textgen_queue_depth") == 0

    after = httpx.post(
        served.url + "/v1/completions",
        json={
            "model": "tiny",
            "prompt": "Request 5 says",
            "max_tokens": TOKENS,
            "seed": 5,
            "temperature": 0.8,
        },
        timeout=60,
    )
    assert after.status_code == 200
    assert after.json()["choices"][0]["text"] == answers[5][0]  # seeded: the same text alone
