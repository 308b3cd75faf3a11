"""Search benchmark: `GET /api/search` in-process on a model of 2,000,000 songs.

The app is `create_app` behind httpx's ASGI transport, with its lifespan entered, as the
in-process tests run it: every figure includes routing, validation and JSON, and no
network. The first search of a model builds its search structure (in a worker thread);
that build is timed on its own, then the queries a person typing would send are timed one
by one: the start of a real song's name (1 to 15 characters), single letters, names that
match nothing, at the page's limit and at the largest limit.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.common import OUT, machine, rss_mb, table
from recsys.model.build import DatasetInfo, build_model
from recsys.model.format import encode_antecedent
from recsys.model.repository import publish
from recsys.model.rules import MiningParams, RuleSet
from recsys.serving import create_app
from recsys.serving.search import SongSearch
from recsys.settings import Settings

SONGS = 2_000_000
QUERIES = 2000
TARGET_P99_MS = 5.0
_WORDS = (
    "love night baby heart dream fire gold rain summer dance girl boy home light blue wild "
    "forever ghost city river star moon sun time road noche corazón été straße niño über"
)
_SYLLABLES = "ka lo mi ra ne to su vi da pe zo an el or yu ba ri"
WORDS = _WORDS.split()
SYLLABLES = _SYLLABLES.split()


def song_names(count: int, seed: int = 0) -> list[str]:
    """Distinct names of one to four words, real words and made-up ones, in random order."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        words = []
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                words.append(rng.choice(WORDS))
            else:
                words.append("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
        names[" ".join(word.capitalize() for word in words)] = None
    return list(names)


def big_vocabulary_rules(names: list[str]) -> RuleSet:
    """A valid model of `names` with a handful of rules: the search reads only the songs."""
    consequents = [1, 2, 3, 0, 2, 3]
    return RuleSet(
        playlists=10 * len(names),
        vocabulary=names,
        counts=list(range(len(names) + 10, 10, -1)),
        frequent_songs=len(names),
        itemsets=2,
        rules_per_song=3,
        antecedent_keys=[encode_antecedent((0,)), encode_antecedent((1,))],
        antecedent_counts=[len(names) + 10, len(names) + 9],
        group_offsets=[0, 3, 6],
        consequents=consequents,
        pair_counts=[5] * 6,
        weights=[0.9, 0.8, 0.7, 0.9, 0.8, 0.7],
    )


def publish_big_model(data_dir: Path, names: list[str]) -> str:
    built = build_model(
        big_vocabulary_rules(names),
        MiningParams(0.01, 0.1, 2),
        DatasetInfo(url="bench-search", sha256=f"{random.getrandbits(256):064x}", bytes=0),
    )
    publish(data_dir, built, keep=2)
    return built.model_id


def queries(names: list[str], count: int, seed: int = 1) -> list[tuple[str, str, int]]:
    """(kind, query, limit) as the page and scripts send them."""
    rng = random.Random(seed)
    found: list[tuple[str, str, int]] = []
    for n in range(count):
        kind = ("typed", "typed", "letter", "nothing")[n % 4]
        if kind == "typed":
            name = rng.choice(names)
            query = name[: rng.randint(1, min(15, len(name)))]
        elif kind == "letter":
            query = rng.choice("abcdefghijklmnopqrstuvwxyzé")
        else:
            query = "".join(rng.choices("qxzjw", k=6))
        found.append((kind, query, 50 if n % 3 == 0 else 10))
    return found


def percentiles(seconds: list[float]) -> list[str]:
    cuts = statistics.quantiles(seconds, n=100)
    return [f"{1000 * value:.2f}" for value in (cuts[49], cuts[98], max(seconds))]


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await call()
    return time.perf_counter() - started, response


async def measure(data_dir: Path, plan: list[tuple[str, str, int]]) -> dict[str, object]:
    """Start the app, build the search structure with a first search, then time `plan`."""
    app = create_app(Settings(data_dir=data_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://recsys") as client:
            rss_before = rss_mb(os.getpid())
            build, first = await timed(lambda: client.get("/api/search", params={"q": "a"}))
            assert first.status_code == 200, first.text
            rss_after = rss_mb(os.getpid())
            by_kind: dict[str, list[float]] = {}
            for kind, query, limit in plan:
                params = {"q": query, "limit": limit}
                seconds, response = await timed(
                    lambda p=params: client.get("/api/search", params=p)
                )
                assert response.status_code == 200, response.text
                by_kind.setdefault(kind, []).append(seconds)
    return {"build": build, "rss": (rss_before, rss_after), "by_kind": by_kind}


def structure_latencies(names: list[str], plan: list[tuple[str, str, int]]) -> list[float]:
    """The structure alone, without HTTP: what the endpoint adds is the difference."""
    index = SongSearch(names)
    seconds = []
    for _, query, limit in plan:
        started = time.perf_counter()
        index.search(query, limit)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> str:
    names = song_names(SONGS)
    data_dir = OUT / "search" / "data"
    publish_big_model(data_dir, names)
    plan = queries(names, QUERIES)
    result = asyncio.run(measure(data_dir, plan))
    by_kind: dict[str, list[float]] = result["by_kind"]  # type: ignore[assignment]
    everything = [seconds for values in by_kind.values() for seconds in values]
    rows = [[kind, len(values), *percentiles(values)] for kind, values in by_kind.items()]
    rows.append(["all, through the app", len(everything), *percentiles(everything)])
    structure = structure_latencies(names, plan)
    rows.append(["all, the structure alone", len(structure), *percentiles(structure)])
    p99 = statistics.quantiles(everything, n=100)[98] * 1000
    rss_before, rss_after = result["rss"]  # type: ignore[misc]
    verdict = "met" if p99 <= TARGET_P99_MS else "NOT met"
    return "\n".join(
        [
            "## Song search (`python -m bench search`)",
            "",
            f"{machine()}. `GET /api/search` in-process (`create_app` behind httpx's ASGI "
            f"transport, no network) on a model of {SONGS:,} songs; {QUERIES} queries one after "
            "another: the start of a song's name (1-15 characters), single letters, and "
            "names that match nothing; a third at limit 50, the rest at 10.",
            "",
            table(["queries", "count", "p50 ms", "p99 ms", "max ms"], rows),
            "",
            f"- search p99 on {SONGS:,} songs: {p99:.2f} ms (target: at most "
            f"{TARGET_P99_MS:g} ms; {verdict})",
            f"- first search of a model (builds the structure in a worker thread): "
            f"{result['build']:.2f} s; process RSS {rss_before:.0f} MB before, "
            f"{rss_after:.0f} MB after",
        ]
    )


if __name__ == "__main__":
    print(main())
