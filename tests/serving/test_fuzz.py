"""Fuzz the app in-process: no request, however malformed, gets a 5xx or a non-JSON answer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.model.rules import RuleSet
from tests.support.app import AppClient
from tests.support.bodies import CONTENT_TYPES, bodies

REQUESTS = 1200

PATHS = st.sampled_from(["/api/recommend", "/api/recommender"])


def test_no_request_gets_a_server_error(app: AppClient, ds1_rules: RuleSet) -> None:
    sent: list[int] = []

    @settings(
        max_examples=REQUESTS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(
        path=PATHS,
        body=bodies(ds1_rules.vocabulary[:50]),
        content_type=CONTENT_TYPES,
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    )
    def send(path: str, body: bytes, content_type: str | None, method: str) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        response = app.request(method, path, content=body, headers=headers)
        sent.append(response.status_code)
        assert response.status_code < 500, (body[:300], response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["detail" if response.status_code >= 400 else "songs"] is not None

    send()
    print(f"{len(sent)} requests: " + ", ".join(f"{s}: {sent.count(s)}" for s in sorted(set(sent))))
    assert len(sent) >= 1000
    assert {200, 422} <= set(sent)
