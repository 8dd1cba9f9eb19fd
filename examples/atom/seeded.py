"""A second implementation of the feed service's SID: read-only, seeded from a JSON file.

Nothing in ``graph.py`` names this class. ``deploy-alt.yaml`` binds the SID to it, and the same
``AtomService`` then serves this feed instead of the in-memory one.
"""

from __future__ import annotations

import json
from pathlib import Path

from reverie import config, endpoint, feature, on_start, service
from reverie.errors import ServiceError

from .graph import FEED_SID, Entry, FeedPage, NewEntry, newest_first

BUNDLED = Path(__file__).with_name("entries.json")


@service(sid=FEED_SID, name="FeedStore", namespace="atom")
class SeededFeedStore:
    """Serves the entries of a JSON file (``{"title": ..., "entries": [...]}``); read-only."""

    source: str = config(str(BUNDLED), "JSON file with the feed's title and entries")

    def __init__(self) -> None:
        self._page = FeedPage(title="", entries=[])

    @on_start
    def load(self) -> None:
        path = Path(self.source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(
                f"cannot read the feed file {path}: {exc.strerror}; set FeedStore.source in the "
                f"deployment file to an existing JSON file"
            ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"the feed file {path} is not JSON: {exc}") from None
        self._page = FeedPage.model_validate(data)

    @endpoint()
    @feature("GET:entries", "List entries, newest first")
    async def list(self, limit: int | None = None) -> FeedPage:
        return FeedPage(title=self._page.title, entries=newest_first(self._page.entries, limit))

    @feature("POST:entries", "Refused: this feed is read-only")
    async def add(self, entry: NewEntry) -> Entry:
        raise ServiceError(
            405,
            f"this feed is read-only (SeededFeedStore, from the file "
            f"{Path(self.source).name}); bind {FEED_SID} to "
            f"examples.atom.graph:FeedStore to accept new entries",
        )
