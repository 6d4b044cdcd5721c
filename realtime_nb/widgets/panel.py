"""``TuningPanel``: turn detection, noise reduction and transcription of a live session, as controls.

Two halves. The decision logic is pure (no widgets, no I/O) so it can be tested without a kernel:

* `config_from_values` / `decide`: control values + the effective config -> the `SessionConfig` to
  send, or the `ConfigError` that refuses it before anything is sent (built through the protocol
  layer, so the message names the allowed range);
* `values_from_config` / `values_from_updated`: the server's answer (``session.updated``) -> what
  the controls show;
* `visible_controls`: which controls apply to a turn-detection type and dialect;
* `Debounce`: when a burst of edits becomes one update.

The ipywidgets shell only reads and writes controls, arms a timer and calls
``session.update_session(..., with_turn_detection=True)``: every update carries what changed plus
the *whole* turn-detection object, changed or not, so what the panel shows is restated each time
(a partial object would have the service refill the missing fields with its defaults).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import math
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from realtime_nb.protocol import (
    EAGERNESS_VALUES,
    NOISE_REDUCTION_VALUES,
    SERVER_VAD_RANGES,
    SESSION_FIELDS,
    TURN_DETECTION_TYPES,
    ConfigError,
    Dialect,
    SemanticVad,
    ServerVad,
    SessionConfig,
    Transcription,
    to_wire,
)
from realtime_nb.widgets._audio_comm import _current_loop, subscribe
from realtime_nb.widgets._disconnect import on_disconnect, release_listeners
from realtime_nb.widgets._session import SessionLike

__all__ = [
    "NOISE_CHOICES",
    "TURN_TYPES",
    "Debounce",
    "PanelDecision",
    "PanelValues",
    "TuningPanel",
    "config_from_values",
    "decide",
    "describe_config",
    "values_from_config",
    "values_from_updated",
    "visible_controls",
]

# "none" is the menu's name for turn detection off (null on the wire).
TURN_TYPES: tuple[str, ...] = ("none", *TURN_DETECTION_TYPES)
# The protocol's noise-reduction values, with its None ("off" on the wire as null) named for a menu.
NOISE_CHOICES: tuple[str, ...] = tuple(value or "off" for value in NOISE_REDUCTION_VALUES)

# Which control belongs to which setting (the protocol's turn-detection fields, by the types they
# belong to); the shell hides the ones that do not apply.
_TURN_FIELDS = SESSION_FIELDS.children("turn_detection")[1:]  # [0] is the type itself
SERVER_VAD_ONLY = tuple(row.key for row in _TURN_FIELDS if row.kinds == (ServerVad.type,))
SEMANTIC_VAD_ONLY = tuple(row.key for row in _TURN_FIELDS if row.kinds == (SemanticVad.type,))
ANY_VAD = tuple(row.key for row in _TURN_FIELDS if len(row.kinds) > 1)
ALWAYS = ("turn_type", "noise_reduction", "transcription")
# In display order.
CONTROL_NAMES: tuple[str, ...] = (
    "turn_type",
    *SERVER_VAD_ONLY,
    *SEMANTIC_VAD_ONLY,
    *ANY_VAD,
    "noise_reduction",
    "transcription",
    "language",
)


# The protocol's defaults, by control name (the session's default turn detection type first).
_DEFAULTS: dict[str, Any] = {row.key: row.default for row in _TURN_FIELDS}
_DEFAULTS["type"] = SESSION_FIELDS.default("turn_detection")["type"]


# ------------------------------------------------------------------------------------- pure logic
@dataclass(frozen=True)
class PanelValues:
    """What the controls hold. Values of hidden controls are kept, so switching back restores them.

    ``idle_timeout_ms`` None means off; ``language`` "" means let the transcriber detect it.
    """

    turn_type: str = _DEFAULTS["type"]
    threshold: float = _DEFAULTS["threshold"]
    prefix_padding_ms: int = _DEFAULTS["prefix_padding_ms"]
    silence_duration_ms: int = _DEFAULTS["silence_duration_ms"]
    idle_timeout_ms: int | None = _DEFAULTS["idle_timeout_ms"]
    eagerness: str = _DEFAULTS["eagerness"]
    create_response: bool = _DEFAULTS["create_response"]
    interrupt_response: bool = _DEFAULTS["interrupt_response"]
    noise_reduction: str = "off"
    transcription: bool = False
    language: str = ""

    def replace(self, **changes: Any) -> PanelValues:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown panel value(s) {', '.join(unknown)}; the values are {', '.join(known)}")
        return dataclasses.replace(self, **changes)


def config_from_values(values: PanelValues, base: SessionConfig, dialect: Dialect) -> SessionConfig:
    """The session `base` with the panel's settings applied; raises ConfigError, never half-applies.

    Everything the panel does not own (voice, instructions, tools, the transcription model and
    prompt) is kept from `base`, which should be the effective config the server reported.
    """
    kind = values.turn_type
    turn_detection: ServerVad | SemanticVad | None
    if kind == "none":
        turn_detection = None
    elif kind == "server_vad":
        turn_detection = ServerVad(
            threshold=values.threshold,
            prefix_padding_ms=values.prefix_padding_ms,
            silence_duration_ms=values.silence_duration_ms,
            idle_timeout_ms=values.idle_timeout_ms,
            create_response=values.create_response,
            interrupt_response=values.interrupt_response,
        )
    elif kind == "semantic_vad":
        turn_detection = SemanticVad(
            eagerness=values.eagerness,
            create_response=values.create_response,
            interrupt_response=values.interrupt_response,
        )
    else:
        raise ConfigError("turn_detection.type", kind, "one of " + ", ".join(TURN_TYPES))
    if values.noise_reduction not in NOISE_CHOICES:
        raise ConfigError("noise_reduction", values.noise_reduction, "one of " + ", ".join(NOISE_CHOICES))
    noise = None if values.noise_reduction == "off" else values.noise_reduction
    transcription = None
    if values.transcription:
        kept = base.transcription or Transcription()  # the protocol's default model
        language = values.language.strip() if isinstance(values.language, str) else values.language
        transcription = Transcription(model=kept.model, language=language or None, prompt=kept.prompt)
    target = base.replace(turn_detection=turn_detection, noise_reduction=noise, transcription=transcription)
    target.check_dialect(dialect)
    return target


@dataclass(frozen=True)
class PanelDecision:
    """What to do with the controls' values: send `config`, refuse with `error`, or nothing."""

    config: SessionConfig | None = None
    error: ConfigError | None = None

    @property
    def message(self) -> str:
        return "" if self.error is None else refusal_message(self.error)


def decide(values: PanelValues, effective: SessionConfig, dialect: Dialect) -> PanelDecision:
    """Validate `values` against the protocol; send only when the result differs from `effective`."""
    try:
        target = config_from_values(values, effective, dialect)
    except ConfigError as err:
        return PanelDecision(error=err.in_dialect(dialect))
    return PanelDecision() if target == effective else PanelDecision(config=target)


def refusal_message(err: ConfigError) -> str:
    """Inline text for a value refused before sending: which setting, what was given, what is allowed."""
    name = err.field.rsplit(".", 1)[-1].replace("_", " ")
    return f"Not sent: {name} = {err.value!r} is not allowed (allowed: {err.allowed})."


def server_error_message(err: Any) -> str:
    """Inline text for an update the server refused (`ServerError` or an error event's ``error``)."""
    if isinstance(err, dict):
        code, message, param = err.get("code"), err.get("message"), err.get("param")
    else:
        code, message = getattr(err, "code", None), getattr(err, "message", str(err))
        param = getattr(err, "param", None)
    where = f" ({param})" if param else ""
    return f"The server refused the update: {code or 'error'}: {message}{where}"


def values_from_config(config: SessionConfig, previous: PanelValues | None = None) -> PanelValues:
    """The controls for an effective config. Settings the config does not carry (the threshold
    while semantic_vad is on, the language while transcription is off) keep their `previous` value."""
    prev = previous or PanelValues()
    td = config.turn_detection
    changes: dict[str, Any] = {
        "noise_reduction": config.noise_reduction or "off",
        "transcription": config.transcription is not None,
    }
    if config.transcription is not None:
        changes["language"] = config.transcription.language or ""
    if td is None:
        changes["turn_type"] = "none"
    else:
        changes.update(
            turn_type=td.type, create_response=td.create_response, interrupt_response=td.interrupt_response
        )
        if isinstance(td, ServerVad):
            changes.update(
                threshold=td.threshold,
                prefix_padding_ms=td.prefix_padding_ms,
                silence_duration_ms=td.silence_duration_ms,
                idle_timeout_ms=td.idle_timeout_ms,
            )
        else:
            changes["eagerness"] = td.eagerness
    return prev.replace(**changes)


def config_from_updated(event: dict[str, Any]) -> SessionConfig:
    """The effective config of a canonical ``session.updated`` / ``session.created`` event.

    Canonical events carry the GA shape plus what only preview says (``temperature``); the event is
    read as GA sends it, which drops those (the panel does not show them). Raises ConfigError if the
    session cannot be read.
    """
    session = event.get("session")
    if not isinstance(session, dict):
        raise ConfigError("session", session, "a session object", code="invalid_type", param="session")
    as_ga = to_wire({"type": "session.updated", "session": session}, Dialect.GA)
    assert as_ga is not None  # every canonical event exists in GA
    return SessionConfig.from_wire(as_ga["session"], Dialect.GA)


def values_from_updated(event: dict[str, Any], previous: PanelValues | None = None) -> PanelValues:
    """The controls for the server's answer (a canonical ``session.updated`` event)."""
    return values_from_config(config_from_updated(event), previous)


def visible_controls(turn_type: str, transcription: bool, dialect: Dialect) -> frozenset[str]:
    """The controls that apply: VAD settings of the chosen type only, idle timeout in GA only,
    the language only while transcription is on."""
    shown = set(ALWAYS)
    if turn_type == "server_vad":
        shown.update(SERVER_VAD_ONLY, ANY_VAD)
        shown.difference_update(  # what the dialect lacks (preview: idle_timeout_ms)
            row.key for row in _TURN_FIELDS if SESSION_FIELDS.path(row.name, dialect) is None
        )
    elif turn_type == "semantic_vad":
        shown.update(SEMANTIC_VAD_ONLY, ANY_VAD)
    if transcription:
        shown.add("language")
    return frozenset(shown)


def describe_config(config: SessionConfig | None) -> str:
    """One line of the effective settings, as the server reported them."""
    if config is None:
        return "no session.updated yet"
    td = config.turn_detection
    if td is None:
        parts = ["turn detection off"]
    elif isinstance(td, ServerVad):
        idle = "off" if td.idle_timeout_ms is None else f"{td.idle_timeout_ms} ms"
        parts = [
            f"server_vad threshold {td.threshold:g}",
            f"prefix {td.prefix_padding_ms} ms",
            f"silence {td.silence_duration_ms} ms",
            f"idle {idle}",
        ]
    else:
        parts = [f"semantic_vad eagerness {td.eagerness}"]
    if td is not None:
        parts.append(f"create_response {'on' if td.create_response else 'off'}")
        parts.append(f"interrupt_response {'on' if td.interrupt_response else 'off'}")
    parts.append(f"noise reduction {config.noise_reduction or 'off'}")
    tr = config.transcription
    parts.append("transcription off" if tr is None else f"transcription {tr.model} ({tr.language or 'auto'})")
    return " · ".join(parts)


class Debounce:
    """When a burst of edits is sent: `delay_s` after the last edit, and never while an update is in
    flight (edits made meanwhile go out in the next update, built on the server's answer)."""

    def __init__(self, delay_s: float) -> None:
        if (
            isinstance(delay_s, bool)
            or not isinstance(delay_s, int | float)
            or not (math.isfinite(delay_s) and delay_s >= 0)
        ):
            raise ValueError(f"debounce must be a number of seconds >= 0, got {delay_s!r}")
        self.delay_s = float(delay_s)
        self.deadline: float | None = None  # set while edits wait to be sent
        self.in_flight = False

    @property
    def idle(self) -> bool:
        return self.deadline is None and not self.in_flight

    def touch(self, now: float) -> float:
        """An edit at `now`; returns when it is due."""
        self.deadline = now + self.delay_s
        return self.deadline

    def due(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline and not self.in_flight

    def start(self) -> None:
        """The pending edits are being sent (or refused) now."""
        self.deadline = None
        self.in_flight = True

    def finish(self) -> bool:
        """The update was answered; returns True when newer edits are waiting."""
        self.in_flight = False
        return self.deadline is not None

    def cancel(self) -> None:
        self.deadline = None


# ------------------------------------------------------------------------------------------ shell
_STYLE = {"description_width": "150px"}


def _sized(width: str = "440px") -> dict[str, Any]:
    """Style and a fresh Layout per control (a shared Layout would hide them all together)."""
    return {"style": dict(_STYLE), "layout": widgets.Layout(width=width)}


def _build_controls() -> dict[str, widgets.Widget]:
    lo_t, hi_t, step_t = SERVER_VAD_RANGES["threshold"]
    lo_p, hi_p, step_p = SERVER_VAD_RANGES["prefix_padding_ms"]
    lo_s, hi_s, step_s = SERVER_VAD_RANGES["silence_duration_ms"]
    slider = {"continuous_update": False, **_sized()}
    controls: dict[str, widgets.Widget] = {
        "turn_type": widgets.ToggleButtons(
            options=[("off", "none"), ("server VAD", "server_vad"), ("semantic VAD", "semantic_vad")],
            description="turn detection",
            style={**_STYLE, "button_width": "120px"},
        ),
        "threshold": widgets.FloatSlider(
            min=lo_t, max=hi_t, step=step_t, readout_format=".2f", description="threshold", **slider
        ),
        "prefix_padding_ms": widgets.IntSlider(
            min=int(lo_p), max=int(hi_p), step=int(step_p), description="prefix padding (ms)", **slider
        ),
        "silence_duration_ms": widgets.IntSlider(
            min=int(lo_s), max=int(hi_s), step=int(step_s), description="silence (ms)", **slider
        ),
        "idle_timeout_on": widgets.Checkbox(description="idle timeout (ms)", **_sized("auto")),
        "idle_timeout_ms": widgets.IntText(
            value=10000,
            step=int(SERVER_VAD_RANGES["idle_timeout_ms"][2]),
            layout=widgets.Layout(width="110px"),
        ),
        "eagerness": widgets.Dropdown(options=list(EAGERNESS_VALUES), description="eagerness", **_sized()),
        "create_response": widgets.Checkbox(description="create_response", **_sized()),
        "interrupt_response": widgets.Checkbox(description="interrupt_response", **_sized()),
        "noise_reduction": widgets.Dropdown(
            options=list(NOISE_CHOICES), description="noise reduction", **_sized()
        ),
        "transcription": widgets.Checkbox(description="transcription", **_sized()),
        "language": widgets.Text(
            placeholder="auto (or e.g. en, de)", description="language", **_sized("300px")
        ),
    }
    for name, control in controls.items():
        control.add_class(f"rtnb-panel-{name.replace('_', '-')}")  # stable hooks for CSS and tests
    return controls


class TuningPanel(widgets.VBox):
    """Controls for a live session's turn detection, noise reduction and transcription.

    >>> panel = TuningPanel(session)   # display it; edits go out 300 ms after the last one

    Edits are validated before sending (an out-of-range value shows the allowed range and sends
    nothing) and go out as one ``session.update``; the controls then show what the server answered
    in ``session.updated``. A refusal by the server is shown inline and the controls return to the
    effective values. When the connection drops, every control is disabled and the reason shown.
    """

    def __init__(self, session: SessionLike, *, debounce_s: float = 0.3, **kwargs: Any) -> None:
        self._debounce = Debounce(debounce_s)
        self._session = session
        self.dialect: Dialect = Dialect(getattr(session, "dialect", Dialect.GA))
        self.controls = _build_controls()
        self.effective: SessionConfig | None = getattr(session, "config", None)
        self.updates_sent = 0
        self.refusals: list[str] = []
        self.disconnected = ""
        self._message = ""
        self._applying = False
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop = _current_loop()
        self._effective_html = widgets.HTML()
        self._message_html = widgets.HTML()
        c = self.controls
        self._rows: dict[str, widgets.Widget] = {name: c[name] for name in CONTROL_NAMES}
        self._rows["idle_timeout_ms"] = widgets.HBox([c["idle_timeout_on"], c["idle_timeout_ms"]])
        title = widgets.HTML(
            f"<b>Tuning</b> <span style='color:#666'>(session.update "
            f"{self._debounce.delay_s * 1000:.0f} ms after the last edit)</span>"
        )
        super().__init__([title, *self._rows.values(), self._effective_html, self._message_html], **kwargs)
        self._write_controls(values_from_config(self.effective) if self.effective else PanelValues())
        self._show_effective()
        for control in c.values():
            control.observe(self._on_edit, names="value")
        self._offs = [
            subscribe(session, ("session.updated",), self._on_updated),
            on_disconnect(session, self.set_disconnected),
        ]

    # ------------------------------------------------------------------------------- public API
    @property
    def values(self) -> PanelValues:
        """What the controls hold now (may be ahead of the server while an edit waits or flies)."""
        return self._read_controls()

    @property
    def message(self) -> str:
        """The inline message shown (a refusal, a server error, the disconnection), or ""."""
        return self._message

    @property
    def idle(self) -> bool:
        """No edit waiting and no update in flight."""
        return self._debounce.idle

    def set(self, **changes: Any) -> None:
        """Change controls from code (names as in `PanelValues`), e.g. ``panel.set(threshold=0.7)``.

        Validated first: a value out of range raises ConfigError (also shown inline) and touches
        nothing. Otherwise the controls change and the usual debounced update follows.
        """
        if self.disconnected:
            raise RuntimeError(f"the panel's session is disconnected ({self.disconnected})")
        values = self.values.replace(**changes)
        decision = decide(values, self._base(), self.dialect)
        if decision.error is not None:
            self._refuse(decision.message)
            raise decision.error
        self._write_controls(values)
        self._edited()

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until edits have been sent and answered (or refused)."""
        deadline = self._loop.time() + timeout
        while not self._debounce.idle:
            if self._loop.time() > deadline:
                raise TimeoutError(f"the panel did not settle within {timeout:g} s")
            await asyncio.sleep(0.02)

    def set_disconnected(self, reason: str) -> None:
        """Grey out: disable every control, drop waiting edits, show why."""
        self.disconnected = reason or "disconnected"
        self._debounce.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for control in self.controls.values():
            control.disabled = True
        self._show_message(f"⚠ Disconnected: {self.disconnected}. The controls are disabled.", error=True)

    def close(self) -> None:
        release_listeners(self)
        super().close()

    # ------------------------------------------------------------------------------- controls
    def _read_controls(self) -> PanelValues:
        c = self.controls
        return PanelValues(
            turn_type=c["turn_type"].value,
            threshold=c["threshold"].value,
            prefix_padding_ms=c["prefix_padding_ms"].value,
            silence_duration_ms=c["silence_duration_ms"].value,
            idle_timeout_ms=c["idle_timeout_ms"].value if c["idle_timeout_on"].value else None,
            eagerness=c["eagerness"].value,
            create_response=c["create_response"].value,
            interrupt_response=c["interrupt_response"].value,
            noise_reduction=c["noise_reduction"].value,
            transcription=c["transcription"].value,
            language=c["language"].value,
        )

    def _write_controls(self, values: PanelValues) -> None:
        """Show `values` without treating it as an edit (sliders widen rather than clamp)."""
        c = self.controls
        self._applying = True
        try:
            for name in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
                value = getattr(values, name)
                if value > c[name].max:
                    c[name].max = value
            c["turn_type"].value = values.turn_type
            c["threshold"].value = values.threshold
            c["prefix_padding_ms"].value = values.prefix_padding_ms
            c["silence_duration_ms"].value = values.silence_duration_ms
            c["idle_timeout_on"].value = values.idle_timeout_ms is not None
            if values.idle_timeout_ms is not None:
                c["idle_timeout_ms"].value = values.idle_timeout_ms
            c["eagerness"].value = values.eagerness
            c["create_response"].value = values.create_response
            c["interrupt_response"].value = values.interrupt_response
            c["noise_reduction"].value = values.noise_reduction
            c["transcription"].value = values.transcription
            c["language"].value = values.language
        finally:
            self._applying = False
        self._update_visibility(values)

    def _update_visibility(self, values: PanelValues) -> None:
        shown = visible_controls(values.turn_type, values.transcription, self.dialect)
        for name, row in self._rows.items():
            row.layout.display = None if name in shown else "none"

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self._message = text
        color = "#c62828" if error else "#2e7d32"
        self._message_html.value = f"<span style='color:{color}'>{html.escape(text)}</span>" if text else ""

    def _show_effective(self) -> None:
        text = html.escape(describe_config(self.effective))
        self._effective_html.value = f"<span style='color:#555'>server (session.updated): {text}</span>"

    def _base(self) -> SessionConfig:
        return self.effective or getattr(self._session, "config", None) or SessionConfig()

    # ------------------------------------------------------------------------------- events
    def _on_edit(self, _change: dict[str, Any]) -> None:
        if self._applying or self.disconnected:
            return
        self._update_visibility(self.values)
        self._edited()

    def _edited(self) -> None:
        deadline = self._debounce.touch(self._loop.time())
        if self._timer is None and not self._debounce.in_flight:
            self._timer = self._loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.disconnected or self._debounce.in_flight:
            return  # the answer to the update in flight re-arms
        deadline = self._debounce.deadline
        if deadline is None:
            return
        if not self._debounce.due(self._loop.time()):
            self._timer = self._loop.call_at(deadline, self._tick)  # edited again meanwhile
            return
        self._debounce.start()
        decision = decide(self.values, self._base(), self.dialect)
        if decision.error is not None:
            self._refuse(decision.message)
            self._revert()
            self._answered()
        elif decision.config is None:
            self._show_message("")
            self._answered()
        else:
            self._task = self._loop.create_task(self._send_update(decision.config))

    async def _send_update(self, target: SessionConfig) -> None:
        from realtime_nb.client.errors import ConnectionClosedError, ServerError

        try:
            self.updates_sent += 1
            await self._session.update_session(target, with_turn_detection=True)
            self._show_message("")
        except ServerError as err:
            self._refuse(server_error_message(err))
            self._revert()
        except ConnectionClosedError as err:
            self.set_disconnected(str(err))
        except Exception as err:  # a timeout, a dialect the target cannot be written in, ...
            self._refuse(f"Update failed: {type(err).__name__}: {err}")
            self._revert()
        finally:
            self._answered()

    def _answered(self) -> None:
        if self._debounce.finish() and not self.disconnected and self._timer is None:
            self._timer = self._loop.call_at(self._debounce.deadline or self._loop.time(), self._tick)

    def _refuse(self, text: str) -> None:
        self.refusals.append(text)
        del self.refusals[:-50]
        self._show_message(text, error=True)

    def _revert(self) -> None:
        """Back to what the server holds, unless newer edits are already waiting."""
        if self._debounce.deadline is None and self.effective is not None:
            self._write_controls(values_from_config(self.effective, self.values))

    def _on_updated(self, event: dict[str, Any]) -> None:
        try:
            config = config_from_updated(event)
        except ConfigError as err:
            self._refuse(f"session.updated could not be read: {err}")
            return
        self.effective = config
        self._show_effective()
        if self._debounce.deadline is None:  # never overwrite edits that are still waiting
            self._write_controls(values_from_config(config, self.values))
