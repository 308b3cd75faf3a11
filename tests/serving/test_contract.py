"""The HTTP contract (docs/architecture.md, "HTTP"), in-process through httpx.ASGITransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recsys import __version__
from recsys.model.pointer import read_pointer
from recsys.model.rules import RuleSet
from recsys.serving.schemas import RecommendResponse
from recsys.settings import Settings
from tests.support.app import AppClient, in_process


def popular(rules: RuleSet, n: int) -> list[str]:
    return rules.vocabulary[:n]


def test_recommend_answers_the_three_fields(
    app: AppClient, served_dir: Path, ds1_rules: RuleSet
) -> None:
    liked = popular(ds1_rules, 3)
    response = app.post("/api/recommend", json={"songs": liked})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["songs"], list)
    assert all(isinstance(song, str) for song in body["songs"])
    assert len(body["songs"]) == 10  # RECSYS_TOP_K default
    assert not set(body["songs"]) & set(liked)
    assert body["version"] == __version__
    pointer = read_pointer(served_dir)
    assert body["model_date"] == pointer.model_date
    assert body["model_id"] == pointer.model_id
    assert body["unknown_songs"] == []


def test_the_course_alias_and_k(app: AppClient, ds1_rules: RuleSet) -> None:
    liked = popular(ds1_rules, 2)
    via_alias = app.post("/api/recommender", json={"songs": liked, "k": 3})
    direct = app.post("/api/recommend", json={"songs": liked, "k": 3})
    assert via_alias.status_code == 200
    assert via_alias.json() == direct.json()
    assert len(direct.json()["songs"]) == 3


def test_a_body_without_json_content_type(app: AppClient, ds1_rules: RuleSet) -> None:
    body = json.dumps({"songs": popular(ds1_rules, 1)})
    for headers in (
        {},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "text/plain"},
    ):
        response = app.post("/api/recommend", content=body, headers=headers)
        assert response.status_code == 200, (headers, response.text)


def test_unknown_songs_and_the_popularity_fill(app: AppClient, ds1_rules: RuleSet) -> None:
    response = app.post("/api/recommend", json={"songs": ["No Such Song", "Another One"], "k": 4})
    body = response.json()
    assert body["unknown_songs"] == ["No Such Song", "Another One"]
    assert body["songs"] == popular(ds1_rules, 4)
    assert body["filled"] == 4


def test_names_match_whatever_their_case_and_spacing(app: AppClient, ds1_rules: RuleSet) -> None:
    song = popular(ds1_rules, 1)[0]
    shouted = f"  {song.upper()}  "
    exact = app.post("/api/recommend", json={"songs": [song]}).json()
    messy = app.post("/api/recommend", json={"songs": [shouted]}).json()
    assert messy["unknown_songs"] == []
    assert messy["songs"] == exact["songs"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"not json", "body"),
        (b"", "body"),
        (b"[]", "body"),
        (b'{"songs": []}', "songs"),
        (b'{"songs": "one"}', "songs"),
        (b'{"songs": [1, 2]}', "songs.0"),
        (b'{"songs": ["a"], "k": 0}', "k"),
        (b'{"songs": ["a"], "k": 101}', "k"),
        (b'{"songs": ["a"], "k": "ten"}', "k"),
        (b'{"songs": ["a"], "k": "5"}', "k"),
        (b'{"songs": ["a"], "k": true}', "k"),
        (b'{"songs": ["a"], "k": 2.0}', "k"),
        (json.dumps({"songs": ["x" * 501]}).encode(), "songs.0"),
        (json.dumps({"songs": ["a"] * 1001}).encode(), "songs"),
        (b'{"songs": [""]}', "songs.0"),
    ],
)
def test_invalid_bodies_are_422_with_a_reason(app: AppClient, body: bytes, where: str) -> None:
    response = app.post("/api/recommend", content=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"].startswith(f"{where}: ")
    assert problem["errors"]


def test_too_large_is_413(app: AppClient) -> None:
    big = json.dumps({"songs": ["y" * 400] * 3000}).encode()
    response = app.post("/api/recommend", content=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: capped while streaming
        for _ in range(40):
            yield b"x" * 65536

    streamed = app.post("/api/recommend", content=chunks())
    assert streamed.status_code == 413


def test_docs_openapi_and_model(app: AppClient, served_dir: Path) -> None:
    assert app.get("/docs").status_code == 200
    schema = app.get("/openapi.json").json()
    assert "/api/recommend" in schema["paths"]
    assert "/api/recommender" not in schema["paths"]
    operation = schema["paths"]["/api/recommend"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["songs"]
    assert "examples" in json.dumps(schema)
    model = app.get("/api/model").json()
    pointer = read_pointer(served_dir)
    assert model["model_id"] == pointer.model_id
    assert model["sha256"] == pointer.sha256
    assert model["rules"] > 0
    assert "vocabulary" not in model


def test_explain_is_documented_and_answers_in_the_documented_shape(
    app: AppClient, ds1_rules: RuleSet
) -> None:
    schema = app.get("/openapi.json").json()
    operation = schema["paths"]["/api/recommend"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["explain"]["type"] == "boolean"
    assert any(example.get("explain") is True for example in request["examples"])
    response = schema["components"]["schemas"]["RecommendResponse"]
    assert "because" in response["properties"]
    assert any("because" in example for example in response["examples"])
    for example in response["examples"]:
        RecommendResponse.model_validate(example)
    body = {"songs": ds1_rules.vocabulary[:2], "k": 5, "explain": True}
    answer = app.post("/api/recommend", json=body).json()
    assert RecommendResponse.model_validate(answer).because is not None
    assert any(answer["because"])


def test_unknown_route_is_json_404(app: AppClient) -> None:
    response = app.get("/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


def test_no_model_yet_is_503_with_retry_after(data_dir: Path) -> None:
    with in_process(Settings(data_dir=data_dir, poll_interval=3)) as empty:
        response = empty.post("/api/recommend", json={"songs": ["a"]})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        assert response.json() == {"detail": "no model loaded yet"}
        for path in ("/readyz", "/api/model", "/api/songs"):
            assert empty.get(path).status_code == 503
            assert empty.get(path).json() == {"detail": "no model loaded yet"}
        assert empty.get("/healthz").status_code == 200


def test_every_422_has_one_shape(app: AppClient) -> None:
    for response in (
        app.get("/api/songs", params={"limit": 0}),
        app.post("/api/recommend", json={"songs": []}),
    ):
        assert response.status_code == 422
        problem = response.json()
        assert set(problem) == {"detail", "errors"}
        where = ".".join(str(part) for part in problem["errors"][0]["loc"])
        assert problem["detail"].startswith(f"{where}: ")
        assert all(set(item) == {"loc", "msg", "type"} for item in problem["errors"])


def test_metrics(app: AppClient, served_dir: Path, ds1_rules: RuleSet) -> None:
    def count(status: str) -> float:
        return app.metric(
            "recsys_http_requests_total",
            default=0,  # a status's series appears with its first request
            route="/api/recommend",
            method="POST",
            status=status,
        )

    ok, invalid = count("200"), count("422")
    app.post("/api/recommend", json={"songs": ["a"]})
    app.post("/api/recommend", content=b"{")
    assert count("200") == ok + 1
    assert count("422") == invalid + 1
    assert app.metric("recsys_model_reloads_total", result="loaded") == 1
    rules_before = app.metric("recsys_recommended_songs_total", source="rules")
    fill_before = app.metric("recsys_recommended_songs_total", source="popularity")
    answer = app.post("/api/recommend", json={"songs": ds1_rules.vocabulary[:1], "k": 20}).json()
    assert answer["filled"] < 20
    rules_after = app.metric("recsys_recommended_songs_total", source="rules")
    assert rules_after == rules_before + 20 - answer["filled"]
    fill_after = app.metric("recsys_recommended_songs_total", source="popularity")
    assert fill_after == fill_before + answer["filled"]
    assert app.metric("recsys_model_coverage") == pytest.approx(ds1_rules.coverage)
    assert app.metric("recsys_model_rules") == ds1_rules.rule_count
    assert app.metric("recsys_model_age_seconds") >= 0
    pointer = read_pointer(served_dir)
    assert (
        app.metric("recsys_model_info", model_id=pointer.model_id, model_date=pointer.model_date)
        == 1
    )


def test_a_bug_answers_json_not_text(data_dir: Path) -> None:
    with in_process(Settings(data_dir=data_dir)) as client:

        async def broken() -> None:
            raise RuntimeError("a bug")

        client.app.add_api_route("/broken", broken)
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error"}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "route"])
def test_sent_songs_are_counted_by_whether_the_model_knows_them(
    served_dir: Path, ds1_rules: RuleSet, fast_path: bool
) -> None:
    known = ds1_rules.vocabulary[0]
    with in_process(Settings(data_dir=served_dir), fast_path=fast_path) as app:
        app.post("/api/recommend", json={"songs": [known, "Not A Song", "Nor This"]})
        app.post("/api/recommend", json={"songs": ["Not A Song"]})
        app.post("/api/recommend", json={"songs": [known]})
        app.post("/api/recommend", json={"songs": []})  # 422: counts nothing
        assert app.metric("recsys_request_songs_total", known="true") == 2
        assert app.metric("recsys_request_songs_total", known="false") == 3
        assert app.metric("recsys_requests_without_known_songs_total") == 1
        assert app.metric("process_resident_memory_bytes") > 0
