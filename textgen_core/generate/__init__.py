"""Text out: sampling with stop strings (`sampling.generate`), batched decoding of
many requests at once (`batched`) and the request queue that feeds it (`serving`).

May import: `model`, `kernels`, `config`, `errors`.
"""


def __getattr__(name: str):
    # `from textgen_core.generate import generate` (the documented Python API).
    if name == "generate":
        from textgen_core.generate.sampling import generate

        return generate
    raise AttributeError(name)
