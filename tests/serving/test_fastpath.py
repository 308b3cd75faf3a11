"""The fast path of /api/recommend answers exactly as the documented FastAPI route does.

For any body, an app with the fast path and the route alone (`fast_path=False`) give the
same status, the same headers that matter and the same bytes, so every error answer still
comes from the route. The fuzz and hardening tests run against the fast path as well,
since it is on by default.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recsys.model.format import ModelFile, decode_antecedent
from recsys.model.index import MAX_REASONS, RuleIndex
from recsys.model.pointer import load_current
from recsys.model.rules import RuleSet
from recsys.serving import fastpath
from recsys.serving.fastpath import PATHS, RecommendFastPath, accepted
from recsys.serving.routes import router
from recsys.serving.schemas import RecommendRequest
from recsys.settings import Settings
from recsys.songs import normalize_song_name
from recsys.training.holdout import rules_recommender
from tests.support.app import AppClient, in_process
from tests.support.bodies import CONTENT_TYPES, bodies

EXAMPLES = 1500

# Where orjson and pydantic's JSON parser may disagree: the fast path must pass them on.
EDGE_CASES = [
    b'{"songs": ["a"], "songs": []}',
    b'{"songs": [], "songs": ["a"]}',
    b'{"songs": ["a"], "k": 3, "k": 0}',
    b'{"songs": ["a"], "k": 99999999999999999999999}',
    b'{"songs": ["a"], "k": -0}',
    b'{"songs": ["a"], "k": 5.0}',
    b'{"songs": ["a"], "k": 1e1}',
    b'{"songs": ["a"], "k": NaN}',
    b'{"songs": ["a"], "k": Infinity}',
    b'{"songs": ["a"], "k": true}',
    b'{"songs": ["a"], "k": "5"}',
    b'{"songs": ["a"], "k": null}',
    b'{"songs": ["a"], "explain": true}',
    b'{"songs": ["a"], "explain": false}',
    b'{"songs": ["a"], "explain": null}',
    b'{"songs": ["a"], "explain": 1}',
    b'{"songs": ["a"], "explain": 0}',
    b'{"songs": ["a"], "explain": "true"}',
    b'{"songs": ["a"], "explain": [true]}',
    b'{"songs": ["a"], "explain": true, "explain": false}',
    b'{"songs": ["a"], "explain": false, "explain": 1}',
    b'{"songs": ["\\ud800"]}',
    b'{"songs": ["\\udc00x"], "k": 2}',
    b'{"songs": ["\xed\xa0\x80"]}',
    b'\xef\xbb\xbf{"songs": ["a"]}',
    b'{"songs": ["a"]}\x00',
    b'{"songs": ["a"]} ',
    b' \n\t{"songs": ["a"]}\r\n',
    b'{"songs": ["a"]}{}',
    b'{"songs": ["a",]}',
    b'{"songs": ["\xff"]}',
    b'{"songs": ["a\\u0000b"]}',
    b'{"songs": [""]}',
    b'{"songs": ["' + b"x" * 500 + b'"]}',
    b'{"songs": ["' + b"x" * 501 + b'"]}',
    b'{"songs": ["' + "é".encode() * 500 + b'"]}',
    b'{"songs": ["' + "😀".encode() * 500 + b'"]}',
    b'{"songs": ["' + "😀".encode() * 501 + b'"]}',
    json.dumps({"songs": ["a"] * 1000}).encode(),
    json.dumps({"songs": ["a"] * 1001}).encode(),
    b"",
    b"null",
    b"[]",
    b'"songs"',
    b"{}",
    b'{"songs": "a"}',
    b'{"songs": {"0": "a"}}',
    b'{"SONGS": ["a"]}',
]


def likely_valid(known: list[str]) -> st.SearchStrategy[bytes]:
    """Bodies near the limits, mostly valid: the ones the fast path answers itself."""
    name = st.sampled_from(known) | st.text(min_size=0, max_size=501)
    request = st.fixed_dictionaries(
        {"songs": st.lists(name, min_size=0, max_size=12)},
        optional={**OPTIONAL_FIELDS, "x": st.text()},
    )
    return request.map(lambda value: json.dumps(value, ensure_ascii=False).encode())


# Values for every optional field of RecommendRequest, valid and not.
OPTIONAL_FIELDS = {
    "k": st.none() | st.integers(min_value=-1, max_value=102),
    "explain": st.booleans() | st.none() | st.integers(0, 1) | st.just("true"),
}


def test_the_fast_path_and_these_tests_know_every_field_of_the_request() -> None:
    """A field added to the schema must be read by the fast path (else it would answer as
    if the field were not sent) and generated here (else nothing would notice)."""
    assert set(RecommendRequest.model_fields) == set(fastpath.FIELDS)
    assert set(RecommendRequest.model_fields) == {"songs", *OPTIONAL_FIELDS}


@pytest.fixture(scope="module")
def route_only(served_dir: Path) -> Iterator[AppClient]:
    with in_process(Settings(data_dir=served_dir), fast_path=False) as client:
        yield client


def same_answer(fast: AppClient, route: AppClient, path: str, body: bytes, **headers: str) -> int:
    ours = fast.post(path, content=body, headers=headers)
    theirs = route.post(path, content=body, headers=headers)
    assert ours.status_code == theirs.status_code, (body[:200], ours.text, theirs.text)
    assert ours.content == theirs.content, body[:200]
    for name in ("content-type", "content-length", "retry-after"):
        assert ours.headers.get(name) == theirs.headers.get(name), (name, body[:200])
    return ours.status_code


def test_the_fast_path_is_on_by_default(app: AppClient) -> None:
    assert isinstance(app.app.front.app, RecommendFastPath)


def test_any_body_gets_the_routes_answer(
    app: AppClient, route_only: AppClient, ds1_rules: RuleSet
) -> None:
    statuses: list[int] = []
    answered_fast: list[bool] = []
    known = ds1_rules.vocabulary[:50]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(
        path=st.sampled_from(PATHS), body=bodies(known) | likely_valid(known), kind=CONTENT_TYPES
    )
    def compare(path: str, body: bytes, kind: str | None) -> None:
        headers = {"Content-Type": kind} if kind else {}
        statuses.append(same_answer(app, route_only, path, body, **headers))
        answered_fast.append(accepted(body) is not None)

    for body in EDGE_CASES:
        compare = example(path=PATHS[0], body=body, kind=None)(compare)
    compare()
    assert {200, 422} <= set(statuses)
    print(f"{len(statuses)} bodies, {sum(answered_fast)} answered by the fast path itself")
    assert sum(answered_fast) >= 50, "the fast path answered too few bodies itself"


def test_the_fast_path_answers_without_the_route(served_dir: Path, ds1_rules: RuleSet) -> None:
    body = {"songs": ds1_rules.vocabulary[:2], "k": 3}
    with in_process(Settings(data_dir=served_dir)) as fast:
        fast.app.router.routes[:] = [  # the routes of recsys.serving.routes are gone
            route
            for route in fast.app.router.routes
            if getattr(route, "original_router", None) is not router
        ]
        answer = fast.post("/api/recommend", json=body)
        assert answer.status_code == 200
        assert len(answer.json()["songs"]) == 3
        count = fast.metric(
            "recsys_http_requests_total", route="/api/recommend", method="POST", status="200"
        )
        assert count == 1
        assert fast.post("/api/recommend", json={"songs": []}).status_code == 404


def test_no_model_yet_answers_alike(data_dir: Path) -> None:
    with (
        in_process(Settings(data_dir=data_dir)) as fast,
        in_process(Settings(data_dir=data_dir), fast_path=False) as route,
    ):
        for body in (b'{"songs": ["a"]}', b'{"songs": []}', b"nope", b""):
            same_answer(fast, route, "/api/recommend", body)
        assert same_answer(fast, route, "/api/recommend", b'{"songs": ["a"]}') == 503


def test_oversized_bodies_answer_alike(app: AppClient, route_only: AppClient) -> None:
    big = b'{"songs": ["' + b"a" * (1024 * 1024) + b'"]}'
    assert same_answer(app, route_only, "/api/recommend", big) == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: capped while streaming
        yield big[: 1 << 19]
        yield big[1 << 19 :]

    streamed = [client.post("/api/recommend", content=chunks()) for client in (app, route_only)]
    assert [r.status_code for r in streamed] == [413, 413]
    assert streamed[0].content == streamed[1].content


def test_a_failure_in_the_fast_path_is_answered_by_the_route(
    app: AppClient, route_only: AppClient, ds1_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path sits in front of the app's error handling: what it fails on, the route
    answers (here with its normal 200, as the route itself does not fail)."""

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug in the fast path")

    monkeypatch.setattr(fastpath, "recommend_off_the_loop_if_costly", broken)
    body = json.dumps({"songs": ds1_rules.vocabulary[:2]}).encode()
    assert same_answer(app, route_only, "/api/recommend", body) == 200


def summed_weights(model: ModelFile, liked: set[int], k: int) -> list[int]:
    """Brute force over the model file: each song's summed rule weights (rules of two
    songs: one-song antecedents), groups in key order, ties to the smaller id, then the
    most popular songs not liked."""
    arrays = model.arrays
    scores: dict[int, float] = {}
    for group, key in enumerate(arrays["antecedent_keys"]):
        if set(decode_antecedent(key)) <= liked:
            start, end = arrays["group_offsets"][group], arrays["group_offsets"][group + 1]
            for rule in range(start, end):
                song = arrays["consequents"][rule]
                scores[song] = scores.get(song, 0.0) + arrays["weights"][rule]
    ranked = sorted((song for song in scores if song not in liked), key=lambda s: (-scores[s], s))
    popular = [song for song in range(len(arrays["counts"])) if song not in liked]
    return (ranked + [song for song in popular if song not in scores])[:k]


def rules_by_consequent(model: ModelFile) -> dict[int, dict[tuple[int, ...], float]]:
    """Every rule of the model file: consequent -> antecedent -> its stored weight."""
    arrays = model.arrays
    offsets = arrays["group_offsets"]
    rules: dict[int, dict[tuple[int, ...], float]] = {}
    for group, key in enumerate(arrays["antecedent_keys"]):
        for rule in range(offsets[group], offsets[group + 1]):
            consequent = arrays["consequents"][rule]
            rules.setdefault(consequent, {})[decode_antecedent(key)] = arrays["weights"][rule]
    return rules


def test_explanations_are_rules_of_the_served_model_in_scoring_order(
    app: AppClient, route_only: AppClient, served_dir: Path
) -> None:
    """With `explain`, each rule-made song's reasons are rules the model file holds:
    antecedent among the sent songs, consequent the song, heaviest first, and (when there
    are at most MAX_REASONS) their weights add up to the song's summed score; a filled song
    has none. The rest of the answer is the answer without `explain`, byte for byte."""
    loaded = load_current(served_dir)
    assert loaded is not None
    model = loaded[1]
    names = model.vocabulary
    ids = {name: song for song, name in enumerate(names)}
    rules = rules_by_consequent(model)
    sent_rules = 0

    @settings(max_examples=200, deadline=None, database=None)
    @given(
        liked=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8),
        k=st.integers(min_value=1, max_value=40),
    )
    def check(liked: list[int], k: int) -> None:
        nonlocal sent_rules
        request = {"songs": [names[song] for song in liked], "k": k}
        body = json.dumps({**request, "explain": True}).encode()
        assert same_answer(app, route_only, "/api/recommend", body) == 200
        answer = app.post("/api/recommend", content=body).json()
        plain = app.post("/api/recommend", json=request)
        assert (
            plain.content == app.post("/api/recommend", json={**request, "explain": False}).content
        )
        assert {**answer, "because": None} == {**plain.json(), "because": None}
        assert "because" not in plain.json()
        assert len(answer["because"]) == len(answer["songs"])
        from_rules = len(answer["songs"]) - answer["filled"]
        for position, (song, reasons) in enumerate(
            zip(answer["songs"], answer["because"], strict=True)
        ):
            assert bool(reasons) == (position < from_rules), (song, reasons)
            stored = []
            for reason in reasons:
                antecedent = tuple(sorted(ids[name] for name in reason["liked"]))
                assert set(reason["liked"]) <= set(request["songs"])
                weight = rules[ids[song]][antecedent]  # a KeyError: no such rule
                assert reason["weight"] == float(f"{weight:.6g}")
                stored.append(weight)
            assert stored == sorted(stored, reverse=True)
            score = sum(
                weight
                for antecedent, weight in rules.get(ids[song], {}).items()
                if set(antecedent) <= set(liked)
            )
            if len(reasons) < MAX_REASONS:
                assert sum(stored) == pytest.approx(score, rel=1e-6)
            sent_rules += len(reasons)

    check()
    assert sent_rules > 200, "too few reasons were checked"


def test_the_route_the_fast_path_and_evaluate_rank_by_summed_weights(
    app: AppClient, route_only: AppClient, served_dir: Path
) -> None:
    """One ranking everywhere: the fast path, the route, and `recsys evaluate`'s recommender
    (the index as the tuner and the evaluation ask it) give the model file's summed weights."""
    loaded = load_current(served_dir)
    assert loaded is not None
    model = loaded[1]
    names = model.vocabulary
    evaluate = rules_recommender(
        RuleIndex(model), {normalize_song_name(name): name for name in names}
    )

    @settings(max_examples=300, deadline=None, database=None)
    @given(
        liked=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8),
        k=st.integers(min_value=1, max_value=40),
    )
    def compare(liked: list[int], k: int) -> None:
        body = json.dumps({"songs": [names[song] for song in liked], "k": k}).encode()
        assert same_answer(app, route_only, "/api/recommend", body) == 200
        served = app.post("/api/recommend", content=body).json()["songs"]
        expected = [names[song] for song in summed_weights(model, set(liked), k)]
        assert served == expected
        keys = [normalize_song_name(names[song]) for song in liked]
        assert evaluate(keys, k).songs == [normalize_song_name(name) for name in expected]

    compare()
