"""A dependency-free HTML page listing the host's operations (from its OpenAPI document)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["docs_page"]


def docs_page(doc: dict[str, Any]) -> str:
    """Every path and verb with its summary, access level and streaming media types."""
    rows = []
    for path, ops in sorted(doc.get("paths", {}).items()):
        for verb, op in ops.items():
            access = op.get("x-reverie-access", "public")
            content = op.get("responses", {}).get("200", {}).get("content", {})
            kinds = ", ".join(content) or "-"
            rows.append(
                f"<tr><td><b>{html.escape(verb.upper())}</b></td><td><code>{html.escape(path)}"
                f"</code></td><td>{html.escape(str(op.get('summary', '')))}</td>"
                f"<td>{html.escape(access)}</td><td>{html.escape(kinds)}</td></tr>"
            )
    title = html.escape(doc.get("info", {}).get("title", "Reverie"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td{padding:.2em .8em;"
        "border-bottom:1px solid #ddd}</style></head>"
        f"<body><h1>{title}</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>"
        "</p><table><tr><th>verb</th><th>path</th><th>summary</th><th>access</th>"
        f"<th>answers</th></tr>{''.join(rows)}</table></body></html>"
    )
