"""Sharing on the Hugging Face Hub: push and pull models and checkpoints (`repo`),
mirror checkpoints while a run trains (`checkpoint_sync`), deploy Spaces: the studio
and the demo of one model (`space`), and what a demo shows of its model (`model_page`).

May import: `train` and everything below it.
"""
