"""Hyperparameter search with Optuna over whole training runs (`search`) and its
trials table, CSV and plot (`report`).

May import: `train` and everything below it.
"""
