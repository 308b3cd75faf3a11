"""The request metrics kept as plain numbers expose exactly what prometheus-client's own
Counter and Histogram would for the same requests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from recsys.serving.request_stats import LATENCY_BUCKETS, RequestStats

requests = st.lists(
    st.tuples(
        st.sampled_from(["/api/recommend", "/healthz", "unmatched"]),
        st.sampled_from(["GET", "POST", "HEAD"]),
        st.sampled_from([200, 404, 413, 422, 499, 500]),
        st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 10, allow_nan=False)),
    ),
    max_size=40,
)
# (sent songs known, unknown, recommended from rules, from popularity) per answer
songs = st.lists(st.tuples(*[st.integers(0, 10)] * 4), max_size=10)


def exposed_by_prometheus_client(
    seen: list[tuple[str, str, int, float]], answered: list[tuple[int, int, int, int]]
) -> bytes:
    registry = CollectorRegistry()
    counter = Counter(
        "recsys_http_requests",
        "HTTP requests by route template, method and status code.",
        ["route", "method", "status"],
        registry=registry,
    )
    histogram = Histogram(
        "recsys_http_request_duration_seconds",
        "Time to answer, by route template.",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    recommended = Counter(
        "recsys_recommended_songs",
        "Songs answered, by where they came from: rules, or the popularity fill.",
        ["source"],
        registry=registry,
    )
    recommended.labels("rules")
    recommended.labels("popularity")
    sent = Counter(
        "recsys_request_songs",
        "Songs sent to /api/recommend, by whether the served model knows them.",
        ["known"],
        registry=registry,
    )
    sent.labels("true")
    sent.labels("false")
    none_known = Counter(
        "recsys_requests_without_known_songs",
        "Answers of /api/recommend to requests none of whose songs the model knows.",
        registry=registry,
    )
    for route, method, status, seconds in seen:
        counter.labels(route, method, str(status)).inc()
        histogram.labels(route).observe(seconds)
    for known, unknown, from_rules, from_popularity in answered:
        sent.labels("true").inc(known)
        sent.labels("false").inc(unknown)
        if not known:
            none_known.inc()
        recommended.labels("rules").inc(from_rules)
        recommended.labels("popularity").inc(from_popularity)
    return generate_latest(registry)


def exposed_by_request_stats(
    seen: list[tuple[str, str, int, float]], answered: list[tuple[int, int, int, int]]
) -> bytes:
    registry = CollectorRegistry()
    stats = RequestStats()
    registry.register(stats)
    for route, method, status, seconds in seen:
        stats.record(route, method, status, seconds)
    for answer in answered:
        stats.recommended(*answer)
    return generate_latest(registry)


def samples(exposition: bytes) -> list[str]:
    """Lines in a stable order, sums rounded (the two add floats in different orders)."""
    lines = []
    for line in exposition.decode().splitlines():
        if "_sum{" in line:
            name, value = line.rsplit(" ", 1)
            line = f"{name} {float(value):.9g}"
        lines.append(line)
    return sorted(lines)


@given(requests, songs)
def test_the_same_samples_as_prometheus_client(
    seen: list[tuple[str, str, int, float]], answered: list[tuple[int, int, int, int]]
) -> None:
    assert samples(exposed_by_request_stats(seen, answered)) == samples(
        exposed_by_prometheus_client(seen, answered)
    )
