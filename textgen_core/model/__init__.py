"""Models in: load a base model and its tokenizer from a Hub id, a local folder or
`scratch:*` (`loading`), give the tokenizer a pad token (the family's rule:
textgen_core.families) and the embeddings the rows it needs, wrap it in LoRA, and
keep recently used models loaded (`cache`).

May import: `textgen_core.config`, `families`, `run_folder`, `precision`,
`chat_template`, `errors`.
"""
