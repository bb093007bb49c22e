"""Text over HTTP: the OpenAI-compatible API (`api`: routes; `schema`: request
bodies; `choices`: a request's rows in the batcher; `answers` and `stream`:
the JSON and server-sent answers; `metrics`: /metrics), the request queue that
decodes concurrent requests together (`batching`), and `textgen serve`'s own
server (`server`).

May import: `generate`, `model`, `kernels`, `config`, `precision`, `errors`.
"""
