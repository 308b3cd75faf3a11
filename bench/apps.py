"""The servers the API benchmarks compare, each started as its own process.

`python -m bench.apps recsys DATA_DIR PORT` serves the real app plus `/bench/constant`, a
route that reads and validates the same body as `/api/recommend` and answers a constant
of the same shape: the cost of FastAPI, uvicorn and our middleware with no model work.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import uvicorn
from fastapi import Request
from fastapi.responses import Response

from recsys import __version__
from recsys.serving import create_app
from recsys.serving.schemas import RecommendRequest
from recsys.settings import Settings

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


def recsys_app(data_dir: Path):  # type: ignore[no-untyped-def]
    app = create_app(Settings(data_dir=data_dir))

    @app.post("/bench/constant")
    async def constant(request: Request) -> Response:
        RecommendRequest.model_validate_json(await request.body())
        return Response(CONSTANT, media_type="application/json")

    return app


def main() -> None:
    data_dir, port = Path(sys.argv[2]), int(sys.argv[3])
    uvicorn.run(
        recsys_app(data_dir), host="127.0.0.1", port=port, access_log=False, log_level="warning"
    )


if __name__ == "__main__":
    main()
