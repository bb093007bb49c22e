"""One training run: the run itself (`run.train`), the Trainer subclass
(`trainer`), callbacks, complete-or-absent checkpoints and exact resume
(`checkpoints`, `threads`), several processes (`distributed`), fault injection for tests
(`faults`), token-weighted evaluation (`evaluate`; of a model on files: `eval_files`), the
results record (`results`), the loss plot and summary (`report`) and the run's README.md,
which is also the Hub model card (`model_card`). The run folder's layout and JSON
files are `textgen_core.run_folder`.

May import: `data`, `model`, `kernels`, `generate`, `config`, `errors`.
"""


def __getattr__(name: str):
    # `from textgen_core.train import train` (the Python API before textgen_core.api) without
    # importing transformers for every `textgen_core.train.*` submodule.
    if name == "train":
        from textgen_core.train.run import train

        return train
    raise AttributeError(name)
