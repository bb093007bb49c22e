"""The app in a real browser (Debian's Chromium, driven by Playwright): upload,
see what was accepted, train, watch progress and results, then generate."""

from __future__ import annotations

import re

from support.browser import needs_chromium, visible
from support.models import shakespeare
from support.servers import AppServer

pytestmark = needs_chromium


def test_upload_train_watch_and_generate_in_a_browser(tmp_path, page, tiny_model):
    from playwright.sync_api import expect

    good = tmp_path / "verse.txt"
    good.write_text(shakespeare()[:40_000])
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    app = AppServer(tmp_path / "data").start()
    try:
        page.goto(app.url)
        page.get_by_label("Base model").fill(str(tiny_model))
        page.get_by_label("Epochs").fill("2")
        page.get_by_label("Learning rate").fill("0.003")
        page.get_by_label("Chunk size (tokens)").fill("64")
        page.locator("input[type=file]").first.set_input_files([str(good), str(binary)])
        expect(visible(page.get_by_text("binary file (PNG image)"))).to_be_visible(timeout=30_000)
        expect(page.get_by_text("chunks of 64 tokens")).to_be_visible()
        expect(page.get_by_text("Small corpus")).to_be_visible()
        page.screenshot(path=shots / "1-uploaded.png", full_page=True)

        page.get_by_role("button", name="Start training").click()
        running = page.get_by_text(re.compile(r"running · step [1-9]\d* / \d+"))
        expect(running).to_be_visible(timeout=90_000)
        page.screenshot(path=shots / "2-training.png", full_page=True)
        expect(page.get_by_text(re.compile(r": completed"))).to_be_visible(timeout=300_000)
        expect(visible(page.get_by_role("cell", name="perplexity", exact=True))).to_be_visible()
        expect(visible(page.get_by_role("cell", name="verse.txt"))).to_be_visible()
        # the samples timeline: the base model, then every evaluation, same prompts
        expect(page.get_by_text("Samples during training")).to_be_visible()
        expect(visible(page.get_by_role("gridcell", name="base model", exact=True))).to_be_visible()
        evaluations = page.get_by_role("gridcell", name=re.compile(r"^step \d+$")).filter(
            visible=True
        )
        expect(evaluations.first).to_be_visible()
        assert len(set(evaluations.all_inner_texts())) == 2  # one evaluation per epoch
        page.screenshot(path=shots / "3-results.png", full_page=True)
        job_id = page.get_by_label("Job id").input_value()

        page.get_by_role("tab", name="Generate").click()
        page.get_by_role("combobox", name="Model").click()
        page.get_by_role("option", name=re.compile(job_id)).click()
        page.get_by_label("Prompt").fill("To be, or not to be")
        page.get_by_label("Max new tokens (1-512)").fill("20")
        page.get_by_label("Temperature (0 = greedy)").fill("1.0")
        page.get_by_label("Seed (-1 = random)").fill("3")
        page.get_by_role("button", name="Generate", exact=True).click()
        output = page.get_by_label("Generated text")
        expect(output).to_have_value(re.compile(r"[A-Za-z]"), timeout=60_000)
        page.screenshot(path=shots / "4-generated.png", full_page=True)

        # before/after: the base model beside the fine-tuned one, same prompt and seed
        page.get_by_label("Compare with base model").check()
        expect(page.get_by_label("Seed (-1 = random)")).to_have_value("3")
        page.get_by_role("button", name="Generate", exact=True).click()
        base = page.get_by_label("Base model's text")
        expect(base).to_have_value(re.compile(r"[A-Za-z]"), timeout=60_000)
        expect(output).to_have_value(re.compile(r"[A-Za-z]"), timeout=60_000)
        assert base.input_value() != output.input_value()

        page.get_by_role("tab", name="Compare").click()
        page.get_by_role("combobox", name="Jobs to compare").click()
        page.get_by_role("option", name=re.compile(job_id)).click()
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.get_by_text("Settings that differ: none.")).to_be_visible(timeout=30_000)
        expect(visible(page.get_by_role("gridcell", name=job_id, exact=True))).to_be_visible()
        page.screenshot(path=shots / "5-compared.png", full_page=True)
    finally:
        app.stop()
    assert len(list(shots.glob("*.png"))) == 5
