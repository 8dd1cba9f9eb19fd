"""Per-feature access control: public, internal (the host's internal key) or private (the API key).

Keys travel only in ``Authorization: Bearer <key>`` headers (never query strings, so they never
reach an access log) and are compared in constant time. With no API key configured, private
features are refused, never opened.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping

__all__ = ["API_KEY_ENV", "INTERNAL_KEY_ENV", "AccessPolicy"]

API_KEY_ENV = "REVERIE_API_KEY"
INTERNAL_KEY_ENV = "REVERIE_INTERNAL_KEY"
_BEARER = b"bearer "


class AccessPolicy:
    """The keys of one host and the check every request passes before its handler runs.

    ``internal_key`` defaults to ``REVERIE_INTERNAL_KEY`` or a fresh random key; co-hosted
    services get it through their clients and Plugs. The API key also grants internal access.
    """

    __slots__ = ("_api", "_internal", "api_key", "internal_key")

    def __init__(
        self,
        api_key: str | None = None,
        internal_key: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.api_key = api_key if api_key is not None else (env.get(API_KEY_ENV) or None)
        self.internal_key = internal_key or env.get(INTERNAL_KEY_ENV) or secrets.token_urlsafe(32)
        self._api = self.api_key.encode() if self.api_key else None
        self._internal = self.internal_key.encode()

    def __repr__(self) -> str:  # never show the keys
        return f"AccessPolicy(api_key={'set' if self.api_key else 'unset'})"

    def check(self, level: str, authorization: bytes | None) -> tuple[int, str] | None:
        """None when allowed; else (401 or 403, message). ``authorization`` is the raw header."""
        if level == "public":
            return None
        if level == "private" and self._api is None:
            return 403, (
                "this feature is private and the host has no API key configured, so it is "
                f"refused; set {API_KEY_ENV} (or pass api_key=) to enable it"
            )
        need = "the host API key" if level == "private" else "the host's internal key"
        if not authorization:
            return 401, f"this feature is {level}: send {need} as 'Authorization: Bearer <key>'"
        if authorization[:7].lower() != _BEARER:
            return 401, "the Authorization header must be 'Bearer <key>'"
        token = authorization[7:].strip()
        api_ok = self._api is not None and hmac.compare_digest(token, self._api)
        if api_ok:
            return None
        if level == "internal" and hmac.compare_digest(token, self._internal):
            return None
        return 403, f"this feature is {level} and the key sent does not grant it; it needs {need}"

    def bearer(self, key: str | None = None) -> dict[str, str]:
        """The header carrying ``key`` (default: the internal key)."""
        return {"authorization": f"Bearer {key or self.internal_key}"}
