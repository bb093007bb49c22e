"""The web app: background jobs and their store (`jobs`, `worker`, `tune_jobs`),
uploaded files (`uploads`), the Gradio page (`ui`) and the one-model demo page of a
Space (`demo`). Holds no ML logic of its own.

May import: `tune`, `hub` and everything below them; never `cli`.
"""
