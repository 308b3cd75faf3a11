"""`/docs` in headless Chromium that can reach nothing but the service: Swagger UI comes
from the package, so the operations render as they would in a cluster without internet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from recsys.model.rules import RuleSet
from tests.browser.driver import console_errors, resources, wait_for
from tests.support.models import publish_rules
from tests.support.server import ServerProcess


def test_docs_render_the_operations_offline(
    browser: WebDriver,
    start_server: Callable[..., ServerProcess],
    data_dir: Path,
    ds1_rules: RuleSet,
) -> None:
    publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    browser.get(f"{server.url}/docs")

    def operations(b: WebDriver) -> set[str] | None:
        paths = b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        shown = {path.get_attribute("data-path") or path.text for path in paths}
        return shown if "/api/recommend" in shown else None

    shown = wait_for(browser, operations, "Swagger UI's list of operations")
    assert {"/api/search", "/api/model", "/api/songs", "/healthz", "/readyz"} <= shown
    assert not {"/", "/docs", "/api/recommender"} & shown
    loaded = resources(browser)
    assert any(url.endswith("/openapi.json") for url in loaded)
    assert all(url.startswith(server.url) for url in loaded), loaded
    assert console_errors(browser) == []
