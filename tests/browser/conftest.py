"""One headless Chromium for the browser tests, and a real `recsys serve` per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.driver import console_errors, start_chromium


@pytest.fixture(scope="session")
def chromium() -> Iterator[WebDriver]:
    browser = start_chromium()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def browser(chromium: WebDriver) -> Iterator[WebDriver]:
    """The shared browser, at desktop size, with an empty console log."""
    chromium.set_window_size(1280, 1000)
    console_errors(chromium)  # reading the log empties it
    yield chromium
    chromium.get("about:blank")  # stop the last page's polling before its server goes
