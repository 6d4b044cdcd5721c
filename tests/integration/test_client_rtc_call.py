"""RealtimeSession(transport="webrtc") places real WebRTC calls over loopback, to a fake service.

The thing under test is the client. The service it calls is a fake built for these tests: a tiny HTTP
answerer (h11 over asyncio streams on 127.0.0.1) in front of a plain aiortc peer per call. The peer
answers a few events as a service would, validates every client event it receives against the openai
SDK's client union of its dialect (strictly), runs a crude VAD on the audio it receives (on its own
clock: milliseconds of audio received since its first frame, as the services count), and answers a
turn with a tone on its outgoing track between ``output_audio_buffer.started`` and ``.stopped``.
The engine's real WebRTC side is tested by the lead against this client after the merge.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import secrets
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11
import numpy as np
import pytest

pytest.importorskip("aiortc")

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from realtime_nb._rtc_loopback import loopback_candidates_only
from realtime_nb.audio import write_wav
from realtime_nb.client import ConnectError, ConnectionClosedError, Endpoint, RealtimeSession
from realtime_nb.client.core import InvalidEventError
from realtime_nb.client.rtc_signalling import SignallingError
from realtime_nb.protocol import Dialect, SessionConfig

KEY = "sk-" + "test-standard-0123456789"  # fake; split so key scanners do not flag it
RATE = 48000
FRAME = 960
SPEECH_PEAK = 2000  # the fake peer's VAD: a frame louder than this is speech
SILENCE_MS = 200  # ... and this much quiet ends a turn
TONE_MS = 400  # the fake peer's answer
TIMEOUT = 20.0


# --- the fake service's HTTP side ---------------------------------------------------------------------

Handler = Callable[[str, str, dict[str, str], bytes], Awaitable[tuple[int, dict[str, str], bytes]]]


async def _serve(handler: Handler) -> asyncio.Server:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    break
            assert request is not None
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            status, out_headers, out = await handler(
                request.method.decode(), request.target.decode(), headers, body
            )
            response_headers = [
                *out_headers.items(),
                ("content-length", str(len(out))),
                ("connection", "close"),
            ]
            writer.write(conn.send(h11.Response(status_code=status, headers=response_headers)))
            writer.write(conn.send(h11.Data(data=out)) + conn.send(h11.EndOfMessage()))
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(connection, "127.0.0.1", 0)


def _json(
    status: int, body: dict[str, Any], extra: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json", **(extra or {})}, json.dumps(body).encode()


def _error(
    status: int, code: str, message: str, param: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": param}
    return _json(status, {"error": error})


# --- the fake peer's outgoing track: a tone on demand, silence otherwise --------------------------------


class ToneTrack(MediaStreamTrack):  # type: ignore[misc]
    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pending = np.zeros(0, np.int16)
        self.on_drained: Callable[[], None] | None = None
        self.sending = asyncio.Event()
        self.sending.set()
        self._start: float | None = None
        self._pts = 0

    def play(self, pcm: np.ndarray, on_drained: Callable[[], None]) -> None:
        self.pending = np.concatenate([self.pending, pcm])
        self.on_drained = on_drained

    def cut(self) -> None:
        self.pending = np.zeros(0, np.int16)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.sending.is_set():  # muted: no packet at all until unmuted
            await self.sending.wait()
            self._start, self._pts = None, 0
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk, self.pending = self.pending[:FRAME], self.pending[FRAME:]
        if chunk.size and not self.pending.size and self.on_drained is not None:
            callback, self.on_drained = self.on_drained, None
            asyncio.get_running_loop().call_later(FRAME / RATE, callback)
        if chunk.size < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, np.int16)])
        frame = AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._pts, Fraction(1, RATE)
        self._pts += FRAME
        return frame


def _tone(ms: float, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(ms * rate / 1000)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# --- one call, the service's side ---------------------------------------------------------------------------


class FakeCall:
    """An aiortc answering peer that plays a minimal Realtime service on its data channel."""

    def __init__(self, service: FakeService, call_id: str, session: dict[str, Any]) -> None:
        self.service = service
        self.dialect = service.dialect
        self.call_id = call_id
        self.session = session
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.out = ToneTrack()
        self.channel: Any = None
        self.label: str | None = None
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.clock = 0  # samples received at 48 kHz: the peer's audio clock
        self.speech_frames = 0
        self.heard_at_commit: int | None = None
        self._speech_start: int | None = None
        self._quiet = 0
        self._n = 0
        self.turns: list[tuple[int, int]] = []  # (audio_start_ms, audio_end_ms) as the peer reported
        self._tasks: list[asyncio.Task[Any]] = []

    def _send(self, event: dict[str, Any]) -> None:
        self._n += 1
        event = {"event_id": f"event_srv_{self._n}", **event}
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(event))

    def _name(self, ga: str, preview: str) -> str:
        return ga if self.dialect is Dialect.GA else preview

    async def answer(self, offer: str) -> str:
        @self.pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            self.channel, self.label = channel, channel.label
            channel.on("message", self._on_message)
            created = {**self.session, "id": "sess_fake", "object": "realtime.session"}
            self._send({"type": "session.created", "session": created})

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.ensure_future(self._listen(track)))

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.pc.addTrack(self.out)
        with loopback_candidates_only():
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def _on_message(self, text: str | bytes) -> None:
        event = json.loads(text)
        self.events.append(event)
        try:
            self.service.validate(event, self.dialect, direction="client")
        except AssertionError as exc:
            self.problems.append(str(exc))
        kind = event.get("type")
        if kind == "session.update":
            self.session = {**self.session, **event["session"]}
            self._send({"type": "session.updated", "session": {**self.session, "id": "sess_fake"}})
        elif kind == "conversation.item.create":
            added = self._name("conversation.item.added", "conversation.item.created")
            extra = {} if self.dialect is Dialect.GA else {"previous_item_id": None}
            self._send({"type": added, "item": {**event["item"], "status": "completed"}, **extra})
        elif kind == "input_audio_buffer.commit":
            self.heard_at_commit = self.speech_frames
            self._send(
                {"type": "input_audio_buffer.committed", "item_id": "item_commit", "previous_item_id": None}
            )
        elif kind == "response.create":
            self._respond()

    async def _listen(self, track: Any) -> None:
        """The fake VAD: speech frames on the peer's clock, a turn ends after SILENCE_MS of quiet."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            data = frame.to_ndarray().reshape(-1, len(frame.layout.channels)).astype(np.int32).mean(axis=1)
            start = self.clock
            self.clock += data.size
            if np.abs(data).max() > SPEECH_PEAK:
                self.speech_frames += 1
                self._quiet = 0
                if self._speech_start is None:
                    self._speech_start = start
                    self._send({
                        "type": "input_audio_buffer.speech_started",
                        "audio_start_ms": start * 1000 // RATE,
                        "item_id": "item_user_1",
                    })  # fmt: skip
            elif self._speech_start is not None:
                self._quiet += data.size
                if self._quiet >= SILENCE_MS * RATE // 1000:
                    begin, end = self._speech_start * 1000 // RATE, self.clock * 1000 // RATE
                    self.turns.append((begin, end))
                    self._speech_start = None
                    self._send(
                        {
                            "type": "input_audio_buffer.speech_stopped",
                            "audio_end_ms": end,
                            "item_id": "item_user_1",
                        }
                    )
                    self._send(
                        {
                            "type": "input_audio_buffer.committed",
                            "item_id": "item_user_1",
                            "previous_item_id": None,
                        }
                    )
                    self._respond()

    def _respond(self) -> None:
        rid = f"resp_{secrets.token_hex(4)}"
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": []}
        self._send({"type": "response.created", "response": response})
        self._send({"type": "output_audio_buffer.started", "response_id": rid})

        def drained() -> None:
            self._send({"type": "response.done", "response": {**response, "status": "completed"}})
            self._send({"type": "output_audio_buffer.stopped", "response_id": rid})

        self.out.play(_tone(TONE_MS, RATE), drained)

    def vanish(self) -> None:
        """Stop answering anything, as a crashed process: its sockets close without a goodbye."""
        self.out.cut()
        connection = self.pc.sctp.transport.transport._connection
        for protocol in list(connection._protocols):
            protocol.transport.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


class FakeService:
    """HTTP routes of the service (both dialects) in front of one `FakeCall` per offer."""

    def __init__(self, dialect: Dialect, validate: Any) -> None:
        self.dialect = dialect
        self.validate = validate
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.keys: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, FakeCall] = {}
        self.hangups: list[str] = []
        self.hangup_status = 200
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    @property
    def call(self) -> FakeCall:
        [call] = self.calls.values()
        return call

    async def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        self.requests.append((method, target, headers, body))
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        auth = headers.get("authorization", "")
        if method != "POST":
            return _error(405, "method_not_allowed", "POST only")
        if path in ("/v1/realtime/client_secrets", "/v1/realtime/sessions"):
            if auth != f"Bearer {KEY}":
                return _error(
                    401, "invalid_api_key", f"Incorrect API key provided: {auth[7:]}", "authorization"
                )
            request = json.loads(body)
            session = request["session"] if path.endswith("client_secrets") else request
            key = f"ek_{secrets.token_hex(12)}"
            self.keys[key] = session
            expires = int(time.time()) + 60
            if path.endswith("client_secrets"):
                return _json(200, {"value": key, "expires_at": expires, "session": session})
            return _json(200, {**session, "client_secret": {"value": key, "expires_at": expires}})
        if path.endswith("/hangup"):
            self.hangups.append(path.split("/")[-2])
            if auth != f"Bearer {KEY}":
                return _error(401, "invalid_api_key", "hangup needs the standard key")
            return _json(
                self.hangup_status, {} if self.hangup_status < 300 else {"error": {"message": "no call"}}
            )
        if path == "/v1/realtime/calls" or (path == "/v1/realtime" and "model" in query):
            ctype = headers.get("content-type", "")
            if ctype.startswith("multipart/form-data"):
                if auth != f"Bearer {KEY}":
                    return _error(401, "invalid_api_key", "the unified form takes the standard key")
                parts = _multipart(ctype, body)
                offer, session = parts["sdp"], json.loads(parts["session"])
            else:
                key = auth.removeprefix("Bearer ")
                if key not in self.keys:
                    return _error(401, "invalid_api_key", "unknown ephemeral key")
                offer, session = body.decode(), self.keys[key]
            call_id = f"rtc_{secrets.token_hex(6)}"
            call = FakeCall(self, call_id, _full_session(session, self.dialect))
            self.calls[call_id] = call
            answer = await call.answer(offer)
            location = {"location": f"/v1/realtime/calls/{call_id}"} if self.dialect is Dialect.GA else {}
            return 201, {"content-type": "application/sdp", **location}, answer.encode()
        return _error(404, "not_found", f"no route {path}")

    async def __aenter__(self) -> FakeService:
        self.server = await _serve(self.handle)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for call in self.calls.values():
            await call.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()
        for part in message.iter_parts()
    }


def _full_session(session: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """The session the key carried, completed with defaults, as a service reports it."""
    return {**SessionConfig().to_wire(dialect), **session}


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture
async def service(validate: Any) -> AsyncIterator[FakeService]:
    async with FakeService(Dialect.GA, validate) as running:
        yield running


@pytest.fixture
async def call(service: FakeService) -> AsyncIterator[RealtimeSession]:
    session = RealtimeSession(Endpoint.local(service.url, token=KEY), transport="webrtc", timeout=TIMEOUT)
    async with session:
        yield session
    assert service.call.problems == []


def _wav(tmp_path: Path, tone_ms: float, lead_ms: float = 300, tail_ms: float = 0, rate: int = 24000) -> Path:
    silence = np.zeros(round(lead_ms * rate / 1000), np.int16)
    samples = np.concatenate(
        [silence, _tone(tone_ms, rate, 300.0), np.zeros(round(tail_ms * rate / 1000), np.int16)]
    )
    return write_wav(tmp_path / "turn.wav", samples, rate)


def _first_loud(samples: np.ndarray, rate: int, peak: int = SPEECH_PEAK) -> float:
    return float(np.flatnonzero(np.abs(samples.astype(np.int32)) > peak)[0]) * 1000 / rate


# --- tests ---------------------------------------------------------------------------------------------


async def test_call_opens_the_data_channel_and_events_travel_both_ways(
    call: RealtimeSession, service: FakeService
) -> None:
    assert call.transport_name == "webrtc" and call.call_id == service.call.call_id
    assert call.session_id == "sess_fake" and call.config is not None
    assert service.call.label == "oai-events"
    [mint, offer] = service.requests
    assert (
        mint[1] == "/v1/realtime/client_secrets" and json.loads(mint[3])["session"]["model"] == "gpt-realtime"
    )
    assert offer[2]["content-type"] == "application/sdp" and offer[2]["authorization"].startswith(
        "Bearer ek_"
    )
    # a large event both ways: more than a hundred SCTP chunks, which must not stall
    text = "a tool result that is long. " * 6000
    item = await call.create_item(
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    assert item["content"][0]["text"] == text
    updated = await call.update_session(instructions="Short answers.")
    assert updated.instructions == "Short answers."
    frame = call.log.frame()
    assert list(frame["type"][:2]) == ["session.created", "conversation.item.create"]
    assert frame["t"].notna().all() and frame["wall"].notna().all()
    assert service.call.events[0]["type"] == "conversation.item.create"


async def test_a_streamed_wav_reaches_the_peer_in_real_time_and_its_answer_is_recorded(
    call: RealtimeSession, service: FakeService, tmp_path: Path
) -> None:
    peer = service.call
    result = await call.stream_file(_wav(tmp_path, 1000, lead_ms=300), tail_silence_ms=0)
    assert result.rate == 48000 and result.format == "opus" and abs(result.audio_ms - 1300) < 1
    assert result.elapsed_s >= 1.2  # a media track plays in real time
    stopped = await call.wait_for("output_audio_buffer.stopped", timeout=TIMEOUT)
    rid = stopped["response_id"]
    await asyncio.sleep(0.3)  # the last frames of the tone are still in flight after `stopped`
    await call.close()

    # the peer heard the tone for its length, within two frames
    assert abs(peer.speech_frames * 20 - 1000) <= 40, peer.speech_frames
    [(start_ms, end_ms)] = peer.turns
    # no append events: the microphone is the track
    frame = call.log.frame()
    assert "input_audio_buffer.append" not in set(frame["type"])
    assert not [e for e in peer.events if e["type"] == "input_audio_buffer.append"]
    # the log's sent audio is on the peer's clock: the tone starts where the peer's VAD said it did
    sent = call.log.sent_audio()
    assert abs(_first_loud(sent, 24000) - start_ms) <= 40, (_first_loud(sent, 24000), start_ms)
    assert call.appended_ms >= end_ms
    # the answer's tone, recorded as the response's audio; silence kept out
    audio = call.log.response_audio(rid)
    assert abs(audio.size / 24 - TONE_MS) <= 60, audio.size / 24
    frames = audio[: audio.size // 480 * 480].reshape(-1, 480).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert (rms > 0.1 * 32768 * 0.3).mean() >= 0.9, np.round(rms)  # the tone, not silence
    responses = call.log.responses().set_index("response_id")
    assert abs(responses.loc[rid, "audio_s"] - TONE_MS / 1000) <= 0.06
    assert responses.loc[rid, "n_audio_deltas"] == 0
    assert responses.loc[rid, "t_first_audio"] >= responses.loc[rid, "t_created"]
    [turn] = call.log.turns().to_dict("records")
    assert turn["response_id"] == rid and turn["audio_start_ms"] == start_ms
    assert turn["stop_to_first_audio_ms"] > 0 and turn["t_first_audible"] >= turn["t_first_audio"]
    assert turn["t_speech_end"] < turn["t_speech_stopped"]
    closed = frame[frame["type"] == "realtime_nb.connection_closed"]
    assert len(closed) == 1 and closed["error_message"].iloc[0].startswith(
        "webrtc connection closed by the client"
    )


async def test_append_audio_feeds_the_track_and_commit_lets_it_arrive_first(
    call: RealtimeSession, service: FakeService
) -> None:
    peer = service.call
    tone = _tone(500, 16000, 300.0)
    for i in range(0, tone.size, 320):  # 20 ms chunks at 16 kHz, as a microphone would
        queued = await call.append_audio(tone[i : i + 320], 16000)
        assert queued >= 0
    assert peer.speech_frames < 5  # queued, not sent: the track plays it in real time
    item_id = await call.commit()
    assert item_id == "item_commit"
    # the commit left after the last audio frame, and reached the peer after the audio did
    [commit] = call.log.frame().query("type == 'input_audio_buffer.commit'").to_dict("records")
    last_sent = call.log._rec.track.sent  # chunk times of the outgoing track
    audio_chunks = [i for i in range(len(last_sent)) if last_sent.offset[i] >= 0]
    assert (last_sent.t_ns[audio_chunks[-1]] - call.log._rec.start_ns) / 1e9 < commit["t"]
    assert peer.heard_at_commit is not None and peer.heard_at_commit >= 24  # 500 ms, one frame of slack
    assert not [e for e in peer.events if e["type"] == "input_audio_buffer.append"]


async def test_hangup_posts_to_the_call_with_the_standard_key(
    call: RealtimeSession, service: FakeService
) -> None:
    call_id = call.call_id
    await call.hangup()
    assert service.hangups == [call_id] and call.closed and call.close_code == 1000
    _, target, headers, _ = service.requests[-1]
    assert target == f"/v1/realtime/calls/{call_id}/hangup" and headers["authorization"] == f"Bearer {KEY}"
    transport = call._transport
    assert transport is not None and transport._pc.connectionState == "closed"  # type: ignore[attr-defined]
    assert not transport._tasks  # type: ignore[attr-defined]
    with pytest.raises(ConnectionClosedError):
        await call.append_audio(np.zeros(480, np.int16), 24000)


async def test_a_call_already_gone_hangs_up_quietly(service: FakeService) -> None:
    service.hangup_status = 404
    session = RealtimeSession(Endpoint.local(service.url, token=KEY), transport="webrtc", timeout=TIMEOUT)
    async with session:
        pass
    assert service.hangups == [session.call_id] and session.close_code == 1000


async def test_a_vanished_peer_fails_waiters_within_the_grace_period(service: FakeService) -> None:
    grace = 1.5
    session = RealtimeSession(
        Endpoint.local(service.url, token=KEY), transport="webrtc", timeout=TIMEOUT, disconnect_grace_s=grace
    )
    async with session:
        waiter = asyncio.ensure_future(session.wait_for("response.done", timeout=15))
        await asyncio.sleep(0.2)
        service.call.vanish()
        # aiortc alone would notice after ~30 s of missing ICE consent; the waiter's 15 s would end first
        with pytest.raises(ConnectionClosedError) as info:
            await waiter
    assert info.value.code == 1006 and "nothing heard from the peer" in info.value.reason
    rows = session.log.frame()
    [closed] = rows[rows["type"] == "realtime_nb.connection_closed"].to_dict("records")
    assert closed["direction"] == "received" and closed["error_code"] == "1006"
    assert closed["error_message"].startswith("webrtc connection closed by the peer or network")
    assert service.hangups == []  # nobody to hang up on


async def test_a_quiet_peer_that_is_still_there_is_not_dropped(service: FakeService) -> None:
    grace = 1.5
    session = RealtimeSession(
        Endpoint.local(service.url, token=KEY), transport="webrtc", timeout=TIMEOUT, disconnect_grace_s=grace
    )
    async with session:
        service.call.out.sending.clear()  # no media, no messages: only its ICE agent still answers
        await asyncio.sleep(grace * 2.5)
        assert not session.closed
        assert (await session.update_session(instructions="Still here?")).instructions == "Still here?"
        service.call.out.sending.set()


async def test_a_peer_that_hangs_up_ends_the_session(call: RealtimeSession, service: FakeService) -> None:
    waiter = asyncio.ensure_future(call.wait_for("response.done", timeout=15))
    await asyncio.sleep(0.1)
    await service.call.pc.close()
    with pytest.raises(ConnectionClosedError) as info:
        await waiter
    assert info.value.code == 1000
    assert call.closed


async def test_the_unified_form_carries_the_session_with_the_standard_key(service: FakeService) -> None:
    config = SessionConfig(instructions="Answer in one word.", voice="marin")
    session = RealtimeSession(
        Endpoint.local(service.url, token=KEY),
        transport="webrtc",
        flow="unified",
        config=config,
        timeout=TIMEOUT,
    )
    async with session:
        assert session.config is not None and session.config.instructions == "Answer in one word."
    [offer, _hangup] = service.requests
    assert offer[2]["authorization"] == f"Bearer {KEY}" and offer[2]["content-type"].startswith("multipart/")
    assert not service.keys  # nothing minted


async def test_a_refused_mint_raises_with_status_and_body_but_never_the_key(service: FakeService) -> None:
    wrong = "sk-" + "wrong-key-abcdef0123456"
    session = RealtimeSession(Endpoint.local(service.url, token=wrong), transport="webrtc", timeout=TIMEOUT)
    with pytest.raises(SignallingError) as info:
        await session.connect()
    exc = info.value
    assert exc.status == 401 and exc.code == "invalid_api_key" and exc.param == "authorization"
    assert wrong not in str(exc) and wrong not in exc.message and "Incorrect API key" in exc.message
    assert session.closed and not service.calls


async def test_preview_dialect_mints_at_sessions_and_offers_with_the_model(validate: Any) -> None:
    async with FakeService(Dialect.PREVIEW, validate) as service:
        ep = Endpoint.local(service.url, dialect="preview", model="gpt-4o-realtime-preview", token=KEY)
        async with RealtimeSession(ep, transport="webrtc", timeout=TIMEOUT) as session:
            await session.update_session(instructions="Hi.")
            assert session.call_id is None  # the preview answer names no call
        mint, offer = service.requests[:2]
        assert (
            mint[1] == "/v1/realtime/sessions" and json.loads(mint[3])["model"] == "gpt-4o-realtime-preview"
        )
        assert offer[1] == "/v1/realtime?model=gpt-4o-realtime-preview"
        assert service.call.problems == [] and service.hangups == []


async def test_unreachable_service_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    session = RealtimeSession(Endpoint.local(f"ws://127.0.0.1:{port}"), transport="webrtc", timeout=5)
    with pytest.raises(ConnectError, match="local engine"):
        await session.connect()
    assert session.closed


async def test_no_key_in_logs_reprs_errors_or_the_saved_session(
    service: FakeService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")  # httpx, httpcore, aiortc, aioice and ours, all of it
    session = RealtimeSession(Endpoint.local(service.url, token=KEY), transport="webrtc", timeout=TIMEOUT)
    async with session:
        await session.update_session(instructions="x")
        shown = [repr(session), str(session.endpoint), repr(session._transport.__dict__)]  # type: ignore[union-attr]
    [ephemeral] = service.keys
    with zipfile.ZipFile(session.log.save(tmp_path / "call.rtlog")) as zf:
        saved = b"".join(zf.read(name) for name in zf.namelist())
    for secret in (KEY, ephemeral):
        assert secret not in caplog.text
        assert all(secret not in text for text in shown)
        assert secret.encode() not in saved
    assert service.requests[1][2]["authorization"] == f"Bearer {ephemeral}"  # it was used, not shown


async def test_an_event_over_the_peers_message_size_fails_alone(call: RealtimeSession) -> None:
    text = "x" * 300_000  # the peer (aiortc) accepts data-channel messages up to 256 KiB
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    with pytest.raises(InvalidEventError, match="only supports messages up to"):
        await call.create_item(item)
    assert not call.closed
    assert (await call.update_session(instructions="still fine")).instructions == "still fine"
