"""The Call widget's life, sans-I/O: the transition table is the whole truth, and each way a call
can fail has one sentence and one suggestion.

States (the ``state`` trait): ``idle`` (displayed, nothing started) -> ``starting`` (microphone,
offer, the kernel's SDP exchange, ICE, the data channel) -> ``connected`` -> ``closed`` (hung up by
either side); ``failed`` from ``starting`` or ``connected``. ``closed`` and ``failed`` are final for
the widget's current call; `Call.start` begins a new one from them (a new peer connection, the same
log).
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = ("idle", "starting", "connected", "failed", "closed")

# (state, trigger) -> next state. A pair that is absent is refused (`CallStateError`).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("idle", "start"): "starting",
    ("closed", "start"): "starting",
    ("failed", "start"): "starting",
    ("starting", "open"): "connected",
    ("starting", "fail"): "failed",
    ("starting", "hangup"): "closed",
    ("connected", "fail"): "failed",
    ("connected", "hangup"): "closed",
    ("connected", "peer_closed"): "closed",
    # late reports of a call already over change nothing
    ("closed", "hangup"): "closed",
    ("closed", "peer_closed"): "closed",
    ("closed", "fail"): "closed",
    ("failed", "fail"): "failed",
    ("failed", "hangup"): "failed",
    ("failed", "peer_closed"): "failed",
    ("idle", "hangup"): "idle",
}

ACTIVE = frozenset({"starting", "connected"})


class CallStateError(RuntimeError):
    """A trigger the current state does not accept (e.g. a second start while a call runs)."""


def step(state: str, trigger: str) -> str:
    """The state after `trigger`, or `CallStateError` naming why not."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        if trigger == "start" and state in ACTIVE:
            raise CallStateError(
                "this Call already has a call in progress: hang it up first (call.hangup()), "
                "or make a new Call for a second conversation"
            ) from None
        raise CallStateError(f"a call that is {state!r} cannot {trigger!r}") from None


@dataclass(frozen=True)
class Failure:
    """How one kind of failure reads: what happened, and what to do instead."""

    message: str
    suggestion: str


COMM_MIC = (
    "use the comm microphone instead: realtime_nb.notebook.talk_to_it(webrtc=False) "
    "(Mic + Player carry the audio through the kernel)"
)

FAILURES: dict[str, Failure] = {
    "insecure_origin": Failure(
        "the page is not a secure context, so the browser offers no microphone",
        "open Jupyter at http://127.0.0.1 or http://localhost, or over https",
    ),
    "no_media_devices": Failure(
        "this front end offers no navigator.mediaDevices.getUserMedia (VS Code and some hosted "
        "notebooks deny it)",
        "open the notebook in JupyterLab or Notebook in a browser; in Colab allow the microphone "
        "when asked, or " + COMM_MIC,
    ),
    "no_microphone": Failure("the browser found no microphone", "plug one in, or pick another device"),
    "permission_denied": Failure(
        "microphone permission was denied",
        "allow the microphone for this page (the icon in the address bar) and start again",
    ),
    "permission_timeout": Failure(
        "nobody answered the microphone permission prompt", "answer the browser's prompt and start again"
    ),
    "signalling": Failure(
        "the kernel's SDP exchange with the service failed",
        "check the endpoint and its key (the message says which step the service refused)",
    ),
    "engine_unreachable": Failure(
        "the browser could not reach the kernel's engine over WebRTC (ICE found no path)",
        "on a remote Jupyter (Binder, JupyterHub) the browser cannot reach the kernel's machine by "
        "UDP: " + COMM_MIC,
    ),
    "ice_failed": Failure(
        "the WebRTC connection failed (ICE or DTLS)",
        "a firewall or VPN may block UDP; try another network, or " + COMM_MIC,
    ),
    "timeout": Failure(
        "the call did not connect in time",
        "check the network path to the service; for the local engine on a remote Jupyter, " + COMM_MIC,
    ),
    "page_closed": Failure(
        "the page holding the call went away (tab closed or reloaded)",
        "display the Call again and start a new call; the log so far is kept in call.log",
    ),
    "kernel_restarted": Failure(
        "the kernel this call belonged to restarted",
        "run the cell again to create a new Call",
    ),
    "second_view": Failure(
        "this Call is already running in another view of the page",
        "use the view that started it, or create another Call",
    ),
    "key_expired": Failure(
        "the ephemeral key expired before the offer was sent",
        "start again (a new key is minted), or use a GA endpoint, whose unified flow needs no key",
    ),
    "peer_closed": Failure("the service ended the call", "start again for a new call"),
    "page_error": Failure("the page reported an error", "see the message; start again"),
}


def describe(kind: str, detail: str = "") -> str:
    """The widget's visible message for a failure: what, the detail, and what to do."""
    failure = FAILURES.get(kind, FAILURES["page_error"])
    text = failure.message + (f" ({detail})" if detail else "")
    return f"{text}. Suggestion: {failure.suggestion}."


class CallFailed(RuntimeError):
    """A call could not connect, or ended in failure. `kind` names which (a key of `FAILURES`),
    `suggestion` what to do instead; `str()` holds both."""

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        self.suggestion = FAILURES.get(kind, FAILURES["page_error"]).suggestion
        super().__init__(describe(kind, detail))
