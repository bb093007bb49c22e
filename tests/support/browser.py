"""A real browser for the app's tests: Debian's Chromium (`apt-get install -y
chromium`), driven by Playwright, never a downloaded browser build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium)"
)


def browser_page() -> Iterator:
    """A Playwright page in a headless Chromium, 1280 x 1000, 30 s timeouts."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def visible(locator):
    """The first visible match (the table keeps hidden copies of its cells)."""
    return locator.filter(visible=True).first
