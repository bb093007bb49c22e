"""The Compare tab: finished training jobs side by side (textgen_core.quality.compare):
the table of what differs and how well each learned, the loss curves overlaid,
and each run's final samples of the same prompts."""

from __future__ import annotations

import gradio as gr

from textgen_core.app.jobs import JobStore
from textgen_core.app.ui.forms import shown_to_user
from textgen_core.quality import compare


class CompareHandlers:
    def __init__(self, store: JobStore):
        self.store = store

    def choices(self):
        jobs = [
            (f"{j['id']} (trained from {j['model']})", j["id"])
            for j in self.store.list_jobs()
            if j["state"] == "completed" and j["kind"] == "train"
        ]
        return gr.Dropdown(choices=jobs)

    def compare(self, job_ids: list[str] | None):
        """(table, loss curves, samples side by side, the settings that differ)."""
        import pandas as pd

        if not job_ids:
            raise gr.Error("jobs: choose one or more finished training jobs", print_exception=False)
        with shown_to_user():
            runs = [compare.load_run(self.store.run_dir(j), name=j) for j in job_ids]
        headers, rows = compare.table(runs)
        sample_headers, sample_rows = compare.samples_side_by_side(runs)
        curves = pd.DataFrame(compare.loss_points(runs), columns=["run", "step", "loss", "curve"])
        curves["series"] = curves["run"] + " " + curves["curve"]
        differ = compare.differing_settings(runs)
        note = f"Settings that differ: {', '.join(differ) if differ else 'none'}."
        return (
            pd.DataFrame(rows, columns=headers),
            curves,
            pd.DataFrame(sample_rows, columns=sample_headers),
            note,
        )


def compare_tab(store: JobStore):
    """The tab's components; returns (jobs dropdown, CompareHandlers) for the
    page to refresh the list when the tab opens."""
    h = CompareHandlers(store)
    gr.Markdown("Finished training jobs side by side: what differs and how well each learned.")
    jobs = gr.Dropdown(choices=[], multiselect=True, label="Jobs to compare")
    button = gr.Button("Compare", variant="primary")
    note = gr.Markdown()
    table = gr.Dataframe(label="Runs", interactive=False)
    curves = gr.LinePlot(x="step", y="loss", color="series", label="Loss curves", height=320)
    samples = gr.Dataframe(label="Final samples side by side (same seed)", interactive=False)
    button.click(h.compare, jobs, [table, curves, samples, note], api_visibility="private")
    return jobs, h
