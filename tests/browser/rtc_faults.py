"""Faults a browser test can put between a `Call` and the engine; run inside the notebook's kernel.

* `closed_port_url(url)`: the engine's URL with the port of a TCP socket that was just closed, so
  the kernel's SDP exchange is refused at once (an engine that is not running, or not there).
* `IceBlackHole(engine_url)`: an HTTP front for the engine's signalling that lets the exchange
  succeed but makes ICE fail, as when the browser cannot reach the kernel's machine (a remote
  Jupyter) or a firewall drops UDP. It forwards every request to the engine unchanged except for the
  SDP: every candidate of the offer and of the answer is pointed at a UDP socket on 127.0.0.1 that
  reads and never answers, so neither side's checks reach the other (the engine never learns where
  the browser is, not even as a peer-reflexive candidate). Every packet stays on
  this machine (the suite's rule: network tests talk to 127.0.0.1 only).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

# a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
_CANDIDATE_ADDR = re.compile(rb"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+) (\d+)( typ .*)$", re.MULTILINE)
_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def closed_port_url(url: str) -> str:
    """``url`` with its port replaced by one nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return _with_port(url, port)


class IceBlackHole:
    """See the module docstring. ``url`` is the engine's URL with this front's port; ``stop()`` ends it."""

    def __init__(self, engine_url: str) -> None:
        up = urlsplit(engine_url)
        self.upstream = (up.hostname or "127.0.0.1", up.port or 80)
        self.hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hole.bind(("127.0.0.1", 0))
        self.hole_port = self.hole.getsockname()[1]
        self.swallowed = 0  # packets the browser sent towards the "engine" (never answered)
        self.exchanges: list[tuple[str, str, int]] = []  # method, path, upstream status
        self.offers_stripped = 0
        self.answers_redirected = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = _with_port(engine_url, self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._swallow, daemon=True).start()

    def _swallow(self) -> None:
        while True:
            try:
                self.hole.recv(65536)
            except OSError:
                return
            self.swallowed += 1

    def strip_offer(self, body: bytes) -> bytes:
        """The offer's candidates all point at the black hole too (the engine refuses an offer with no
        candidate at all, and must not learn the browser's address)."""
        port = str(self.hole_port).encode()
        out, n = _CANDIDATE_ADDR.subn(lambda m: m[1] + b"127.0.0.1 " + port + m[4], body)
        self.offers_stripped += n > 0
        return out

    def redirect_answer(self, body: bytes) -> bytes:
        port = str(self.hole_port).encode()
        out, n = _CANDIDATE_ADDR.subn(lambda m: m[1] + b"127.0.0.1 " + port + m[4], body)
        self.answers_redirected += n > 0
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the kernel's output is the test's
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = front.strip_offer(self.rfile.read(length)) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection(*front.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    answer = resp.read()
                    kind = resp.getheader("Content-Type") or ""
                    if "sdp" in kind or answer.startswith(b"v=0"):
                        answer = front.redirect_answer(answer)
                    front.exchanges.append((self.command, self.path, resp.status))
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                finally:
                    conn.close()

            do_GET = do_POST = do_DELETE = do_OPTIONS = _forward

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.hole.close()
