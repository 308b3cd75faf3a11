"""The song search behind the page (`GET /api/search`), the page's files and the offline
`/docs`, in-process; and the search structure against a brute-force reference."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.model.rules import RuleSet
from recsys.model.song_keys import SortedKeys
from recsys.serving import search as search_module
from recsys.serving.pages import STATIC
from recsys.serving.search import SearchCache, SongSearch, query_key
from recsys.settings import Settings, WatchMode
from recsys.songs import normalize_song_name
from tests.support.app import AppClient, in_process
from tests.support.models import publish_rules


def brute_force(names: list[str], query: str, limit: int) -> tuple[list[str], int]:
    """What a search must answer: distinct songs (first spelling) whose key starts with
    the query's key, most popular (lowest id) first, and how many there are."""
    firsts: dict[str, int] = {}
    for song, name in enumerate(names):
        firsts.setdefault(normalize_song_name(name), song)
    prefix = query_key(query)
    matching = sorted(song for key, song in firsts.items() if key.startswith(prefix))
    return [names[song] for song in matching[:limit]], len(matching)


# --- the endpoint ------------------------------------------------------------------------


def test_search_suggests_the_most_popular_songs_that_start_with_the_query(
    app: AppClient, ds1_rules: RuleSet
) -> None:
    names = ds1_rules.vocabulary
    for song in names[:20]:
        typed = f"  {song[:3].upper()}"  # any case, leading spaces: matched like song names
        response = app.get("/api/search", params={"q": typed, "limit": 7})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert (body["songs"], body["matches"]) == brute_force(names, typed, 7)
        assert song in brute_force(names, typed, len(names))[0]
        assert body["model_id"] == app.get("/api/model").json()["model_id"]


def test_a_whole_name_finds_its_song_and_nonsense_finds_nothing(
    app: AppClient, ds1_rules: RuleSet
) -> None:
    song = ds1_rules.vocabulary[42]
    assert song in app.get("/api/search", params={"q": song.casefold()}).json()["songs"]
    nothing = app.get("/api/search", params={"q": "zzzz no song starts so"}).json()
    assert (nothing["songs"], nothing["matches"]) == ([], 0)
    default = app.get("/api/search", params={"q": " "}).json()  # nothing typed yet
    assert default["songs"] == ds1_rules.vocabulary[:10]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({}, "query.q"),
        ({"q": ""}, "query.q"),
        ({"q": "x" * 501}, "query.q"),
        ({"q": "a", "limit": 0}, "query.limit"),
        ({"q": "a", "limit": 51}, "query.limit"),
        ({"q": "a", "limit": "ten"}, "query.limit"),
    ],
)
def test_bad_input_gets_the_api_s_json_errors(
    app: AppClient, params: dict[str, object], where: str
) -> None:
    response = app.get("/api/search", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["detail"].startswith(f"{where}: ")
    assert body["errors"][0]["loc"] == where.split(".")


def test_without_a_model_search_is_a_503_but_bad_input_still_a_422(data_dir: Path) -> None:
    with in_process(Settings(data_dir=data_dir)) as app:
        waiting = app.get("/api/search", params={"q": "a"})
        assert waiting.status_code == 503
        assert waiting.json() == {"detail": "no model loaded yet"}
        assert waiting.headers["retry-after"] == "2"
        assert app.get("/api/search", params={"q": ""}).status_code == 422


def wait_for_model(app: AppClient, model_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.get("/api/model").json()["model_id"] == model_id:
            return
        time.sleep(0.05)
    raise AssertionError(f"model {model_id} not served within {timeout} s")


def test_search_follows_a_model_swap(
    data_dir: Path, ds1_rules: RuleSet, ds2_rules: RuleSet
) -> None:
    first, _ = publish_rules(data_dir, ds1_rules)
    with in_process(Settings(data_dir=data_dir, watch=WatchMode.EVENTS)) as app:
        typed = ds1_rules.vocabulary[0][:2]
        assert app.get("/api/search", params={"q": typed}).json()["model_id"] == first
        second, _ = publish_rules(data_dir, ds2_rules)
        wait_for_model(app, second)
        body = app.get("/api/search", params={"q": typed, "limit": 50}).json()
        assert body["model_id"] == second
        assert (body["songs"], body["matches"]) == brute_force(ds2_rules.vocabulary, typed, 50)


# --- the page, its files and /docs -------------------------------------------------------


def test_the_page_and_its_files_are_served_from_the_package(app: AppClient) -> None:
    page = app.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    named = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
    assert {"static/app.js", "static/style.css"} <= set(named)
    before = app.metric(
        "recsys_http_requests_total", 0, route="/static", method="GET", status="200"
    )
    for path in named:
        assert app.get(f"/{path}").status_code == 200, path
    counted = app.metric("recsys_http_requests_total", route="/static", method="GET", status="200")
    assert counted == before + len(named)  # counted as the page's files, not "unmatched"
    assert "http" not in re.sub(r'xmlns="http://www\.w3\.org/[^"]*"', "", page.text)


def test_docs_load_swagger_ui_from_the_package_not_a_cdn(app: AppClient) -> None:
    docs = app.get("/docs")
    assert docs.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in urls
    assert "/static/vendor/swagger-ui/swagger-ui.css" in urls
    assert not [url for url in urls if "//" in url], urls
    for url in urls:
        assert app.get(url).status_code == 200, url
    assert app.get("/redoc").status_code == 404  # ReDoc would need a CDN


def test_the_vendored_swagger_ui_files_are_the_published_ones() -> None:
    folder = STATIC / "vendor" / "swagger-ui"
    sums = re.findall(r"^([0-9a-f]{64})  (\S+)$", (folder / "VERSION").read_text(), re.M)
    assert {name for _, name in sums} == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for digest, name in sums:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def test_only_the_search_endpoint_of_the_page_is_in_the_openapi_schema(app: AppClient) -> None:
    paths = app.get("/openapi.json").json()["paths"]
    assert "get" in paths["/api/search"]
    parameters = {p["name"]: p["schema"] for p in paths["/api/search"]["get"]["parameters"]}
    assert parameters["q"]["maxLength"] == 500
    assert parameters["limit"]["maximum"] == 50
    assert not [path for path in paths if path in ("/", "/docs") or path.startswith("/static")]


# --- the structure -----------------------------------------------------------------------

NAMES = st.lists(
    st.text(alphabet="abAB \u00e9e\u0301\u00df", min_size=1, max_size=6).filter(str.strip),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    names=NAMES, query=st.text(alphabet="abAB \u00e9e\u0301s", max_size=4), limit=st.integers(1, 8)
)
def test_search_equals_brute_force(names: list[str], query: str, limit: int) -> None:
    found = SongSearch(names).search(query, limit)
    assert (found.songs, found.matches) == brute_force(names, query, limit)


def random_names(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["love", "Night", "BABY", "heart", "Été", "straße", "rain", "gold", "a", "the"]
    names: dict[str, None] = {}
    while len(names) < count:
        size = rng.randint(1, 3)
        names[" ".join(rng.choice(words) for _ in range(size)) + f" {rng.randrange(10**4)}"] = None
    return list(names)


def test_search_equals_brute_force_on_many_buckets_and_blocks() -> None:
    names = random_names(30_000, seed=1)  # several sample-sort buckets, a deep table
    index = SongSearch(names)
    rng = random.Random(2)
    queries = ["", "l", "the the", "STRASSE", "ete ", "zz"]
    queries += [rng.choice(names)[: rng.randint(1, 12)] for _ in range(60)]
    for query in queries:
        found = index.search(query, 50)
        assert (found.songs, found.matches) == brute_force(names, query, 50), query


class FakeIndex:
    """What the cache needs of a RuleIndex: its songs, most popular first, and their sorted
    keys, made on first use: a build through the cache sorts them, as loading a model does."""

    def __init__(self, names: list[str]) -> None:
        self.vocabulary = names

    @functools.cached_property
    def sorted_keys(self) -> SortedKeys:
        return SortedKeys.of(self.vocabulary)


def test_concurrent_first_searches_share_one_build(monkeypatch: pytest.MonkeyPatch) -> None:
    builds = []

    def counting(index: FakeIndex) -> SongSearch:
        builds.append(index)
        return SongSearch(index.vocabulary)

    monkeypatch.setattr(search_module, "build_search", counting)
    model = FakeIndex(random_names(5000, seed=3))

    async def many() -> list[SongSearch]:
        cache = SearchCache()
        return await asyncio.gather(*(cache.get(model) for _ in range(8)))  # type: ignore[arg-type]

    found = asyncio.run(many())
    assert len(builds) == 1
    assert all(index is found[0] for index in found)


async def build_while_ticking(cache: SearchCache, model: FakeIndex) -> tuple[float, float]:
    """Build through the cache while a task ticks; (build seconds, longest stall)."""
    tick, longest = 0.002, 0.0
    started = time.perf_counter()
    build = asyncio.ensure_future(cache.get(model))  # type: ignore[arg-type]
    last = time.perf_counter()
    while not build.done():
        await asyncio.sleep(tick)
        now = time.perf_counter()
        longest, last = max(longest, now - last - tick), now
    await build
    return time.perf_counter() - started, longest


def test_building_for_a_large_model_does_not_stall_the_event_loop() -> None:
    model = FakeIndex(random_names(600_000, seed=4))
    seconds, stall = asyncio.run(build_while_ticking(SearchCache(), model))
    print(f"build {seconds:.3f} s, longest stall {stall * 1000:.1f} ms")
    # One sort of every name would stall the loop for a large share of the build.
    assert stall < seconds / 8, (
        f"the event loop stalled {stall:.3f} s during a {seconds:.3f} s build"
    )
