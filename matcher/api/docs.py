"""Swagger UI at /docs with its assets served from an installed package (fastapi-offline's copy), never a CDN."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
#: nothing on the page may come from elsewhere (and the validator badge Swagger UI would fetch is off)
_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


def assets_dir() -> Path:
    """Swagger UI's files (swagger-ui-bundle.js, swagger-ui.css, favicon.png), as a package ships them."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, *, enabled: bool) -> None:
    """GET /docs and its assets (both behind the API's authentication, like /openapi.json); nothing when disabled."""
    if not enabled:
        return

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = _CSP
        return page

    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
