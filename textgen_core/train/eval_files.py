"""`textgen eval`: a model's loss and perplexity on text files, per file, with
the step it was trained to (and, asked for, whether it copies those files).
Prompt/answer and chat files are scored on their answers, rendered with the
model's chat template (textgen's minimal one for a model without, as training
would give it)."""

from __future__ import annotations

import logging

from textgen_core.config import DataConfig, EvalConfig

logger = logging.getLogger(__name__)


def evaluate(
    model: str,
    paths,
    data: DataConfig | None = None,
    cfg: EvalConfig | None = None,
    *,
    revision: str | None = None,
) -> dict:
    """loss, perplexity, tokens, step, per_file and file_table of `model` (a Hub
    id, a folder, any checkpoint of a run) on the files under `paths`, cut into
    chunks as `data` says (its chunk_size and doc_separator); with
    `cfg.memorization`, also the memorization block."""
    from textgen_core.data.chat_formats import Columns
    from textgen_core.data.file_table import format_file_table
    from textgen_core.data.ingest import load_corpus
    from textgen_core.model.loading import load_for_inference
    from textgen_core.train.checkpoints import trained_step
    from textgen_core.train.evaluate import evaluate_loss

    data, cfg = data or DataConfig(), cfg or EvalConfig()
    data.validate()
    corpus = load_corpus(paths, doc_separator=data.doc_separator, columns=Columns.of(data))
    corpus.require_text()
    loaded, tokenizer = load_for_inference(model, revision=revision)
    chunks, files, table = _scored(corpus, loaded, tokenizer, data)
    for skipped in corpus.skipped:
        logger.warning(f"warning: skipped {skipped.path}: {skipped.reason}")
    logger.info(format_file_table(table))
    result = evaluate_loss(loaded, chunks, batch_size=cfg.batch_size, files=files, every_file=True)
    report = {
        **result.to_dict(),
        "step": trained_step(model),
        "per_file": result.per_file,
        "file_table": table,
    }
    if cfg.memorization:
        from textgen_core.quality.memorization import memorization_on_files

        report["memorization"] = memorization_on_files(
            loaded, tokenizer, corpus, model, chunk_size=data.chunk_size
        )
    return report


def _scored(corpus, model, tokenizer, data: DataConfig):
    """(the rows to score, their files, the file table): every text token, and
    every answer token of the prompt/answer files."""
    from datasets import concatenate_datasets

    from textgen_core.chat_template import ensure_chat_template
    from textgen_core.data.file_table import file_rows, left_out
    from textgen_core.data.prepare import chat_all, chunk_all, tokenize_all
    from textgen_core.model.loading import prepare_for_tokenizer

    if corpus.chat_sources and ensure_chat_template(tokenizer):
        prepare_for_tokenizer(model, tokenizer)  # rows for the template's two tokens
    tok, chat = tokenize_all(corpus, tokenizer, data)
    parts, tokens, summary = [], {}, None
    if tok is not None:
        parts.append(chunk_all(tok, data.chunk_size, tokenizer.pad_token_id))
        tokens = tok.tokens_per_file()
    if chat is not None:
        width = data.chunk_size if tok is not None else int(chat.lengths.max())
        parts.append(chat_all(chat, width, tokenizer.pad_token_id))
        summary = {"per_file": chat.stats(), "left_out": chat.left_out, "train_on": "answers"}
        corpus.skipped.extend(left_out(summary))
    files = tok.files if tok is not None else chat.files
    return concatenate_datasets(parts), files, file_rows(corpus, tokens, summary)
