"""Browser fixtures: Debian's Chromium driven by Playwright (never `playwright install`).

The web app (``live_app``: server.create_app() in a werkzeug thread) and the WeChat sandbox
(``sandbox``) both run on random loopback ports; the sandbox's chat simulator posts to the
app's real /wechat.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures_web import live_app  # noqa: F401

CHROMIUM = os.environ.get("EJIA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (scripts/setup.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    OUTPUT.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = OUTPUT / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def _clean(clean_db, redis_conn):
    yield clean_db
