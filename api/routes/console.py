"""The web console at `/`: a static bundle (api/console, built by `make console`) that works
only through the public API with the person's own key, so it needs no route of its own and no
key to be fetched — the data behind it is what the key allows.

The bundle is built on the machine (npm ci, esbuild), never fetched at run time; a server
whose bundle was not built says how to build it instead of a blank page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "DIST", "mount", "router"]

DIST = Path(__file__).resolve().parents[1] / "console" / "dist"
ASSETS = "/console"

# Nothing but the bundle itself runs in the page; styles set by the chart and graph libraries
# are attributes, hence 'unsafe-inline' for styles only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)

NOT_BUILT = "the web console is not built: run `make console` (npm ci and a build in api/console)"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    """The console's page (no key: it holds no data; it asks for the key)."""
    page = DIST / "index.html"
    if not page.is_file():
        raise HTTPException(503, NOT_BUILT)
    return FileResponse(
        page,
        media_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


class _Bundle(StaticFiles):
    async def check_config(self) -> None:
        """An unbuilt bundle is a 503 that says how to build it, not a 500."""
        if not DIST.is_dir():
            raise HTTPException(503, NOT_BUILT)
        await super().check_config()


def mount(app: FastAPI) -> None:
    """Serve the bundle's files under /console (after every API route)."""
    app.mount(ASSETS, _Bundle(directory=DIST, check_dir=False), name="console")
