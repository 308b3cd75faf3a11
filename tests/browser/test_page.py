"""The page at `/`, in headless Chromium, against a real `recsys serve`.

A person types the start of a song, picks a suggestion, types another song in their own
spelling, asks, and sees k songs marked as coming from rules or from the popularity fill,
each rule-made one saying which of their songs led to it ("Because you liked ..."), and
the song the model does not know; when a new model is published, the page shows its id
within seconds, without a reload. At phone width it all fits without scrolling sideways.

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

from recsys.model.format import decode_antecedent
from recsys.model.rules import RuleSet
from recsys.songs import normalize_song_name
from tests.browser.driver import console_errors, low_contrast, resources, wait_for
from tests.support.models import SYNTHETIC_PARAMS, publish_rules, synthetic_rule_set
from tests.support.paths import REPO
from tests.support.server import ServerProcess

SCREENSHOT = REPO / "docs" / "web-page.png"
UNKNOWN = "A Song Nobody Wrote"
K = 10
PHONE = (375, 812)  # a small phone's window, in CSS pixels


def text_of(browser: WebDriver, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def options(browser: WebDriver) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, "#suggestions [role=option]")


def recommend(server: ServerProcess, songs: list[str], explain: bool = False) -> dict:
    body = {"songs": songs, "k": K, "explain": explain}
    response = httpx.post(f"{server.url}/api/recommend", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def partly_filled_pair(server: ServerProcess, vocabulary: list[str]) -> tuple[str, str]:
    """Two popular songs whose answer mixes rules and the popularity fill, and names both
    of them behind some song: the picture shows every kind of line."""
    partly = [song for song in vocabulary[:300] if 0 < recommend(server, [song])["filled"] < K]
    for n, first in enumerate(partly):
        for second in partly[n + 1 :]:
            answer = recommend(server, [first, second], explain=True)
            if 0 < answer["filled"] < K and any(len(why) > 1 for why in answer["because"]):
                return first, second
    raise AssertionError("no two songs of the sample share a recommended song")


def own_spelling(song: str) -> str:
    """`song` as a person might type it: another case, the same song to the model."""
    typed = song.lower() if song.lower() != song else song.upper()
    assert typed != song
    assert normalize_song_name(typed) == normalize_song_name(song)
    return typed


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


def reason_words(liked: list[str]) -> str:
    """One rule's songs as the page words them: “A”, “A” with “B”, “A”, “B” with “C”."""
    quoted = [f"“{song}”" for song in liked]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " with " + quoted[-1]


def because_line(reasons: list[dict]) -> str:
    """The line under a rule-made song: its strongest one or two reasons."""
    return "Because you liked " + " and ".join(reason_words(r["liked"]) for r in reasons[:2])


def check_the_reasons(items: list[WebElement], answer: dict, picked: list[str]) -> set[str]:
    """Each rule-made song names, in their spelling, the picked songs the API's own answer
    gives as its strongest reasons; a song from the popularity fill names none. Returns
    the songs named."""
    songs = [
        item.find_element(By.CSS_SELECTOR, ".song").get_attribute("textContent") for item in items
    ]
    assert songs == answer["songs"]
    rules = len(answer["songs"]) - answer["filled"]
    named: set[str] = set()
    for item, reasons, from_rules in zip(
        items, answer["because"], [True] * rules + [False] * answer["filled"], strict=True
    ):
        lines = item.find_elements(By.CSS_SELECTOR, ".because")
        if not from_rules:
            assert lines == [], f"a popular song with a reason: {item.text!r}"
            assert "because you liked" not in item.text.lower()
            continue
        assert reasons, "a rule-made song without a reason in the API's answer"
        assert len(lines) == 1, f"no reason line under {item.text!r}"
        line = lines[0]
        assert line.is_displayed()
        assert line.get_attribute("textContent") == because_line(reasons)
        shown = [
            [
                name.get_attribute("textContent")
                for name in part.find_elements(By.CSS_SELECTOR, ".liked")
            ]
            for part in line.find_elements(By.CSS_SELECTOR, ".reason")
        ]
        assert shown == [reason["liked"] for reason in reasons[:2]]
        named.update(song for part in shown for song in part)
        assert named <= set(picked), f"{named - set(picked)} were not picked"
        add = item.find_element(By.CSS_SELECTOR, "button")
        assert add.get_attribute("aria-describedby") == line.get_attribute("id")
    assert rules == 0 or named, "no rule-made song says why"
    return named


def fits_sideways(browser: WebDriver) -> None:
    """The page does not scroll sideways, and no reason line sticks out of the window."""
    scroll, client = browser.execute_script(
        "const page = document.documentElement; return [page.scrollWidth, page.clientWidth]"
    )
    assert scroll <= client, f"the page scrolls sideways: {scroll} > {client} px"
    beyond = browser.execute_script(
        "return Array.from(document.querySelectorAll('#results li, #results .because'))"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)"
        ".map(e => e.textContent)"
    )
    assert beyond == []


def without_rules(rules: RuleSet) -> str:
    """A song the model knows but that is in no rule: the rarest."""
    assert rules.frequent_songs < len(rules.vocabulary)
    return rules.vocabulary[-1]


def save_screenshot(browser: WebDriver, tmp_path: Path) -> None:
    """The whole page at 1000 px wide: the window grows to the page's height first (measured
    at that width, as a narrower page is taller)."""
    browser.set_window_size(1000, browser.get_window_size()["height"])
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
    song, other = partly_filled_pair(server, ds1_rules.vocabulary)
    typed_other = own_spelling(other)
    browser.set_window_size(1000, 1000)
    browser.get(f"{server.url}/")
    wait_for(browser, lambda b: text_of(b, "model-id") == first_id, "the served model's id")
    assert text_of(browser, "model-rules") == f"{ds1_rules.rule_count:,}"

    pick_by_keyboard(browser, song)
    rare = without_rules(ds1_rules)
    for typed in (typed_other, UNKNOWN, rare):
        browser.find_element(By.ID, "song-input").send_keys(typed, Keys.ENTER)
    picked = [song, typed_other, UNKNOWN, rare]
    assert chosen(browser) == picked
    items = ask_and_check_the_answer(browser)
    assert chosen(browser) == [song, typed_other, f"{UNKNOWN} (not in the model)", rare]
    assert rare in text_of(browser, "without-rules")
    assert "too few playlists" in text_of(browser, "without-rules")
    answer = recommend(server, picked, explain=True)
    assert check_the_reasons(items, answer, picked) == {song, typed_other}  # as they typed it
    assert any(len(why) > 1 for why in answer["because"]), "no song with two reasons"

    browser.set_window_size(*PHONE)
    fits_sideways(browser)
    assert low_contrast(browser, "#results .because, #results .liked") == []
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
    browser.set_window_size(*PHONE)
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
    answer = recommend(server, [song], explain=True)
    assert answer["filled"] < len(answer["songs"]), "an answer without rules shows no reasons"
    assert check_the_reasons(items, answer, [song]) == {song}
    fits_sideways(browser)
    unlabelled = browser.execute_script(
        "return Array.from(document.querySelectorAll('input, button'))"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.textContent.trim()).map(e => e.outerHTML)"
    )
    assert unlabelled == []
    texts = "h1, h2, label, .help, p, dt, dd, button, .badge, .song, .because, #chosen span, a"
    assert low_contrast(browser, texts) == []
    assert console_errors(browser) == []


def test_a_rule_of_two_songs_reads_as_one_reason(
    browser: WebDriver,
    start_server: Callable[..., ServerProcess],
    data_dir: Path,
) -> None:
    """A model whose rules need two songs together: “A” with “B”, not two reasons."""
    rules = synthetic_rule_set(rules=2000, songs=100)
    model_id, _ = publish_rules(data_dir, rules, SYNTHETIC_PARAMS)
    server = start_server(data_dir)
    first, second = (rules.vocabulary[n] for n in decode_antecedent(rules.antecedent_keys[0]))
    picked = [own_spelling(second), first]
    browser.set_window_size(*PHONE)
    browser.get(f"{server.url}/")
    wait_for(browser, lambda b: text_of(b, "model-id") == model_id, "the served model's id")
    for song in picked:
        browser.find_element(By.ID, "song-input").send_keys(song, Keys.ENTER)
    browser.find_element(By.ID, "ask-button").click()
    items = wait_for(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#results li"), "an answer"
    )
    answer = recommend(server, picked, explain=True)
    assert any(len(reason["liked"]) == 2 for why in answer["because"] for reason in why)
    assert check_the_reasons(items, answer, picked) == set(picked)
    assert " with " in browser.find_element(By.CSS_SELECTOR, "#results .because").text
    fits_sideways(browser)
    assert console_errors(browser) == []
