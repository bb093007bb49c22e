"""Models in: load a base model and its tokenizer from a Hub id, a local folder or
`scratch:*` (`loading`), add the [PAD] token and vocabulary padding, wrap it in
LoRA, and keep recently used models loaded (`cache`).

May import: `textgen_core.config`, `run_folder`, `precision`, `errors`.
"""
