"""Debian's Chromium driven by Playwright, for the tests of the web page."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

# Search embeds its query on a busy 2-core CPU: Playwright's 5 s default would be luck.
expect.set_options(timeout=30_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
]


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """The browser, or a failure saying what to install."""
    if not Path(CHROMIUM).exists():
        pytest.fail("The browser tests need Debian's Chromium: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def open_page(browser: Browser, url: str) -> AsyncIterator[Page]:
    """The page at ``url`` in a context of its own; fails if a script error happened."""
    context = await browser.new_context(viewport={"width": 1100, "height": 1400})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    try:
        yield page
    finally:
        await context.close()
    assert not errors, errors
