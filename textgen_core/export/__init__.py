"""Your model out: a GGUF file for llama.cpp / Ollama / LM Studio (`gguf_file`, with
an Ollama Modelfile from `modelfile`), an ONNX folder with past key values for ONNX
Runtime / Transformers.js (`onnx_file`), and the proof that they are faithful:
perplexity and greedy text measured in the real runtimes (`runtimes`, `parity`).
`source` resolves what is exported, `output` writes it complete-or-absent and
`run` ties them together into `export.json`.

May import: `train` and everything below it.
"""
