"""Fuzz the app in-process: no request, however malformed, gets a 5xx or a non-JSON answer."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.model.rules import RuleSet
from tests.support.app import AppClient

REQUESTS = 1200

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


def bodies(known: list[str]) -> st.SearchStrategy[bytes]:
    songs = st.lists(st.sampled_from(known) | st.text(max_size=600), max_size=1100)
    requests = st.fixed_dictionaries(
        {"songs": songs},
        optional={
            "k": st.integers(min_value=-5, max_value=200) | json_values,
            "extra": json_values,
        },
    )
    as_json = (requests | json_values).map(lambda value: json.dumps(value).encode())
    return as_json | st.binary(max_size=2000)


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]
)
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
