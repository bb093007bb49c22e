"""Text out: sampling with stop strings (`sampling.generate`) and batched decoding
of many rows at once (`batched`), from fp32, bf16 or int8 weights
(`decode_weights`) on the idle cores (`decode_threads`). Serving them over
HTTP is `textgen_core.serve`.

May import: `model`, `kernels`, `config`, `precision`, `errors`.
"""


def __getattr__(name: str):
    # `from textgen_core.generate import generate` (the Python API before textgen_core.api).
    if name == "generate":
        from textgen_core.generate.sampling import generate

        return generate
    raise AttributeError(name)
