"""Ephemeral keys (client secrets), sans-I/O: minted for one flow and one session, until they expire.

A server holding the standard key mints an ``ek_…`` key and hands it to a page; the page opens
calls with it. So a key is worth exactly one thing: opening calls of the flow it was minted for
(GA or preview, OpenAI or Azure URL family), with the session configuration it was minted with,
until ``expires_at`` (epoch seconds, as the services report it). It may open several calls until
then; a call outlives its key.

The store keeps a SHA-256 digest of each key, never the key itself: a key appears exactly once,
in the `Minted` answer of `KeyStore.mint`. Memory is bounded: expired keys are purged as time
passes, at most `max_live` keys live at once (`KeyStoreFull` beyond), and the digests of recently
expired keys are remembered (bounded too) only to tell "expired" from "unknown" in the error.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime_nb.engine.webrtc_flows import Flow
from realtime_nb.protocol.dialect import Dialect

__all__ = [
    "DEFAULT_MAX_LIVE_KEYS",
    "KEY_PREFIX",
    "KeyGrant",
    "KeyProblem",
    "KeyStore",
    "KeyStoreFull",
    "Minted",
]

KEY_PREFIX = "ek_"
DEFAULT_MAX_LIVE_KEYS = 1000
_REMEMBERED_EXPIRED = 4096  # digests kept after expiry, for the "expired" (not "unknown") message


@dataclass(frozen=True)
class KeyGrant:
    """What a key allows: its flow, the session it carries, and until when. Holds no key."""

    flow: Flow
    # The wire session object (in the flow's dialect) as the mint request gave it; a private copy, so
    # hand out copies (`session_copy`) to whatever may change it.
    session: Mapping[str, Any] | None
    created_at: int
    expires_at: int
    api_version: str | None = None  # Azure preview: the api-version the key was minted under

    def session_copy(self) -> dict[str, Any] | None:
        return None if self.session is None else copy.deepcopy(dict(self.session))


@dataclass(frozen=True)
class Minted:
    """A freshly minted key: the only place its value ever appears (kept out of the repr)."""

    value: str = field(repr=False)
    grant: KeyGrant


@dataclass(frozen=True)
class KeyProblem:
    """Why a presented key opens nothing; `code` and `message` go into the 401 body as they are."""

    code: str
    message: str


class KeyStoreFull(Exception):
    """As many keys are live as the store allows; `retry_after_s` until the first one expires."""

    def __init__(self, max_live: int, retry_after_s: int) -> None:
        self.max_live = max_live
        self.retry_after_s = retry_after_s
        super().__init__(
            f"this engine already holds {max_live} live ephemeral keys (its limit); the next one "
            f"expires in {retry_after_s} s: mint shorter-lived keys (expires_after.seconds), or reuse "
            "a live key, which may open several calls until it expires"
        )


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class KeyStore:
    """The engine's ephemeral keys. `clock` gives epoch seconds (inject one in tests)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_live: int = DEFAULT_MAX_LIVE_KEYS
    ) -> None:
        if max_live < 1:
            raise ValueError(f"max_live must be at least 1, got {max_live}")
        self._clock = clock
        self.max_live = max_live
        self._live: dict[bytes, KeyGrant] = {}
        self._expiries: list[tuple[int, bytes]] = []  # heap of (expires_at, digest)
        self._expired: OrderedDict[bytes, KeyGrant] = OrderedDict()

    def __repr__(self) -> str:
        return f"KeyStore(live={len(self)}, max_live={self.max_live})"

    def __len__(self) -> int:
        self.purge()
        return len(self._live)

    def now(self) -> float:
        return self._clock()

    def mint(
        self,
        flow: Flow,
        session: Mapping[str, Any] | None,
        lifetime_s: int,
        *,
        api_version: str | None = None,
    ) -> Minted:
        """A new key for `flow` carrying `session`, valid for `lifetime_s` from now (whole seconds).

        Raises KeyStoreFull at the cap (after purging expired keys).
        """
        if lifetime_s <= 0:
            raise ValueError(f"lifetime_s must be positive, got {lifetime_s}")
        now = self._clock()
        self.purge(now)
        if len(self._live) >= self.max_live:
            first = self._expiries[0][0] if self._expiries else math.ceil(now)
            raise KeyStoreFull(self.max_live, max(1, math.ceil(first - now)))
        created = math.floor(now)
        kept = None if session is None else copy.deepcopy(dict(session))
        key_grant = KeyGrant(flow, kept, created, created + lifetime_s, api_version)
        value = KEY_PREFIX + secrets.token_urlsafe(24)
        digest = _digest(value)
        self._live[digest] = key_grant
        heapq.heappush(self._expiries, (key_grant.expires_at, digest))
        return Minted(value, key_grant)

    def check(self, value: str, flow: Flow) -> KeyGrant | KeyProblem:
        """The grant of a key presented to open a call of `flow`, or why it cannot.

        Messages name the problem and what to do, never the key.
        """
        now = self._clock()
        self.purge(now)
        digest = _digest(value)
        grant = self._live.get(digest)
        if grant is None:
            if digest in self._expired:
                ago = now - self._expired[digest].expires_at
                return KeyProblem(
                    "expired_api_key",
                    f"This ephemeral key expired {ago:.0f} s ago; mint a new one "
                    f"({self._expired[digest].flow.paths.mint_hint}).",
                )
            return KeyProblem(
                "invalid_api_key",
                "This key is not an ephemeral key minted by this engine (or the engine restarted since); "
                f"mint one with {flow.paths.mint_hint} and send it as 'Authorization: Bearer ek_…'.",
            )
        if grant.flow is not flow:
            return KeyProblem(
                "wrong_api_key_flow",
                f"This ephemeral key was minted for the {grant.flow.title} flow "
                f"({grant.flow.paths.mint_hint}) and opens only its calls; this is the {flow.title} "
                "call endpoint. Mint a key on "
                f"{flow.paths.mint_hint}, or post the offer to the {grant.flow.title} call endpoint.",
            )
        return grant

    def opens_session(self, value: str, dialect: Dialect) -> bool:
        """Whether `value` is a live key minted for a flow of `dialect`: on an engine with a token,
        such a key also opens a WebSocket session of that dialect, as on the services (a page holds
        the key, never the token)."""
        if not value.startswith(KEY_PREFIX):
            return False
        self.purge()
        grant = self._live.get(_digest(value))
        return grant is not None and grant.flow.dialect is dialect

    def purge(self, now: float | None = None) -> None:
        """Forget every key whose time has come (`now >= expires_at`)."""
        now = self._clock() if now is None else now
        while self._expiries and self._expiries[0][0] <= now:
            _, digest = heapq.heappop(self._expiries)
            grant = self._live.pop(digest, None)
            if grant is not None:
                self._expired[digest] = grant
                if len(self._expired) > _REMEMBERED_EXPIRED:
                    self._expired.popitem(last=False)
