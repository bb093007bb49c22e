"""Is the model any good, beyond its loss: whether it copies its training text
(`memorization`, on an n-gram index of the training tokens, `ngrams`).

May import: `generate`, `data`, `model`, `kernels`, `config`, `errors`.
"""
