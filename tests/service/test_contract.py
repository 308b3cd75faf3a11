"""The HTTP contract of DESIGN.md, against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from recsys import __version__
from recsys.artifact import read_pointer
from recsys.mining import RuleSet
from tests.support.server import ServerProcess


def popular(rules: RuleSet, n: int) -> list[str]:
    return rules.vocabulary[:n]


def test_recommend_answers_the_three_fields(served: ServerProcess, ds1_rules: RuleSet) -> None:
    liked = popular(ds1_rules, 3)
    response = httpx.post(f"{served.url}/api/recommend", json={"songs": liked})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["songs"], list)
    assert all(isinstance(song, str) for song in body["songs"])
    assert len(body["songs"]) == 10  # RECSYS_TOP_K default
    assert not set(body["songs"]) & set(liked)
    assert body["version"] == __version__
    pointer = read_pointer(served.data_dir)
    assert body["model_date"] == pointer.model_date
    assert body["model_id"] == pointer.model_id
    assert body["unknown_songs"] == []


def test_the_course_alias_and_k(served: ServerProcess, ds1_rules: RuleSet) -> None:
    liked = popular(ds1_rules, 2)
    via_alias = httpx.post(f"{served.url}/api/recommender", json={"songs": liked, "k": 3})
    direct = httpx.post(f"{served.url}/api/recommend", json={"songs": liked, "k": 3})
    assert via_alias.status_code == 200
    assert via_alias.json() == direct.json()
    assert len(direct.json()["songs"]) == 3


def test_a_body_without_json_content_type(served: ServerProcess, ds1_rules: RuleSet) -> None:
    body = json.dumps({"songs": popular(ds1_rules, 1)})
    for headers in (
        {},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "text/plain"},
    ):
        response = httpx.post(f"{served.url}/api/recommend", content=body, headers=headers)
        assert response.status_code == 200, (headers, response.text)


def test_unknown_songs_and_the_popularity_fill(served: ServerProcess, ds1_rules: RuleSet) -> None:
    response = httpx.post(
        f"{served.url}/api/recommend", json={"songs": ["No Such Song", "Another One"], "k": 4}
    )
    body = response.json()
    assert body["unknown_songs"] == ["No Such Song", "Another One"]
    assert body["songs"] == popular(ds1_rules, 4)
    assert body["filled"] == 4


def test_names_match_whatever_their_case_and_spacing(
    served: ServerProcess, ds1_rules: RuleSet
) -> None:
    song = popular(ds1_rules, 1)[0]
    shouted = f"  {song.upper()}  "
    exact = httpx.post(f"{served.url}/api/recommend", json={"songs": [song]}).json()
    messy = httpx.post(f"{served.url}/api/recommend", json={"songs": [shouted]}).json()
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
        (json.dumps({"songs": ["x" * 501]}).encode(), "songs.0"),
        (json.dumps({"songs": ["a"] * 1001}).encode(), "songs"),
        (b'{"songs": [""]}', "songs.0"),
    ],
)
def test_invalid_bodies_are_422_with_a_reason(
    served: ServerProcess, body: bytes, where: str
) -> None:
    response = httpx.post(f"{served.url}/api/recommend", content=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"].startswith(f"{where}: ")
    assert problem["errors"]


def test_too_large_is_413(served: ServerProcess) -> None:
    big = json.dumps({"songs": ["y" * 400] * 3000}).encode()
    response = httpx.post(f"{served.url}/api/recommend", content=big)
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]

    def chunks():  # no Content-Length: the cap applies while streaming
        for _ in range(40):
            yield b"x" * 65536

    streamed = httpx.post(f"{served.url}/api/recommend", content=chunks())
    assert streamed.status_code == 413


def test_docs_openapi_and_model(served: ServerProcess) -> None:
    assert httpx.get(f"{served.url}/docs").status_code == 200
    schema = httpx.get(f"{served.url}/openapi.json").json()
    assert "/api/recommend" in schema["paths"]
    assert "/api/recommender" not in schema["paths"]
    operation = schema["paths"]["/api/recommend"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["songs"]
    assert "examples" in json.dumps(schema)
    model = httpx.get(f"{served.url}/api/model").json()
    pointer = read_pointer(served.data_dir)
    assert model["model_id"] == pointer.model_id
    assert model["sha256"] == pointer.sha256
    assert model["rules"] > 0
    assert "vocabulary" not in model


def test_unknown_route_is_json_404(served: ServerProcess) -> None:
    response = httpx.get(f"{served.url}/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


def test_no_model_yet_is_503_with_retry_after(
    data_dir: Path, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(data_dir, RECSYS_POLL_INTERVAL="3")
    response = httpx.post(f"{server.url}/api/recommend", json={"songs": ["a"]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["detail"] == "no model loaded yet"
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    assert httpx.get(f"{server.url}/api/model").status_code == 503
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_metrics(served: ServerProcess, ds1_rules: RuleSet) -> None:
    def count(status: str) -> float:
        return served.metric(
            "recsys_http_requests_total", route="/api/recommend", method="POST", status=status
        )

    ok, invalid = count("200"), count("422")
    httpx.post(f"{served.url}/api/recommend", json={"songs": ["a"]})
    httpx.post(f"{served.url}/api/recommend", content=b"{")
    assert count("200") == ok + 1
    assert count("422") == invalid + 1
    assert served.metric("recsys_model_reloads_total", result="loaded") == 1
    assert served.metric("recsys_model_rules") == ds1_rules.rule_count
    assert served.metric("recsys_model_age_seconds") >= 0
    pointer = read_pointer(served.data_dir)
    assert (
        served.metric("recsys_model_info", model_id=pointer.model_id, model_date=pointer.model_date)
        == 1
    )


def test_the_service_does_not_import_the_training_stack() -> None:
    probe = (
        "import sys, recsys.service, recsys.cli; "
        "heavy = sorted(m for m in ('polars', 'efficient_apriori') if m in sys.modules); "
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
