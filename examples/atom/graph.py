"""Atom graph, after MindTouch Dream's own sample: an AtomService that serves ``GET feed`` as an
Atom document, built from entries it fetches through a Plug from a feed service.

The feed service is known only by its SID. ``FeedStore`` here keeps entries in memory;
``examples/atom/seeded.py`` is another implementation of the same SID, read-only, seeded from a
JSON file. Which one runs is decided by the deployment file's ``bind:`` section alone:

    reverie serve examples.atom.graph:AtomService -f examples/atom/deploy.yaml       # FeedStore
    reverie serve examples.atom.graph:AtomService -f examples/atom/deploy-alt.yaml   # seeded
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from reverie import URI, Plug, Response, config, depends, endpoint, feature, on_start, service
from reverie.errors import ServiceError, TransportError, UnavailableError

FEED_SID = "sid://reverie.dev/2026/examples/atom/feed"
ATOM_SID = "sid://reverie.dev/2026/examples/atom"
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml; charset=utf-8"


# -- the feed service's contract ------------------------------------------------------------------


class NewEntry(BaseModel):
    """What ``POST entries`` takes."""

    title: str = Field(min_length=1)
    content: str = ""
    author: str = "anonymous"
    link: str | None = None


class Entry(NewEntry):
    """A stored entry."""

    id: str
    updated: datetime


class FeedPage(BaseModel):
    """What ``GET entries`` answers: the feed's title and its entries, newest first."""

    title: str
    entries: list[Entry]


def newest_first(entries: Sequence[Entry], limit: int | None) -> list[Entry]:
    """Entries sorted newest first, at most ``limit`` of them (all when None)."""
    if limit is not None and limit < 0:
        raise ServiceError(400, f"limit={limit} is negative; give 0 or more, or leave it out")
    ordered = sorted(entries, key=lambda e: e.updated, reverse=True)
    return ordered if limit is None else ordered[:limit]


@service(sid=FEED_SID, name="FeedStore", namespace="atom")
class FeedStore:
    """Keeps feed entries in memory: ``POST entries`` adds one, ``GET entries`` lists them."""

    title: str = config("Reverie news", "Title of the feed")
    max_entries: int = config(1000, "Entries kept; the oldest go beyond this many")

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._next = 1

    @feature("POST:entries", "Add an entry to the feed")
    async def add(self, entry: NewEntry) -> Entry:
        stored = Entry(
            **entry.model_dump(),
            id=f"urn:reverie:atom:entry:{self._next}",
            updated=datetime.now(UTC),
        )
        self._next += 1
        self._entries.append(stored)
        del self._entries[: max(0, len(self._entries) - self.max_entries)]
        return stored

    @endpoint()
    @feature("GET:entries", "List entries, newest first")
    async def list(self, limit: int | None = None) -> FeedPage:
        return FeedPage(title=self.title, entries=newest_first(self._entries, limit))


# -- the Atom service -----------------------------------------------------------------------------

# XML 1.0 forbids these characters even escaped; ElementTree would write them and make the
# document unparseable, so they are removed from text before it goes in.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _stamp(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_document(page: FeedPage, *, feed_id: str, self_link: str | None = None) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of ``page``, as UTF-8 bytes with an XML declaration.

    ElementTree escapes ``<``, ``&`` and quotes; characters XML cannot carry are dropped.
    """
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _text(v) for k, v in attrs.items()})
        if text is not None:
            el.text = _text(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "title", page.title)
    sub(feed, "id", feed_id)
    updated = max((e.updated for e in page.entries), default=datetime.now(UTC))
    sub(feed, "updated", _stamp(updated))
    sub(feed, "generator", "Reverie AtomService", uri="https://reverie.dev")
    if self_link:
        sub(feed, "link", rel="self", href=self_link, type="application/atom+xml")
    for e in page.entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e.id)
        sub(entry, "title", e.title)
        sub(entry, "updated", _stamp(e.updated))
        author = sub(entry, "author")
        sub(author, "name", e.author)
        sub(entry, "content", e.content, type="text")
        if e.link:
            sub(entry, "link", rel="alternate", href=e.link)
    ET.indent(feed, space="  ")  # leaves leaf text alone: only whitespace between elements
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


@service(
    sid=ATOM_SID,
    namespace="atom",
    version="1.0",
    copyright="Reverie examples, after MindTouch Dream's Atom sample",
    info="https://reverie.dev/examples/atom",
)
class AtomService:
    """Serves the entries of a feed service as an Atom feed."""

    default_ttl: float | None = config(
        None, "Default time in seconds for events to live", name="default-ttl"
    )
    feed_uri: URI | None = config(
        None, "Feed service to retrieve original feed from", name="feed.uri"
    )
    feed = depends(FEED_SID)

    @on_start
    def check(self) -> None:
        if self.default_ttl is not None and self.default_ttl <= 0:
            raise ValueError(
                f"default-ttl={self.default_ttl} must be a positive number of seconds, or unset "
                f"(entries never expire)"
            )

    async def _fetch(self, limit: int | None) -> FeedPage:
        """The feed through a Plug: to ``feed.uri`` when set (any host), else to the bound
        dependency's features, wherever it runs (in this process, over HTTP, over NATS)."""
        if self.feed_uri:
            return await _get_page(Plug(self.feed_uri), limit, self.feed_uri)
        return await _get_page(self.feed.plug, limit, f"the bound {FEED_SID}")

    @feature("GET:feed", "Retrieve the feed as Atom")
    async def get_feed(self, limit: int | None = None) -> Any:
        """``limit``: most entries to return (all when left out)."""
        if limit is not None and limit < 0:
            raise ServiceError(400, f"limit={limit} is negative; give 0 or more, or leave it out")
        page = await self._fetch(limit)
        if self.default_ttl is not None:
            oldest = time.time() - self.default_ttl
            page.entries = [e for e in page.entries if e.updated.timestamp() >= oldest]
        feed_id = f"tag:reverie.dev,2026:atom/{quote(page.title, safe='')}"
        body = atom_document(page, feed_id=feed_id)
        return Response(body, media_type=ATOM_MEDIA_TYPE)


async def _get_page(source: Plug, limit: int | None, where: str) -> FeedPage:
    """``GET <source>/entries?limit=N``; a transport failure or an error answer is a 502."""
    try:
        resp = await source.at("entries").with_(limit=limit).get()
    except (TransportError, UnavailableError) as exc:
        raise ServiceError(502, f"the feed service at {where} is unreachable: {exc}") from None
    err = resp.error()
    if err is not None:
        raise ServiceError(
            502, f"the feed service at {where} answered {resp.status}: {err.message}"
        )
    return FeedPage.model_validate(resp.json())
