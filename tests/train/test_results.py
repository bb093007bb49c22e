"""results.json is a public contract: RunResults writes exactly its keys, reads
older and newer files, and still answers `results["key"]`."""

from __future__ import annotations

from textgen_core.train.results import RunResults

# The keys of results.json, in order, as textgen wrote them before RunResults existed.
KEYS = """base_model train_loss val_loss test_loss test_perplexity base_test_loss
base_test_perplexity test_per_file test_tokens_scored train_tokens val_tokens test_tokens
split_by chunks steps processes effective_batch_size epochs_completed best_checkpoint
train_seconds train_tokens_per_second files_used files_skipped config trainable_parameters
total_parameters trainable_fraction""".split()


def test_older_and_newer_files_read_without_loss():
    older = {"base_model": "distilgpt2", "val_loss": 3.5}  # before `processes` existed
    read = RunResults.from_dict(older)
    assert (read.val_loss, read.processes, read.test_loss) == (3.5, 1, None)
    newer = {**RunResults(base_model="x").to_dict(), "something_new": {"a": 1}}
    assert RunResults.from_dict(newer).to_dict() == newer
