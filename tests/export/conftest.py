"""The trained tiny run the exports are made from: the session's `tiny_run` (a 2-layer,
32-wide GPT-2 fitted for two epochs on real verse), so its greedy choices have clear
margins (an untrained model's near-ties would make greedy text depend on the last bit
of rounding)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trained_run(tiny_run):
    return tiny_run[0]
