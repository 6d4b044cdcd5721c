"""What the Call's page says to the kernel, and what the kernel does with each message.

One function per message type, dispatched from `handle_page_msg` (the widget's ``on_msg`` handler;
``now_ms`` is the kernel's receipt time, explicit so tests can drive it). Every message the page
stamps with ``t_page`` (its ``performance.now()``) also narrows the clock offset (`ClockSync`).

======================  =======================================================================
page -> kernel          meaning
======================  =======================================================================
``hello``               a view rendered (``view``: its id): the clock burst starts
``start``               the Call button (``view``): a new call, or ``refused`` back to that view
``offer``               the page's SDP offer: the kernel does the exchange, answers ``answer``
``open``                the data channel opened: the session's transport is up
``dc``                  a data-channel message the page received (``data``: its text)
``page_sent``           an event the page sent by itself (the stop button)
``connection``          the peer connection's state (``state``, ``ice``, ``reached``)
``error``               the page failed (``kind``: a key of `call_state.FAILURES`, ``message``)
``hangup``              the Hang up button
``tx`` / ``rx``         a chunk of the sent / played audio tap (binary buffer)
``audible``             the played audio turned audible after a silence
``pong``                the answer to a ``ping`` (``id``)
======================  =======================================================================

kernel -> page: ``start``, ``answer`` (``sdp``), ``send`` (``data``: an event to put on the data
channel), ``ping``, ``hangup``, ``fail`` (``message``), ``refused`` (``view``, ``message``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from realtime_nb.protocol import PCM_RATE
from realtime_nb.widgets._audio_comm import parse_chunk, pcm16_from_buffer
from realtime_nb.widgets.call_audio import RX_FRAME, RX_RATE
from realtime_nb.widgets.call_state import ACTIVE, CallStateError

if TYPE_CHECKING:
    from realtime_nb.widgets.call import Call

CLOCK_PINGS = 12


def handle_page_msg(call: Call, content: Any, buffers: list[Any], now_ms: float) -> None:
    """Apply one page message to `call` (see the module docstring)."""
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise ValueError(f"Call page message must be a dict with a string 'type', got {content!r}")
    call._last_heard = now_ms
    t_page = content.get("t_page")
    if isinstance(t_page, int | float) and not isinstance(t_page, bool) and math.isfinite(t_page):
        call.clock.add_to_kernel(float(t_page), now_ms)
    handler = _HANDLERS.get(content["type"])
    if handler is None:
        raise ValueError(f"unknown Call page message type {content['type']!r}")
    handler(call, content, buffers, now_ms)


def _hello(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    view = str(msg.get("view", ""))
    if view and view not in call.views:
        call.views.append(view)
    if call.clock.samples < CLOCK_PINGS:
        call._send_ping()


def _start(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    view = str(msg.get("view", ""))
    try:
        call._begin(view)
    except CallStateError as exc:
        text = f"{exc}" if call.owner_view in ("", view) else "this Call is already running in another view"
        call.notices.append(text)
        call.send({"type": "refused", "view": view, "message": text})


def _offer(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    sdp = msg.get("sdp")
    if call.state != "starting" or not isinstance(sdp, str) or not sdp.startswith("v=0"):
        return  # a late offer of a call already over, or not an offer at all
    call._spawn(call._exchange(sdp))


def _open(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    opened, transport = call._opened, call._transport
    if opened is not None and not opened.done() and transport is not None:
        opened.set_result(transport)


def _dc(call: Call, msg: dict[str, Any], _b: list[Any], now: float) -> None:
    data, transport = msg.get("data"), call._transport
    if isinstance(data, str) and transport is not None:
        transport.feed(data, call.to_kernel_ns(float(msg.get("t_page", math.nan))) if "t_page" in msg
                       else round(now * 1e6))


def _page_sent(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    data = msg.get("data")
    if not isinstance(data, str):
        return
    try:
        event = json.loads(data)
    except ValueError:
        return
    call.log.record("sent", event, call.endpoint.dialect, t_ns=call.to_kernel_ns(float(msg["t_page"])),
                    wire_bytes=len(data.encode()))


def _connection(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    state = msg.get("state")
    if state == "failed":
        local = call.endpoint.service == "local"
        kind = "engine_unreachable" if local and not msg.get("reached") else "ice_failed"
        call._fail(kind, f"connection {state}, ICE {msg.get('ice')}")
    elif state == "closed" and call.state == "connected":
        call.hangup()


def _error(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    call._fail(str(msg.get("kind") or "page_error"), str(msg.get("message") or ""))


def _hangup(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    if msg.get("reason") == "page_closed":
        call._fail("page_closed", "the page was closed or reloaded")
    elif call.state in ACTIVE:
        call.hangup()


def _tx(call: Call, msg: dict[str, Any], buffers: list[Any], _now: float) -> None:
    if call.state not in ACTIVE:
        return
    chunk = parse_chunk(msg, buffers)
    pcm = call._tap.take(chunk.seq, chunk.samples)
    if pcm is None or not pcm.size:
        return
    start_page = chunk.t_capture_ms - pcm.size * 1000.0 / PCM_RATE
    call.log.record_track_audio("sent", pcm, t_ns=call.to_kernel_ns(start_page))


def _rx(call: Call, msg: dict[str, Any], buffers: list[Any], _now: float) -> None:
    if call.state not in ACTIVE or not buffers:
        return
    pcm48 = pcm16_from_buffer(buffers[0])
    t_ns = call.to_kernel_ns(float(msg.get("t_page", 0.0)))  # the first frame's play time
    for start in range(0, pcm48.size - RX_FRAME + 1, RX_FRAME):
        frame = np.ascontiguousarray(pcm48[start : start + RX_FRAME])
        frame_ns = t_ns + round(start * 1e9 / RX_RATE)
        for chunk in call._rx.feed(frame, frame_ns):
            call.log.record_track_audio("received", chunk.pcm, t_ns=chunk.t_ns,
                                        response_id=chunk.response_id, peak=chunk.peak)


def _audible(call: Call, msg: dict[str, Any], _b: list[Any], _now: float) -> None:
    call.audible_onsets_ns.append(call.to_kernel_ns(float(msg["t_page"])))


def _pong(call: Call, msg: dict[str, Any], _b: list[Any], now: float) -> None:
    sent = call._pings.pop(msg.get("id"), None)  # type: ignore[arg-type]
    if sent is None or "t_page" not in msg:
        return
    call.clock.add(sent, float(msg["t_page"]), now)
    if call.clock.samples < CLOCK_PINGS:
        call._send_ping()
    call.status = {
        "clock_uncertainty_ms": round(call.clock.uncertainty_ms, 2),
        "events": len(call.log),
    }


_HANDLERS: dict[str, Callable[[Call, dict[str, Any], list[Any], float], None]] = {
    "hello": _hello,
    "start": _start,
    "offer": _offer,
    "open": _open,
    "dc": _dc,
    "page_sent": _page_sent,
    "connection": _connection,
    "error": _error,
    "hangup": _hangup,
    "tx": _tx,
    "rx": _rx,
    "audible": _audible,
    "pong": _pong,
}
