"""Sharing on the Hugging Face Hub: push and pull models and checkpoints, deploy
Spaces (`repo`), and mirror checkpoints while a run trains (`checkpoint_sync`).

May import: `train` and everything below it.
"""
