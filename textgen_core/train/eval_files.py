"""`textgen eval`: a model's loss and perplexity on text files, per file, with
the step it was trained to (and, asked for, whether it copies those files)."""

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
    from textgen_core.data.file_table import file_rows, format_file_table
    from textgen_core.data.ingest import load_corpus
    from textgen_core.data.prepare import chunk_all, tokenize
    from textgen_core.model.loading import load_for_inference
    from textgen_core.train.checkpoints import trained_step
    from textgen_core.train.evaluate import evaluate_loss

    data, cfg = data or DataConfig(), cfg or EvalConfig()
    data.validate()
    corpus = load_corpus(paths, doc_separator=data.doc_separator)
    for skipped in corpus.skipped:
        logger.warning(f"warning: skipped {skipped.path}: {skipped.reason}")
    loaded, tokenizer = load_for_inference(model, revision=revision)
    tok = tokenize(corpus, tokenizer)
    table = file_rows(corpus, tok.tokens_per_file())
    logger.info(format_file_table(table))
    result = evaluate_loss(
        loaded,
        chunk_all(tok, data.chunk_size, tokenizer.pad_token_id),
        batch_size=cfg.batch_size,
        files=tok.files,
        every_file=True,
    )
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
