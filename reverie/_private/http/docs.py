"""``/docs``: the interactive API page, and the files it loads, all served by the host.

Swagger UI comes from the ``swagger-ui-bundle`` package (its files ship in the wheel), our own
scripts and styles from ``reverie/_private/http/assets``; the page works offline and never
reaches a CDN. It reads ``/docs/openapi-3.0.json`` (see ``openapi30``).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

__all__ = ["ASSETS", "asset", "docs_page"]

ASSETS = Path(__file__).resolve().parent / "assets"
_TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".png": b"image/png",
    ".svg": b"image/svg+xml",
    ".html": b"text/html; charset=utf-8",
    ".map": b"application/json",
}
#: The Swagger UI files the page loads (the rest of the bundle is never served).
_SWAGGER = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css.map",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)


def _swagger_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


@cache
def asset(name: str) -> tuple[bytes, bytes] | None:
    """(body, content type) of a file the host's pages load, or None when there is none."""
    if "/" in name or name.startswith("."):
        return None
    path = _swagger_dir() / name if name in _SWAGGER else ASSETS / name
    kind = _TYPES.get(path.suffix)
    if kind is None or not path.is_file():
        return None
    return path.read_bytes(), kind


def docs_page(title: str) -> str:
    """The HTML shell: Swagger UI's stylesheet and bundle, then our start-up script."""
    t = html.escape(title)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{t}: API</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' type='image/png' href='/docs/assets/favicon-32x32.png'>"
        "<link rel='stylesheet' href='/docs/assets/swagger-ui.css'>"
        "</head><body><div id='swagger-ui'></div>"
        "<script src='/docs/assets/swagger-ui-bundle.js'></script>"
        "<script src='/docs/assets/docs.js'></script>"
        "</body></html>"
    )
