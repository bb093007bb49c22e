"""What a trained model writes and how runs differ: the samples taken at each
evaluation (`samples.jsonl`), the memorization report, and the comparison of
run folders (`compare`). Reads run folders as files.

May import: `generate`, `data`, `model`, `kernels`, `config`, `errors`.
"""
