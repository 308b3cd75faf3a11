"""What images/test-images.sh asks of the API pod that `podman kube play` started, from the
host, through the loopback ports images/kube-play/dev publishes. Every wait is bounded.

    probe.py live CONTAINER PORT
        /healthz answers 200 (within 60 s), while /readyz and POST /api/recommend answer
        503: the pod is live before any model exists, and not ready.
    probe.py serves CONTAINER PORT MODEL_ID DATASET
        within 90 s /readyz answers 200 and /api/model names MODEL_ID, trained from a URL
        ending in DATASET; then POST /api/recommend, asked about songs of that model, answers
        200 with songs from MODEL_ID.
    probe.py metrics CONTAINER PORT METRICS_PORT
        /metrics answers on METRICS_PORT with recsys series, and 404 on PORT; /healthz (the
        liveness probe's route) answers 200 on METRICS_PORT too.

CONTAINER is the API container: a probe stops at once if it is no longer running.
Standard library only: it runs on the host's python3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, NoReturn

LIVE_WITHIN = 60.0
SERVE_WITHIN = 90.0


def fail(message: str) -> NoReturn:
    sys.exit(f"test-images: FAILED: {message}")


def running(container: str) -> bool:
    state = subprocess.run(
        ["podman", "inspect", "-f", "{{.State.Running}}", container],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    return state == "true"


def call(port: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON body or text) of one request; status 0 when nothing answered."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, str(error)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def shown(answer: tuple[int, Any]) -> str:
    status, body = answer
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"{status} {text[:300]}"


def wait(container: str, seconds: float, what: str, attempt: Any) -> Any:
    """attempt() every half second until it returns something other than None."""
    deadline = time.monotonic() + seconds
    last = "no attempt"
    while time.monotonic() < deadline:
        if not running(container):
            fail(f"the API container {container} stopped, waiting for {what}")
        result, last = attempt()
        if result is not None:
            return result
        time.sleep(0.5)
    fail(f"{what}: not within {seconds:g} s; last: {last}")


def live(container: str, port: str) -> None:
    def healthz() -> tuple[Any, str]:
        answer = call(port, "/healthz")
        return (True if answer[0] == 200 else None), shown(answer)

    wait(container, LIVE_WITHIN, "/healthz answering 200", healthz)
    print(f"GET /healthz -> 200 (live, {container})")
    for path, body in [("/readyz", None), ("/api/recommend", {"songs": ["Gold"]})]:
        answer = call(port, path, body)
        if answer[0] != 503:
            fail(f"{path} before any model: expected 503, got {shown(answer)}")
        print(f"{'POST' if body else 'GET'} {path} -> {shown(answer)} (no model yet)")


def serves(container: str, port: str, model_id: str, dataset: str) -> None:
    def model() -> tuple[Any, str]:
        ready, info = call(port, "/readyz"), call(port, "/api/model")
        if ready[0] == 200 and info[0] == 200 and info[1].get("model_id") == model_id:
            return info[1], shown(info)
        return None, f"/readyz {shown(ready)}; /api/model {shown(info)}"

    info = wait(container, SERVE_WITHIN, f"the API ready with model {model_id}", model)
    url = info.get("dataset", {}).get("url", "")
    if not url.endswith(f"/{dataset}"):
        fail(f"model {model_id} was trained from {url!r}, not from {dataset}")
    print(f"GET /readyz -> 200; GET /api/model -> {model_id}, trained from {url}")
    status, known = call(port, "/api/songs?limit=3")
    if status != 200 or not known.get("songs"):
        fail(f"/api/songs: {shown((status, known))}")
    asked = {"songs": known["songs"], "k": 5}
    answer = call(port, "/api/recommend", asked)
    status, body = answer
    if status != 200 or body.get("model_id") != model_id or not body.get("songs"):
        fail(f"POST /api/recommend {json.dumps(asked, ensure_ascii=False)}: {shown(answer)}")
    print(f"POST /api/recommend {json.dumps(asked, ensure_ascii=False)} -> {shown(answer)}")


def metrics(container: str, port: str, metrics_port: str) -> None:
    if not running(container):
        fail(f"the API container {container} stopped")
    status, text = call(metrics_port, "/metrics")
    if status != 200 or "recsys_" not in str(text):
        fail(f"/metrics on port {metrics_port}: {shown((status, text))}")
    print(f"GET :{metrics_port}/metrics -> 200 ({str(text).count(chr(10))} lines)")
    answer = call(port, "/metrics")
    if answer[0] != 404:
        fail(f"/metrics on the API port {port}: expected 404, got {shown(answer)}")
    print(f"GET :{port}/metrics -> 404 (not on the API's port)")
    health = call(metrics_port, "/healthz")
    if health != (200, {"status": "ok"}):
        fail(f"/healthz on the metrics port {metrics_port}: {shown(health)}")
    print(f"GET :{metrics_port}/healthz -> 200 (where the liveness probe asks)")


COMMANDS = {"live": (live, 2), "serves": (serves, 4), "metrics": (metrics, 3)}

if __name__ == "__main__":
    command, arguments = sys.argv[1] if len(sys.argv) > 1 else "", sys.argv[2:]
    if command not in COMMANDS or len(arguments) != COMMANDS[command][1]:
        sys.exit(__doc__)
    COMMANDS[command][0](*arguments)
