"""Does the model write like you or copy you, and how do runs differ: whether it
copies its training text (`memorization`, on an n-gram index of the training
tokens, `ngrams`), the samples taken at each evaluation (`samples.jsonl`), and
the comparison of run folders (`compare`, which reads them as files).

May import: `generate`, `data`, `model`, `kernels`, `config`, `errors`.
"""
