"""URLs as messages and logs show them: a password in a URL never reaches a log line, an error
or a table (``nats://user:secret@host`` is shown as ``nats://user:***@host``)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """``url`` (or comma-separated URLs, as NATS takes them) with any password or token masked."""
    return ",".join(_one(part) for part in url.split(","))


def _one(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    # nats://TOKEN@host carries a secret with no colon: the whole userinfo is masked then
    masked = f"{user}:***" if colon else "***"
    lead = url[: len(url) - len(url.lstrip())]
    return lead + urlunsplit(parts._replace(netloc=f"{masked}@{hostport}"))
