"""`recsys serve`: the API under uvicorn."""

from __future__ import annotations

import argparse
import json

from recsys.cli.common import Commands, add_command, data_dir_flag, say, settings_from
from recsys.settings import Settings


def _try_it(settings: Settings) -> str:
    """A ready-to-paste curl, with songs of the current model when there is one."""
    from recsys.model.format import ModelError, read_first_names
    from recsys.model.pointer import read_pointer

    songs = ["Forever Ghost", "Gold"]  # of the bundled sample, which `make run` serves
    try:
        pointer = read_pointer(settings.data_dir)
        if pointer is not None:
            songs = read_first_names(pointer.model_path(settings.data_dir), 2) or songs
    except (ModelError, OSError):
        pass
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    body = json.dumps({"songs": songs, "k": 5}, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"recsys API on http://{host}:{settings.port}  (docs: http://{host}:{settings.port}/docs, "
        f"metrics: http://{host}:{settings.metrics_port}/metrics)\n"
        f"try: curl -s http://{host}:{settings.port}/api/recommend -d '{body}'"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from recsys.serving.server import build_server

    settings = settings_from(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    server = build_server(settings)
    say(_try_it(settings))
    server.run()
    return 0


def register(commands: Commands) -> None:
    serve = add_command(
        commands,
        "serve",
        cmd_serve,
        "Serve recommendations over HTTP, following every newly published model.",
        "  recsys serve\n"
        "  recsys serve --host 0.0.0.0 --port 8080 --data-dir /data\n"
        "  RECSYS_WATCH=poll RECSYS_POLL_INTERVAL=5 recsys serve",
        [data_dir_flag()],
    )
    serve.add_argument("--host", help="listen address (RECSYS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RECSYS_PORT, default 8000)")
    serve.add_argument(
        "--metrics-port", type=int, help="port of /metrics (RECSYS_METRICS_PORT, default 9100)"
    )
    serve.add_argument(
        "--watch",
        choices=["events", "poll", "auto"],
        help="how to notice new models (RECSYS_WATCH)",
    )
    serve.add_argument("--poll-interval", type=float, help="seconds (RECSYS_POLL_INTERVAL)")
    serve.add_argument("--top-k", type=int, help="songs per answer by default (RECSYS_TOP_K)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        help="log a line per request (RECSYS_ACCESS_LOG, default off)",
    )
