"""``TuningPanel``: turn detection, noise reduction and transcription of a live session, as controls.

The decisions (what to send, what to show, which controls apply, when a burst of edits goes out)
are pure and live in `panel_logic`. This ipywidgets shell only reads and writes controls, arms a
timer and calls ``session.update_session(..., with_turn_detection=True)``: every update carries what
changed plus the *whole* turn-detection object, changed or not, so what the panel shows is restated
each time (a partial object would have the service refill the missing fields with its defaults).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as widgets

from realtime_nb.protocol import EAGERNESS_VALUES, SERVER_VAD_RANGES, ConfigError, Dialect, SessionConfig
from realtime_nb.widgets._audio_comm import _current_loop, subscribe
from realtime_nb.widgets._disconnect import on_disconnect, release_listeners
from realtime_nb.widgets._session import SessionLike
from realtime_nb.widgets.panel_logic import (
    CONTROL_NAMES,
    NOISE_CHOICES,
    Debounce,
    PanelValues,
    config_from_updated,
    decide,
    describe_config,
    server_error_message,
    values_from_config,
    visible_controls,
)

__all__ = ["TuningPanel"]

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
        transcribes_only = self.effective is not None and self.effective.transcribes_only
        shown = visible_controls(
            values.turn_type, values.transcription, self.dialect, transcribes_only=transcribes_only
        )
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
