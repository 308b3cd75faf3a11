"""The web page at `/`, its files, the song search it calls, and `/docs`.

Everything a browser loads comes from the service itself: the page's HTML, CSS and
JavaScript and the Swagger UI files of `/docs` are shipped inside the package (and so the
API image). Clusters often have no internet access, and a page that needs a CDN is a blank
page there. The page has no build step: the files under `static/` are what is served.

Only the search endpoint is API and appears in the OpenAPI schema; the page, its files
and `/docs` do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from recsys.serving.deps import served_model, service
from recsys.serving.schemas import ErrorResponse
from recsys.serving.search import MAX_LIMIT
from recsys.songs import MAX_SONG_LENGTH

STATIC = Path(__file__).resolve().parent / "static"
SWAGGER_UI = "static/vendor/swagger-ui"
# The page loads only its own files and calls only its own API.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter()


class SearchResponse(BaseModel):
    """Songs whose name starts with the query, most popular first."""

    songs: list[str] = Field(description="in the dataset's spelling, most popular first")
    matches: int = Field(description="how many songs of the model start with the query")
    model_id: str


_SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Invalid query parameters"},
    503: {"model": ErrorResponse, "description": "No model loaded yet (see Retry-After)"},
}


@router.get(
    "/api/search",
    response_model=SearchResponse,
    responses=_SEARCH_ERRORS,
    summary="Songs whose name starts with a prefix",
)
async def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_SONG_LENGTH,
            description="the start of a song's name, matched whatever its case or spacing",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="songs to return")] = 10,
) -> Response:
    """Suggestions as the user types: at most `limit` of the served model's songs whose
    name starts with `q`, most popular first, and how many songs match in all."""
    model = served_model(request)  # after validation: bad input is a 422 even with no model
    found = (await service(request).searches.get(model.index)).search(q, limit)
    body = {"songs": found.songs, "matches": found.matches, "model_id": model.model_id}
    return Response(orjson.dumps(body), media_type="application/json")


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def page() -> FileResponse:
    """The page for people: pick songs, ask, see the answer and the model serving it."""
    headers = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
    return FileResponse(STATIC / "index.html", headers=headers)


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    """FastAPI's Swagger UI page, with its files from the package instead of a CDN."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}/{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=f"{root}/static/favicon.svg",
        # Swagger UI would otherwise send the schema to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )


class PackageFiles(StaticFiles):
    """The files under `static/`. A request for one names its mount as its route, as routed
    requests do, so the request metrics count them as "/static", not as unmatched."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        self.mount = Mount("/static", app=self, name="static")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.mount
        await super().__call__(scope, receive, send)


def install_pages(app: FastAPI) -> None:
    """Add the page, its files, the search endpoint and the offline `/docs` to `app`.

    `app` must be created with `docs_url=None`: FastAPI's own `/docs` loads Swagger UI
    from a CDN and, registered first, would shadow this one.
    """
    if app.docs_url is not None:
        raise RuntimeError("create the app with docs_url=None: install_pages serves /docs")
    app.include_router(router)
    app.router.routes.append(PackageFiles(STATIC).mount)
