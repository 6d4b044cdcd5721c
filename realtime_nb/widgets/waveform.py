"""``WaveformCompare``: what the client sent for a user item against what the server kept of it.

The raw side is the appended audio over the item's span on the audio clock (``EventLog.item_audio``);
the processed side is the audio ``conversation.item.retrieve`` returns, after the server's noise
reduction. Both start at the item's ``audio_start_ms`` (prefix padding included, as the service
reports it), so they are drawn on one time axis and the measured lag between them should be about
zero: a lag is a finding, not a display artefact.

The levels table answers "what did noise reduction do to this turn": noise floor, speech and
non-speech RMS (``realtime_nb.audio.levels``), before and after. With server_vad the speech span is
``[audio_start_ms + prefix_padding_ms, audio_end_ms - silence_duration_ms]`` using the session
configuration the log holds at speech start (``EventLog.session_config``: what the server confirmed
wins over what the client asked for); other turn detection (and push-to-talk) gives no such span, so
pass ``speech_ms``.

Layers: :func:`read_item` gathers an item's audio from a log, :func:`compare` is pure numpy
(alignment, levels), and :class:`WaveformCompare` is a thin shell that retrieves when needed, draws
with matplotlib's Agg renderer and shows an ipywidgets box (figure, two players, the table).
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.audio import resample
from realtime_nb.audio.levels import compare_levels
from realtime_nb.plots.waveform import plot_waveform_compare
from realtime_nb.protocol import PCM_RATE, ServerVad, SessionConfig
from realtime_nb.timeline import EventLog
from realtime_nb.widgets._session import SessionLike

_ITEM_EVENTS = ("conversation.item.added", "conversation.item.done", "conversation.item.retrieved",
                "conversation.item.create")  # fmt: skip
_LAG_SEARCH_MS = 100.0  # the server's filters are compensated; anything beyond this is a real fault
_LAG_WINDOW_MS = 10_000.0  # correlate at most this much: enough to lock on, cheap for long items
_WHAT = "WaveformCompare compares the audio a user sent with what the server kept of it"
_NO_SPAN_NOTE = "<br><i>no server_vad speech span: speech levels need <code>speech_ms=(start, end)</code></i>"
_TABLE_ROWS = {"noise_floor_db": "noise floor", "speech_db": "speech RMS", "non_speech_db": "non-speech RMS",
               "speech_to_noise_db": "speech - non-speech", "overall_db": "overall RMS"}  # fmt: skip


class ItemError(ValueError):
    """The item cannot be compared: unknown, not a user audio item, or without audio."""

    def __init__(self, item_id: Any, problem: str) -> None:
        self.item_id = item_id
        self.problem = problem
        super().__init__(f"item {item_id!r} {problem}")


@dataclass(frozen=True)
class ItemAudio:
    """A user item's audio as the log holds it; times are on the audio clock (ms).

    ``start_ms`` is where both signals begin (None for an item the client created whole, which has
    no place on the audio clock: times are then ms into the item). ``processed`` is None until the
    item was retrieved. ``speech_ms`` is the span counted as speech in the levels table.
    """

    item_id: str
    raw: np.ndarray
    processed: np.ndarray | None
    start_ms: float | None
    marks: dict[str, float] = field(default_factory=dict)
    speech_ms: tuple[float, float] | None = None
    rate: int = PCM_RATE

    @property
    def offset_ms(self) -> float:
        return 0.0 if self.start_ms is None else self.start_ms


@dataclass(frozen=True)
class Comparison:
    """The measured difference between the raw and processed audio of one item.

    ``lag_ms`` > 0: the processed audio is late (processed sample n matches raw sample n - lag);
    ``correlation`` is the normalised cross-correlation at that lag (1 = identical shape).
    ``levels`` is :func:`realtime_nb.audio.levels.compare_levels` (raw / processed / change, dBFS).
    """

    item: ItemAudio
    lag_ms: float
    correlation: float
    levels: dict[str, dict[str, float]]

    def table(self) -> pd.DataFrame:
        """Levels in dBFS: one row per measure, columns sent / retrieved / change."""
        cols = {"sent (raw)": "raw", "retrieved (processed)": "processed", "change": "change"}
        return pd.DataFrame(
            {name: [self.levels[key][row] for row in _TABLE_ROWS] for name, key in cols.items()},
            index=pd.Index(list(_TABLE_ROWS.values()), name="dBFS"),
        )


# ------------------------------------------------------------------------------------ sans-I/O core
def alignment(
    raw: np.ndarray,
    processed: np.ndarray,
    rate: int = PCM_RATE,
    *,
    max_lag_ms: float = _LAG_SEARCH_MS,
    start: int = 0,
    window_ms: float = _LAG_WINDOW_MS,
) -> tuple[float, float]:
    """(lag_ms, correlation) of ``processed`` against ``raw``, both starting at the same clock time.

    Correlates ``window_ms`` from sample ``start`` of both (pick a start inside the speech: noise
    reduction removes most of the rest) over lags within ``max_lag_ms``.
    """
    n = int(min(len(raw), len(processed)) - start)
    n = min(n, int(window_ms * rate / 1000))
    max_lag = int(max_lag_ms * rate / 1000)
    if n <= 2 * max_lag:
        start, n = 0, min(len(raw), len(processed))
    if n <= 0:
        return float("nan"), float("nan")
    a = np.asarray(raw[start : start + n], np.float64)
    b = np.asarray(processed[start : start + n], np.float64)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norm == 0.0:
        return float("nan"), 0.0
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)
    max_lag = min(max_lag, n - 1)
    lags = np.arange(-max_lag, max_lag + 1)
    values = corr[lags % size] / norm
    best = int(np.argmax(values))
    return float(lags[best] * 1000.0 / rate), float(values[best])


def compare(item: ItemAudio) -> Comparison:
    """Alignment and levels of a retrieved item (pure: arrays in, numbers out)."""
    if item.processed is None:
        raise ItemError(item.item_id, "has not been retrieved: there is no processed audio to compare")
    if item.processed.size == 0:
        raise ItemError(item.item_id, "came back from conversation.item.retrieve with no audio")
    segments = []
    if item.speech_ms is not None:
        a, b = item.speech_ms
        segments = [(a - item.offset_ms, b - item.offset_ms)]
    try:
        table = compare_levels(item.raw, item.processed, item.rate, segments)
    except ValueError as exc:
        raise ItemError(item.item_id, f"is too short to measure ({exc})") from exc
    speech_start = int(max(0.0, segments[0][0]) * item.rate / 1000) if segments else 0
    lag_ms, corr = alignment(item.raw, item.processed, item.rate, start=speech_start)
    return Comparison(item, lag_ms, corr, table)


def read_item(log: EventLog, item_id: str, *, speech_ms: tuple[float, float] | None = None) -> ItemAudio:
    """Gather a user item's sent audio, retrieved audio (if any), VAD marks and speech span from a log.

    Raises :class:`ItemError` naming the item for an unknown id, a non-user or non-message item, or an
    item without audio.
    """
    if not isinstance(item_id, str) or not item_id:
        raise ItemError(item_id, "is not an item id (a non-empty string)")
    frame = log.frame()
    rows = frame[frame["item_id"] == item_id]
    if rows.empty:
        raise ItemError(item_id, "is not in this log: no recorded event names it")
    item = _latest_item(log, rows)
    if item is not None:
        _check_user_audio(item_id, item)
    elif rows["type"].astype(str).str.startswith("response.").any():
        raise ItemError(item_id, f"is an output item of a response (assistant audio): {_WHAT}")
    try:
        raw = log.item_audio(item_id)
    except KeyError:
        problem = "has no audio in the log: no span on the audio clock and no created audio"
        raise ItemError(item_id, f"{problem} (was it committed while the log was recording?)") from None
    if raw.size == 0:
        raise ItemError(item_id, "has no audio: its span on the audio clock is empty")
    try:
        start_ms: float | None = log.item_span(item_id)[0]
    except KeyError:
        start_ms = None  # created whole by the client: no audio-clock position
    try:
        processed: np.ndarray | None = log.retrieved_audio(item_id)
    except KeyError:
        processed = None
    marks = _marks(rows)
    if speech_ms is None:
        speech_ms = _speech_span(log, rows, marks)
    return ItemAudio(item_id, raw, processed, start_ms, marks, speech_ms)


def _latest_item(log: EventLog, rows: pd.DataFrame) -> dict[str, Any] | None:
    found = None
    for seq in rows.loc[rows["type"].isin(_ITEM_EVENTS), "seq"]:
        item = log.canonical_event(int(seq)).get("item")
        if isinstance(item, dict):
            found = item
    return found


def _check_user_audio(item_id: str, item: dict[str, Any]) -> None:
    kind, role = item.get("type"), item.get("role")
    if kind != "message":
        raise ItemError(item_id, f"is a {kind} item, not a user audio message")
    if role != "user":
        raise ItemError(item_id, f"is an {role} message: {_WHAT}")
    parts = [p.get("type") for p in item.get("content") or [] if isinstance(p, dict)]
    if "input_audio" not in parts:
        raise ItemError(item_id, f"has no audio: its content is {parts or 'empty'}")


def _marks(rows: pd.DataFrame) -> dict[str, float]:
    marks: dict[str, float] = {}
    for kind, column, name in (
        ("input_audio_buffer.speech_started", "audio_start_ms", "speech_started"),
        ("input_audio_buffer.speech_stopped", "audio_end_ms", "speech_stopped"),
    ):
        values = rows.loc[rows["type"] == kind, column].dropna()
        if len(values):
            marks[name] = float(values.iloc[-1])
    return marks


def _speech_span(log: EventLog, rows: pd.DataFrame, marks: dict[str, float]) -> tuple[float, float] | None:
    """server_vad: the marks minus the prefix padding and the silence window in force at speech start
    (the protocol's defaults when the log saw no session event before it)."""
    if "speech_started" not in marks or "speech_stopped" not in marks:
        return None
    started = int(rows.loc[rows["type"] == "input_audio_buffer.speech_started", "seq"].iloc[-1])
    config = log.session_config(started) or SessionConfig()
    vad = config.turn_detection
    if not isinstance(vad, ServerVad):
        return None
    begin = marks["speech_started"] + vad.prefix_padding_ms
    end = marks["speech_stopped"] - vad.silence_duration_ms
    return (begin, end) if end > begin else None


def wav_bytes(samples: np.ndarray, rate: int = PCM_RATE) -> bytes:
    """Mono 16-bit WAV in memory, for a browser audio element."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


# ------------------------------------------------------------------------------------ widget shell
class WaveformCompare:
    """Raw (sent) vs processed (retrieved) audio of one user item: figure, two players, levels table.

    >>> wc = await WaveformCompare.create(session, item_id)   # retrieves the item if needed
    >>> WaveformCompare.from_log(EventLog.load("run.zip"), item_id, spectrogram=True)

    ``WaveformCompare(session, item_id)`` also works in a running notebook: it starts the retrieval
    and fills in when the answer arrives; ``await`` it to wait (and to see a retrieval error raised).
    """

    def __init__(
        self,
        source: SessionLike | EventLog,
        item_id: str,
        *,
        spectrogram: bool = False,
        speech_ms: tuple[float, float] | None = None,
    ) -> None:
        log = source if callable(getattr(source, "frame", None)) else getattr(source, "log", None)
        if log is None or not callable(getattr(log, "frame", None)):
            kind = type(source).__name__
            raise TypeError(f"WaveformCompare needs a RealtimeSession or an EventLog, got {kind}")
        self.log = log
        self.item_id = item_id
        self.spectrogram = spectrogram
        self.item = read_item(log, item_id, speech_ms=speech_ms)
        self.comparison: Comparison | None = None
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._widget: Any = None
        self._png: bytes | None = None
        if self.item.processed is not None:
            self.comparison = compare(self.item)
            return
        if not callable(getattr(source, "retrieve", None)):
            problem = "was never retrieved while this log was recording, so there is no processed audio"
            raise ItemError(item_id, f"{problem} (send conversation.item.retrieve, or pass the session)")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            problem = "is not retrieved yet and no event loop runs here"
            raise ItemError(
                item_id, f"{problem}: use `await WaveformCompare.create(session, item_id)`"
            ) from None
        self._task = loop.create_task(self._retrieve(source))
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())  # reported in the widget

    @classmethod
    def from_log(cls, log: EventLog, item_id: str, **kwargs: Any) -> WaveformCompare:
        """From a log alone (a saved session): the item must have been retrieved while it recorded."""
        if not callable(getattr(log, "frame", None)):
            raise TypeError(f"from_log needs an EventLog, got {type(log).__name__}")
        return cls(log, item_id, **kwargs)

    @classmethod
    async def create(cls, session: SessionLike, item_id: str, **kwargs: Any) -> WaveformCompare:
        """Compare an item of a live session, sending conversation.item.retrieve if the log lacks it."""
        return await cls(session, item_id, **kwargs)

    def __await__(self) -> Generator[Any, None, WaveformCompare]:
        if self._task is not None:
            yield from self._task.__await__()
        return self

    @property
    def ready(self) -> bool:
        return self.comparison is not None

    async def _retrieve(self, session: SessionLike) -> None:
        try:
            reply = await session.retrieve(self.item_id)
            try:
                processed = self.log.retrieved_audio(self.item_id)
            except KeyError:  # a log that does not record retrievals: use the decoded reply
                pcm = np.asarray(reply.get("audio_pcm", np.zeros(0, np.int16)), np.int16)
                rate = int(reply.get("audio_rate", PCM_RATE))
                processed = pcm if rate == PCM_RATE else resample(pcm, rate, PCM_RATE)
            self.item = replace(self.item, processed=processed)
            self.comparison = compare(self.item)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._refresh()

    # ------------------------------------------------------------------------------- outputs
    def table(self) -> pd.DataFrame:
        return self._done().table()

    def figure(self, *, spectrogram: bool | None = None) -> Any:
        """A new matplotlib Figure (not registered with pyplot, so the inline backend never repeats it)."""
        from matplotlib.figure import Figure

        c = self._done()
        item = c.item
        spec = self.spectrogram if spectrogram is None else spectrogram
        rows = 4 if spec else 2
        fig = Figure(figsize=(11, 1.7 * rows + 0.5))
        where = "audio clock" if item.start_ms is not None else "created item, no audio clock"
        plot_waveform_compare(
            item.raw, item.processed, item.rate, raw_offset_ms=item.offset_ms,
            processed_offset_ms=item.offset_ms, marks=item.marks, spectrogram=spec,
            speech_ms=item.speech_ms, fig=fig,
            title=f"{item.item_id} ({where}); processed vs raw lag {c.lag_ms:+.1f} ms, "
                  f"correlation {c.correlation:.2f}",
        )  # fmt: skip
        # Fixed margins instead of a layout engine: one draw pass instead of two.
        fig.subplots_adjust(left=0.085, right=0.99, top=1 - 0.45 / fig.get_figheight(),
                            bottom=0.5 / fig.get_figheight(), hspace=0.12)  # fmt: skip
        return fig

    def png(self) -> bytes:
        """The figure as PNG (cached); fast zlib level: the spectrogram compresses poorly anyway."""
        if self._png is None:
            buf = io.BytesIO()
            self.figure().savefig(buf, format="png", dpi=100, pil_kwargs={"compress_level": 1})
            self._png = buf.getvalue()
        return self._png

    def _done(self) -> Comparison:
        if self.comparison is None:
            if self.error is not None:
                raise ItemError(self.item_id, f"could not be retrieved: {self.error}") from self.error
            raise ItemError(self.item_id, "is still being retrieved: await the WaveformCompare first")
        return self.comparison

    @property
    def widget(self) -> Any:
        """The ipywidgets box shown for this object (built on first use)."""
        import ipywidgets as w

        if self._widget is None:
            self._widget = w.VBox(layout=w.Layout(max_width="1120px"))
            self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is None:
            return
        import ipywidgets as w

        if self.comparison is None:
            text = (f"⚠ {self.error}" if self.error is not None
                    else f"retrieving {self.item_id} (conversation.item.retrieve)…")  # fmt: skip
            self._widget.children = [w.HTML(f"<b>WaveformCompare</b> {_escape(text)}")]
            return
        item = self.comparison.item
        players = [
            w.VBox([w.HTML(label), w.Audio(value=wav_bytes(x, item.rate), format="wav", autoplay=False)])
            for label, x in (("raw (sent)", item.raw), ("processed (retrieved)", item.processed))
        ]
        table = self.table().to_html(float_format=lambda v: f"{v:.1f}", na_rep="–", classes="rtnb-levels")
        note = "" if item.speech_ms is not None else _NO_SPAN_NOTE
        self._widget.children = [
            w.Image(value=self.png(), format="png", layout=w.Layout(max_width="100%")),
            w.HBox(players),
            w.HTML(table + note),
        ]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = "ready" if self.ready else ("failed" if self.error else "retrieving")
        return f"WaveformCompare({self.item_id!r}, {state})"


def _escape(text: str) -> str:
    import html

    return html.escape(text)
