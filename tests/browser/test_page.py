"""The page at `/`, in headless Chromium, against a real `recsys serve`.

A person types the start of a song, picks a suggestion, asks, and sees k songs marked as
coming from rules or from the popularity fill, and the song the model does not know; when
a new model is published, the page shows its id within seconds, without a reload.

`UPDATE_SCREENSHOT=1 pytest tests/browser` also writes the screenshot the README shows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from recsys.model.rules import RuleSet
from recsys.songs import normalize_song_name
from tests.browser.driver import console_errors, low_contrast, resources, wait_for
from tests.support.models import publish_rules
from tests.support.paths import REPO
from tests.support.server import ServerProcess

SCREENSHOT = REPO / "docs" / "web-page.png"
UNKNOWN = "A Song Nobody Wrote"
K = 10


def text_of(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def options(browser: WebDriver) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, "#suggestions [role=option]")


def partly_filled_song(server: ServerProcess, vocabulary: list[str]) -> str:
    """A popular song whose answer mixes rules and the popularity fill, for the picture."""
    for song in vocabulary[:300]:
        answer = httpx.post(f"{server.url}/api/recommend", json={"songs": [song], "k": K}).json()
        if 0 < answer["filled"] < K:
            return song
    return vocabulary[0]


def pick_by_keyboard(browser: WebDriver, song: str, typed: int = 4) -> None:
    """Type the start of `song`, then arrow down to its suggestion and press Enter."""
    box = browser.find_element(By.ID, "song-input")
    box.send_keys(song[:typed])
    shown = wait_for(browser, options, f"suggestions for {song[:typed]!r}")
    names = [option.text for option in shown]
    prefix = normalize_song_name(song[:typed])
    assert all(normalize_song_name(name).startswith(prefix) for name in names), names
    assert song in names, f"{song!r} is not among the suggestions {names}"
    box.send_keys(*[Keys.ARROW_DOWN] * (names.index(song) + 1), Keys.ENTER)


def chosen(browser: WebDriver) -> list[str]:
    return [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#chosen li span")]


def ask_and_check_the_answer(browser: WebDriver) -> list[WebElement]:
    k_box = browser.find_element(By.ID, "k-input")
    k_box.clear()
    k_box.send_keys(str(K))
    browser.find_element(By.ID, "ask-button").click()
    items = wait_for(
        browser,
        lambda b: (found := b.find_elements(By.CSS_SELECTOR, "#results li")) and found,
        "the recommended songs",
    )
    assert len(items) == K
    badges = [item.find_element(By.CSS_SELECTOR, ".badge").text for item in items]
    rules = badges.count("rule")
    assert badges == ["rule"] * rules + ["popular"] * (K - rules), "the fill comes last"
    assert f"{K} songs from model" in text_of(browser, "answer-meta")
    assert UNKNOWN in text_of(browser, "unknown")
    return items


def without_rules(rules: RuleSet) -> str:
    """A song the model knows but that is in no rule: the rarest."""
    assert rules.frequent_songs < len(rules.vocabulary)
    return rules.vocabulary[-1]


def save_screenshot(browser: WebDriver, tmp_path: Path) -> None:
    """The whole page: the window grows to the page's height first."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    chrome = browser.get_window_size()["height"] - browser.execute_script("return innerHeight")
    browser.set_window_size(1000, height + chrome)
    browser.save_screenshot(str(tmp_path / "page.png"))
    if os.environ.get("UPDATE_SCREENSHOT"):
        browser.save_screenshot(str(SCREENSHOT))


def test_a_person_picks_songs_asks_and_sees_the_model_change(
    browser: WebDriver,
    start_server: Callable[..., ServerProcess],
    data_dir: Path,
    ds1_rules: RuleSet,
    ds2_rules: RuleSet,
    tmp_path: Path,
) -> None:
    first_id, _ = publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    song = partly_filled_song(server, ds1_rules.vocabulary)
    browser.set_window_size(1000, 1000)
    browser.get(f"{server.url}/")
    wait_for(browser, lambda b: text_of(b, "model-id") == first_id, "the served model's id")
    assert text_of(browser, "model-rules") == f"{ds1_rules.rule_count:,}"

    pick_by_keyboard(browser, song)
    rare = without_rules(ds1_rules)
    for typed in (UNKNOWN, rare):
        browser.find_element(By.ID, "song-input").send_keys(typed, Keys.ENTER)
    assert chosen(browser) == [song, UNKNOWN, rare]
    ask_and_check_the_answer(browser)
    assert chosen(browser) == [song, f"{UNKNOWN} (not in the model)", rare]
    assert rare in text_of(browser, "without-rules")
    assert "too few playlists" in text_of(browser, "without-rules")
    save_screenshot(browser, tmp_path)

    browser.execute_script("window.notReloaded = true")
    second_id, _ = publish_rules(data_dir, ds2_rules)
    wait_for(browser, lambda b: text_of(b, "model-id") == second_id, "the new model's id")
    assert browser.execute_script("return window.notReloaded === true"), "the page reloaded"
    assert "The model changed" in text_of(browser, "model-status")
    assert all(url.startswith(server.url) for url in resources(browser)), resources(browser)
    assert console_errors(browser) == []


def tab_to(browser: WebDriver, element_id: str, presses: int = 20) -> WebElement:
    """Press Tab until `element_id` has the focus: the page is usable without a mouse."""
    for _ in range(presses):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("id") == element_id:
            return browser.switch_to.active_element
    raise AssertionError(f"#{element_id} not reached with {presses} Tab presses")


def test_the_page_works_by_keyboard_at_phone_width(
    browser: WebDriver,
    start_server: Callable[..., ServerProcess],
    data_dir: Path,
    ds1_rules: RuleSet,
) -> None:
    model_id, _ = publish_rules(data_dir, ds1_rules)
    server = start_server(data_dir)
    browser.set_window_size(390, 844)
    browser.get(f"{server.url}/")
    wait_for(browser, lambda b: text_of(b, "model-id") == model_id, "the served model's id")

    box = tab_to(browser, "song-input")
    song = ds1_rules.vocabulary[0]
    box.send_keys(song[:3])
    wait_for(browser, options, "suggestions")
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    assert chosen(browser) == [song]
    box.send_keys(Keys.ENTER)  # Enter in the empty box asks
    items = wait_for(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#results li"), "an answer"
    )
    assert len(items) == 10  # the default k
    width = browser.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at phone width: {width}"
    unlabelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('input, button'))"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map(e => e.outerHTML)"
    )
    assert unlabelled == []
    texts = "h1, h2, label, .help, p, dt, dd, button, .badge, .song, #chosen span, a"
    assert low_contrast(browser, texts) == []
    assert console_errors(browser) == []
