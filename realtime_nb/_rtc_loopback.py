"""Four small, documented adjustments of aiortc / aioice that WebRTC over loopback and small MTUs needs.

Shared by both ends of realtime_nb's WebRTC (the client that places calls and the engine that answers
them), so each fact lives once. Both functions are idempotent and change nothing else.

1. **Loopback host candidates** (`allow_loopback_candidates`). aioice's host-address lookup
   (`aioice.ice.get_host_addresses`) leaves out 127.0.0.1, on the reasoning that a loopback address is
   never useful to a remote peer. For us the peer is often on the same machine (the embedded engine, a
   test peer), and a container may have no interface but ``lo``: aioice then offers no candidate at all
   and ICE cannot even start. The patch wraps that one function, which aioice calls only when it
   gathers *host* candidates, so server-reflexive and relayed gathering are untouched:

   * inside `loopback_candidates_only()` it returns ``["127.0.0.1"]`` (IPv4 asked for) and nothing
     else: a call whose peer is known to be on this machine then never sends a packet to another
     address (the client uses this when the signalling URL's host is a loopback address);
   * elsewhere it returns aioice's list, plus 127.0.0.1 when that list holds no IPv4 address (a host
     with only ``lo``), so such a host can still call itself.

   Peer-reflexive candidates (RFC 8445) still let a browser whose offer carries only an mDNS name
   connect: aioice learns the address from the peer's first check.

2. **SCTP chunk size** (`fit_sctp_to_small_mtu`). The data channel is SCTP over DTLS over UDP. aiortc
   puts up to `USERDATA_MAX_LENGTH` bytes of a message in one DATA chunk (1160 in aiortc 1.16, sized
   for AES-GCM). When DTLS negotiates one of aiortc's CBC suites (13 bytes of record header, 16 of IV,
   20 of MAC, up to 16 of padding) a full chunk plus the SCTP headers, UDP and IPv6 headers comes to
   about 1300 bytes: more than a 1280-byte path (the IPv6 minimum MTU, common on tunnels and VPNs)
   carries. Such packets are dropped silently and a large message (a tool call's arguments, a
   retrieved item) stalls forever while small events flow. 1100 bytes of user data keeps every
   packet at most ~1240 bytes with any of aiortc's suites (and with a TURN channel header on top).
   The module constant is read at run time by aiortc's SCTP code, so lowering it takes effect for
   every association created afterwards; it is only ever lowered, never raised.

3. **No reordering delay on loopback** (`pass_audio_through`). aiortc's audio receiver puts every RTP
   packet through a reordering buffer (``JitterBuffer(capacity=16, prefetch=4)``, built in
   ``RTCRtpReceiver.__init__``, with no setting to change it) that releases a packet only once four
   later ones have arrived: 80 ms on every packet, each way, i.e. 80 ms on the turn detection (the
   microphone) and 80 ms more on the answer. It is not a play-out buffer (aiortc does no timing); it
   only waits for packets that might come out of order, and over loopback none do. When both ends are
   on this machine, each audio receiver's buffer is replaced by `PassThroughAudioBuffer`, which hands
   every packet to the decoder as it arrives and drops one that comes after a later one (a duplicate
   or a straggler; with Opus each packet is a whole frame, so nothing waits for a second packet). The
   replacement sets one attribute of our own receiver object (aiortc names it privately, so
   `pass_audio_through` checks it is the expected class first and otherwise leaves aiortc's buffer in
   place and says so); calls to the services keep aiortc's buffer, since the Internet does reorder.

4. **Audio decoded on the loop, not on a thread** (`decode_audio_on_loop`). aiortc decodes every
   received frame on a thread of its own per receiver: the loop puts the encoded frame on a
   ``queue.Queue``, the thread decodes it and hands the decoded frame back with
   ``asyncio.run_coroutine_threadsafe``, i.e. a lock hand-off, a thread wake-up, a GIL hand-over, a
   self-pipe write and a new Task on the loop, 50 times a second per call. An Opus frame decodes in
   about 50 us, far less than that round trip: measured with eight calls on the engine, the hand-offs
   cost the loop more than the decoding itself. `LoopDecoder` takes the queue's place (before the
   receiver starts its thread): it decodes with aiortc's own decoder for the codec, at once, and puts
   the frames straight on the track's queue; the thread, still started by aiortc, only waits for the
   end of the call and then ends the track as before. Like (3) it sets one private attribute, after
   checking it holds what aiortc 1.16 keeps there, and otherwise leaves aiortc alone and says so. It
   changes where, not what, aiortc decodes, so the engine uses it on every call. The client does not:
   its recorder tells which response a received frame belongs to by the order in which frames and
   the data channel's ``output_audio_buffer.*`` events reach it, and it holds an unclaimed audible
   frame for a count of frames; frames that no longer wait on a thread arrive in bursts on a busy
   loop, ahead of the event that claims them (seen in the barge-in test under load).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

LOOPBACK_V4 = "127.0.0.1"
SCTP_USER_DATA_BYTES = 1100

_only_loopback: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "realtime_nb_only_loopback", default=False
)
_PATCH_MARK = "_realtime_nb_loopback_patch"
_JITTER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"  # where RTCRtpReceiver keeps its buffer
_DECODER_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"  # what its decoder thread reads
_DECODER_THREAD_ATTRIBUTE = "_RTCRtpReceiver__decoder_thread"  # None until the receiver starts

log = logging.getLogger("realtime_nb.rtc")


def allow_loopback_candidates() -> None:
    """Let aioice gather 127.0.0.1 as a host candidate (see the module docstring). Idempotent."""
    import aioice.ice

    current = aioice.ice.get_host_addresses
    if getattr(current, _PATCH_MARK, False):
        return
    aioice.ice.get_host_addresses = _with_loopback(current)


def _with_loopback(original: Callable[[bool, bool], list[str]]) -> Callable[[bool, bool], list[str]]:
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        if _only_loopback.get():
            return [LOOPBACK_V4] if use_ipv4 else []
        addresses = list(original(use_ipv4, use_ipv6))
        if use_ipv4 and not any(":" not in a for a in addresses):
            addresses.append(LOOPBACK_V4)
        return addresses

    setattr(get_host_addresses, _PATCH_MARK, True)
    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    return get_host_addresses


@contextlib.contextmanager
def loopback_candidates_only() -> Iterator[None]:
    """Within this block (and the tasks it starts), host candidates are 127.0.0.1 only.

    Wrap `RTCPeerConnection.setLocalDescription` (which gathers) in it when the peer is on this
    machine. Calls `allow_loopback_candidates()` first, so it works on its own.
    """
    allow_loopback_candidates()
    token = _only_loopback.set(True)
    try:
        yield
    finally:
        _only_loopback.reset(token)


def fit_sctp_to_small_mtu(user_data_bytes: int = SCTP_USER_DATA_BYTES) -> int:
    """Lower aiortc's SCTP user-data chunk size so packets fit 1280-byte paths; returns the size in force.

    Idempotent; never raises the size (a smaller value someone else chose is kept).
    """
    import aiortc.rtcsctptransport as sctp

    if user_data_bytes < 256 or user_data_bytes % 4:
        raise ValueError(f"user_data_bytes must be a multiple of 4 and at least 256, got {user_data_bytes}")
    if user_data_bytes < sctp.USERDATA_MAX_LENGTH:
        sctp.USERDATA_MAX_LENGTH = user_data_bytes
    return int(sctp.USERDATA_MAX_LENGTH)


def is_loopback_host(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: a peer on this very machine."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in ("localhost", "::1") or host.endswith(".localhost"):
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)


class PassThroughAudioBuffer:
    """What aiortc's receiver needs of its jitter buffer (``add(packet) -> (pli, frame)``), without the
    wait: every audio packet is released as it arrives, in sequence order; a packet older than one
    already released is dropped. See the module docstring (3)."""

    def __init__(self) -> None:
        self._last: int | None = None  # the sequence number last released
        self.dropped = 0

    def add(self, packet: Any) -> tuple[bool, Any]:
        from aiortc.jitterbuffer import JitterFrame

        seq = int(packet.sequence_number)
        if self._last is not None and (self._last - seq) % 65536 < 32768:
            self.dropped += 1  # a duplicate, or behind what was already released: too late to play
            return False, None
        self._last = seq
        # the receiver has already depayloaded the packet into `_data`, as aiortc's own buffer reads it
        return False, JitterFrame(data=getattr(packet, "_data", packet.payload), timestamp=packet.timestamp)


def pass_audio_through(pc: Any) -> int:
    """Give each audio receiver of `pc` a `PassThroughAudioBuffer` (call it before media flows: after
    the remote description on the answering side, after adding the transceiver on the offering one).
    Returns how many receivers were changed; a receiver whose buffer is not aiortc's known class is
    left alone and logged (a future aiortc may have moved it)."""
    from aiortc.jitterbuffer import JitterBuffer

    changed = 0
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "audio":
            continue
        receiver = transceiver.receiver
        current = getattr(receiver, _JITTER_ATTRIBUTE, None)
        if isinstance(current, PassThroughAudioBuffer):
            continue
        if type(current) is not JitterBuffer:
            log.warning("aiortc's audio receiver has no jitter buffer where expected; keeping its own")
            continue
        setattr(receiver, _JITTER_ATTRIBUTE, PassThroughAudioBuffer())
        changed += 1
    return changed


class LoopDecoder:
    """What aiortc's receiver and its decoder thread need of the decoder queue, with the decoding
    done in `put`, on the loop (see the module docstring, 4).

    The receiver calls ``put((codec, encoded_frame))`` for each frame and ``put(None)`` when it stops;
    the thread calls ``get()``, which here waits for that ``None`` and returns it, so the thread then
    ends the track exactly as it does in aiortc. Decoded frames go to the receiver's track queue in
    order, before that end. A frame that fails to decode is logged and skipped, as aiortc does.
    """

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._decoders: dict[str, Any] = {}  # one per codec, kept for the call (Opus has state)
        self._stopped = threading.Event()
        self.decoded = 0

    def put(self, task: Any) -> None:
        if task is None:
            self._stopped.set()
            return
        from aiortc.codecs import get_decoder
        from av import FFmpegError

        codec, encoded_frame = task
        decoder = self._decoders.get(codec.name)
        if decoder is None:
            decoder = self._decoders[codec.name] = get_decoder(codec)
        try:
            frames = decoder.decode(encoded_frame)
        except FFmpegError as exc:
            log.warning("failed to decode a %s frame: %s", codec.name, exc)
            return
        track_queue = self._receiver.track._queue  # RemoteStreamTrack's asyncio.Queue
        for frame in frames:
            track_queue.put_nowait(frame)
        self.decoded += len(frames)

    def get(self) -> None:
        self._stopped.wait()


def decode_audio_on_loop(pc: Any) -> int:
    """Give each audio receiver of `pc` a `LoopDecoder` (call it before media flows, as
    `pass_audio_through`). Returns how many receivers were changed; a receiver already started, or
    whose queue is not aiortc's known class, is left alone and logged."""
    changed = 0
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "audio":
            continue
        receiver = transceiver.receiver
        current = getattr(receiver, _DECODER_QUEUE_ATTRIBUTE, None)
        if isinstance(current, LoopDecoder):
            continue
        if type(current) is not queue.Queue or getattr(receiver, _DECODER_THREAD_ATTRIBUTE, 1) is not None:
            log.warning(
                "aiortc's audio receiver is started or has no decoder queue where expected; "
                "it keeps its decoder thread"
            )
            continue
        setattr(receiver, _DECODER_QUEUE_ATTRIBUTE, LoopDecoder(receiver))
        changed += 1
    return changed
