"""Loaded models kept in memory for serving: a small LRU keyed by model name.

Loading a model takes seconds and its memory is large, so the app loads each
once and keeps the few most recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class ModelCache:
    """`get(name)` -> (model, tokenizer), loading at most once per name while cached."""

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = max(1, capacity)
        self._models: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> tuple:
        from textgen_core.model.loading import load_for_inference

        with self._lock:  # one load at a time: two loads of one model would double memory
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            loaded = load_for_inference(name)
            self._models[name] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return loaded

    def put(self, name: str, model, tokenizer) -> None:
        """Keep an already loaded model under `name` (e.g. a Hub model at a pinned
        commit, which `get` would load at the newest one)."""
        with self._lock:
            self._models[name] = (model, tokenizer)
            self._models.move_to_end(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._models
