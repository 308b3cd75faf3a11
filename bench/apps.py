"""The servers the API benchmarks compare, each started as its own process.

- `recsys serve` as the manifests run it (`deployed_server`): the container's arguments
  and environment from deploy/kustomize/base/deployment.yaml, with local ports and paths.
- `python -m bench.apps raw PORT`: the floor, a raw ASGI app under uvicorn that reads the
  whole body and answers a constant of the answer's shape: the cost of uvicorn alone.
  `raw-recsys` runs the same app under `recsys serve`'s own protocol, for reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import uvicorn
import yaml

from recsys import __version__
from recsys.serving.server import http_protocol
from recsys.settings import load_settings

DEPLOYMENT = Path(__file__).resolve().parent.parent / "deploy/kustomize/base/deployment.yaml"

CONSTANT = orjson.dumps(
    {
        "songs": [f"song {n}" for n in range(10)],
        "version": __version__,
        "model_date": "2026-01-01T00:00:00+00:00",
        "model_id": "constant",
        "unknown_songs": [],
        "filled": 0,
    }
)


def deployed_command(data_dir: Path, port: int, metrics_port: int) -> tuple[list[str], dict]:
    """`recsys serve` with the API container's args and env; local paths and ports."""
    manifest = yaml.safe_load(DEPLOYMENT.read_text())
    (container,) = [c for c in manifest["spec"]["template"]["spec"]["containers"]]
    env = {item["name"]: str(item["value"]) for item in container.get("env", [])}
    env.update(
        RECSYS_DATA_DIR=str(data_dir),
        RECSYS_HOST="127.0.0.1",
        RECSYS_PORT=str(port),
        RECSYS_METRICS_PORT=str(metrics_port),
    )
    return [sys.executable, "-m", "recsys", *container["args"]], env


def deployed_app():  # type: ignore[no-untyped-def]
    """`recsys serve`'s app from RECSYS_* settings, for `uvicorn --factory` (bench.workers)."""
    from recsys.serving.app import create_app

    return create_app(load_settings())


# `recsys serve`'s HTTP protocol (its limits, one write per answer), for `uvicorn --http`.
DeployedProtocol = http_protocol(load_settings())


async def raw_constant(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """The floor: read the body, answer the constant. No routing, no validation."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [
        (b"content-length", str(len(CONSTANT)).encode()),
        (b"content-type", b"application/json"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": CONSTANT})


def main() -> None:
    """`raw PORT`: under uvicorn as it comes; `raw-recsys PORT`: under `recsys serve`'s
    protocol and settings (one write per answer, no proxy headers)."""
    port = int(sys.argv[2])
    recsys = {"http": DeployedProtocol, "proxy_headers": False}
    options = recsys if sys.argv[1] == "raw-recsys" else {}
    uvicorn.run(
        raw_constant, host="127.0.0.1", port=port, access_log=False, log_level="warning", **options
    )


if __name__ == "__main__":
    main()
