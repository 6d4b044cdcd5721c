"""Which browser origins the engine trusts, sans-I/O: one rule for its HTTP endpoints and its
WebSocket handshake (a page can open a WebSocket to any address, and browsers do not apply CORS to
WebSockets: the ``Origin`` header is the only sign of who asks).

A page's ``Origin`` names the site that runs the script, not the user: a page on any site the user
happens to visit can POST to ``http://127.0.0.1:PORT`` from their browser. So a request that carries
an ``Origin`` is served only when that origin is trusted:

* loopback origins of any port (``http://127.0.0.1:*``, ``http://localhost:*``, ``http://[::1]:*``
  and their ``https`` forms), so the notebook's own JupyterLab page works whatever port it got;
* origins named when the engine starts (``--allow-origin``, ``allowed_origins=``).

The notebook's own widgets never need this: the microphone and player talk to the kernel over
Jupyter's comm channel, and the kernel (a program, no ``Origin``) opens the engine's socket. So a
remote JupyterLab (Binder) works without naming its origin; only a page that itself connects to the
engine (a custom front end, a WebRTC page on another host) must be named.

A request without ``Origin`` comes from a program (the SDK, curl, httpx), not from a page, and is
allowed: CORS protects browsers' users, and such a client must still pass the engine's token. The
literal ``null`` origin (sandboxed frames, ``file://`` pages) is never trusted, as any page can
produce it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "LOOPBACK_HOSTS",
    "ORIGIN_REFUSED_CODE",
    "OriginPolicy",
    "normalize_origin",
    "origin_allowed",
    "origin_refused_message",
]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
ORIGIN_REFUSED_CODE = "origin_not_allowed"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_ORIGIN_SHOWN = 100  # a refused origin is quoted this far: the header is the client's text


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` in the form browsers send (lower case, default port left out).

    Raises ValueError for anything that is not a bare http(s) origin: a path, a query, user info or
    another scheme would never equal what a browser sends, so accepting one would only hide a typo.
    A single trailing slash is tolerated (``http://example.com/`` is what a copied URL looks like).
    """
    text = origin.strip()
    if text.endswith("/") and text.count("/") == 3:
        text = text[:-1]
    try:
        split = urlsplit(text)
        port = split.port
    except ValueError as exc:
        raise ValueError(f"not an origin: {origin!r} ({exc})") from None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not split.hostname:
        raise ValueError(f"not an origin: {origin!r}; expected http(s)://host[:port]")
    if split.path or split.query or split.fragment or split.username or split.password:
        raise ValueError(f"not an origin: {origin!r}; an origin has no path, query or user part")
    host = split.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _is_loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    host = f"[{host}]" if ":" in host else host
    return host in LOOPBACK_HOSTS


@dataclass(frozen=True)
class OriginPolicy:
    """The engine's trusted origins: loopback of any port, plus the ones named at start."""

    named: frozenset[str] = frozenset()

    @classmethod
    def from_names(cls, origins: Iterable[str] | None) -> OriginPolicy:
        """Validate and normalize the origins named at start (ValueError naming a bad one)."""
        if isinstance(origins, str):  # a single origin is a common slip for a list of one
            origins = [origins]
        return cls(frozenset(normalize_origin(o) for o in origins or ()))

    def allows(self, origin: str | None) -> bool:
        return origin_allowed(origin, self.named)


def origin_allowed(origin: str | None, named: frozenset[str] = frozenset()) -> bool:
    """Whether a request with this ``Origin`` header (None: no header) may be served."""
    if origin is None:
        return True
    try:
        normalized = normalize_origin(origin)
    except ValueError:  # "null", garbage: no page we trust sends that
        return False
    return _is_loopback(normalized) or normalized in named


def origin_refused_message(origin: str | None) -> str:
    """The one sentence a refused page gets (403), over HTTP and at the WebSocket handshake alike."""
    shown = (origin or "")[:_MAX_ORIGIN_SHOWN]
    return (
        f"Requests from pages on {shown!r} are not allowed: this engine trusts loopback origins "
        "(http://127.0.0.1:*, http://localhost:*) and the origins named at start "
        "(realtime-nb serve --allow-origin URL, start_engine(allowed_origins=[…]))."
    )
