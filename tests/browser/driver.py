"""Headless Chromium, driven by selenium, for the browser tests.

The browser and its driver are Debian's `chromium` and `chromium-driver`, which `make test`
installs where missing (.ci/test-deps). Nothing is downloaded: the driver's path is given,
so Selenium Manager never runs. A machine without them fails the tests with a message
saying how to install them; the tests never skip, so CI cannot pass without a browser
having run them.

The browser can resolve no host name (`--host-resolver-rules`), so a page that needed
anything from the internet (a CDN) would fail here as it would in a cluster without
internet access; the tests reach the service by IP address.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

BROWSERS = ("chromium", "chromium-browser")
DRIVERS = ("chromedriver",)
INSTALL = (
    "the browser tests need headless Chromium and its driver: install Debian's "
    "`chromium` and `chromium-driver` (apt-get install chromium chromium-driver), "
    "as `make test` does where they are missing (.ci/test-deps)"
)
WAIT = 15.0  # seconds any one expected change may take before a test fails
T = TypeVar("T")


def find(names: tuple[str, ...]) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    pytest.fail(f"none of {', '.join(names)} on PATH: {INSTALL}", pytrace=False)


def chromium_options(binary: str) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline, like a cluster
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def start_chromium() -> WebDriver:
    """A headless Chromium session; fails with install instructions if it cannot start."""
    browser, driver = find(BROWSERS), find(DRIVERS)
    os.environ.setdefault("SE_OFFLINE", "true")  # belt and braces: Selenium Manager stays off
    service = Service(executable_path=driver)
    try:
        return webdriver.Chrome(service=service, options=chromium_options(browser))
    except Exception as problem:  # selenium wraps start-up failures in several types
        pytest.fail(f"Chromium did not start ({problem}); {INSTALL}", pytrace=False)


def wait_for(browser: WebDriver, condition: Callable[[WebDriver], T], what: str) -> T:
    """`condition`'s first truthy value within WAIT seconds; fails saying `what` it awaited."""
    return WebDriverWait(browser, WAIT, poll_frequency=0.05).until(
        condition, message=f"waited {WAIT:g} s for {what}"
    )


def console_errors(browser: WebDriver) -> list[str]:
    """Errors the page logged (failed loads, script errors, blocked content) since last read."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def resources(browser: WebDriver) -> list[str]:
    """Every URL the current page loaded, as the browser's resource timing lists them."""
    return browser.execute_script(
        "return performance.getEntriesByType('resource').map(entry => entry.name)"
    )


# WCAG 2 contrast of each element's text against the first opaque background behind it.
CONTRAST_SCRIPT = """
const channel = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const parse = (color) => color.match(/[\\d.]+/g).map(Number);
const background = (node) => {
  for (; node; node = node.parentElement) {
    const color = parse(getComputedStyle(node).backgroundColor);
    if (color.length < 4 || color[3] === 1) return color.slice(0, 3);
  }
  return [255, 255, 255];
};
const ratio = (node) => {
  const text = luminance(parse(getComputedStyle(node).color).slice(0, 3));
  const behind = luminance(background(node));
  return (Math.max(text, behind) + 0.05) / (Math.min(text, behind) + 0.05);
};
return Array.from(document.querySelectorAll(arguments[0]))
  .filter((node) => node.offsetParent !== null && node.textContent.trim())
  .map((node) => [node.textContent.trim().slice(0, 40), ratio(node)]);
"""


def low_contrast(browser: WebDriver, selector: str, minimum: float = 4.5) -> list[str]:
    """Visible elements matching `selector` whose text contrast is under `minimum`."""
    found = browser.execute_script(CONTRAST_SCRIPT, selector)
    return [f"{text!r}: {ratio:.2f}" for text, ratio in found if ratio < minimum]
