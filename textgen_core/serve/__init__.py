"""Text over HTTP: the OpenAI-compatible API (`api`: routes; `schema`: request
bodies; `choices`: a request's rows in the batcher; `answers` and `stream`:
the JSON and server-sent answers; `metrics`: /metrics), the request queue that
decodes concurrent requests together (`batching`), `textgen serve`'s own
server (`server`), and the serving settings both it and the app take their
flags from (`settings`: `ServeConfig`).

May import: `generate`, `model`, `kernels`, `config`, `precision`, `errors`.
"""
