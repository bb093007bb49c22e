"""The web app: background jobs and their store (`jobs`, `worker`, `tune_jobs`),
uploaded files (`uploads`) and the Gradio page (`ui`). Holds no ML logic of its own.

May import: `tune`, `hub` and everything below them; never `cli`.
"""
