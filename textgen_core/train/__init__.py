"""One training run: the run itself (`run.train`), the Trainer subclass
(`trainer`), callbacks, complete-or-absent checkpoints and exact resume
(`checkpoints`, `threads`), several processes (`distributed`), fault injection for tests
(`faults`), token-weighted evaluation (`evaluate`), the run folder and its results record (`report`) and its
README.md, which is also the Hub model card (`model_card`).

May import: `data`, `model`, `kernels`, `generate`, `config`, `errors`.
"""


def __getattr__(name: str):
    # `from textgen_core.train import train` (the documented Python API) without
    # importing transformers for every `textgen_core.train.*` submodule.
    if name == "train":
        from textgen_core.train.run import train

        return train
    raise AttributeError(name)
