"""Logging for a serving process: text or JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

__all__ = ["LOG_LEVELS", "setup_logging"]


#: Fields a log record may carry (``extra=``) that the JSON format writes as its own keys.
_JSON_FIELDS = (
    "service",
    "endpoint",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "bytes",
    "client",
)
LOG_LEVELS = ("debug", "info", "warning", "error")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _JSON_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(log_format: str, log_level: str = "info", access_log: bool = True) -> None:
    """Root logging for a serving process: text or JSON lines on stderr at ``log_level``;
    ``access_log=False`` silences ``reverie.access``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level.upper())
    from ..http.accesslog import ACCESS_LOGGER

    logging.getLogger(ACCESS_LOGGER).disabled = not access_log
