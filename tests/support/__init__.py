"""What the tests share: tiny models and corpora (`models`), tiny training runs
(`runs`), the `textgen` command (`cli`), servers in subprocesses on free ports
(`servers`, `space_runner`), the local Hugging Face Hub (`hub_server`), and documents
in every format textgen reads (`documents`), and the pre-imported interpreter
subprocesses of `textgen` are forked from (`zygote`)."""
