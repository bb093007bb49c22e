"""One `textgen serve` for the API tests: a plain text model (`tiny`) and one with
a chat template (`chat`), behind an API key, with the default request limits."""

from __future__ import annotations

import openai
import pytest
from support.models import build_tiny_model
from support.servers import API_KEY, ApiServer

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


@pytest.fixture(scope="session")
def chat_model(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = build_tiny_model(tmp_path_factory.mktemp("chat_model"), seed=1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def served(tmp_path_factory, tiny_model, chat_model):
    models = [f"tiny={tiny_model}", f"chat={chat_model}"]
    server = ApiServer(tmp_path_factory.mktemp("serve"), models, "--api-key", API_KEY).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(served):
    # retries: a kept-alive connection the server closed after 5 idle seconds is
    # reset when reused (openai retries only that and 408/409/429/5xx, never 4xx)
    return openai.OpenAI(base_url=served.url + "/v1", api_key=API_KEY, max_retries=2)
