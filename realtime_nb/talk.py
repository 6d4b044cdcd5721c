"""``talk_to_it()``: a live conversation in the notebook, by the best path this front end allows.

WebRTC (the `Call` widget: the page holds the peer connection, the audio never passes through the
kernel) where the browser can reach the service; otherwise the comm path (`Mic` + `Player` of a
WebSocket session, the audio through the kernel), which works wherever widgets do. `choose_path`
holds the decision and its reason, from facts the kernel can see:

* **cloud** (keys set): WebRTC, since the browser reaches the service directly; except in a front
  end that denies ``getUserMedia`` to widgets (VS Code's webview) or needs its own permission flow
  (Colab), where the comm path is the one that works;
* **the embedded engine**: WebRTC only when the Jupyter server is on the browser's machine; on a
  hosted Jupyter (Binder, JupyterHub, Colab, Codespaces) the browser cannot reach the kernel's UDP
  ports, so the comm path;
* no ``aiortc`` (the ``webrtc`` extra) for the engine's side: the comm path.

Nothing here blocks: the widgets are displayed and wait for a click, so a headless run (the notebook
tests) passes through.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from realtime_nb.client import Endpoint, RealtimeSession
from realtime_nb.protocol import ServerVad, SessionConfig

__all__ = ["TalkPath", "choose_path", "talk_to_it"]

_HOSTED = {
    "BINDER_LAUNCH_HOST": "Binder",
    "BINDER_REPO_URL": "Binder",
    "JUPYTERHUB_API_URL": "JupyterHub",
    "JUPYTERHUB_USER": "JupyterHub",
    "CODESPACES": "GitHub Codespaces",
    "COLAB_RELEASE_TAG": "Colab",
}
_NO_MIC_FRONT_ENDS = {"VSCODE_PID": "VS Code", "VSCODE_CWD": "VS Code"}


@dataclass(frozen=True)
class TalkPath:
    """The chosen path (``"webrtc"`` or ``"comm"``) and why, in a sentence."""

    kind: Literal["webrtc", "comm"]
    reason: str


def choose_path(endpoint: Endpoint, env: Mapping[str, str] | None = None,
                modules: Mapping[str, Any] | None = None) -> TalkPath:
    """WebRTC or the comm path for `endpoint` in this front end (see the module docstring)."""
    env = os.environ if env is None else env
    modules = sys.modules if modules is None else modules
    no_mic = next((name for var, name in _NO_MIC_FRONT_ENDS.items() if env.get(var)), None)
    if "google.colab" in modules:
        no_mic = "Colab"
    if no_mic:
        return TalkPath("comm", f"{no_mic} denies the page's microphone to widgets: Mic + Player, "
                                "over the comm")
    if importlib.util.find_spec("aiortc") is None and endpoint.service == "local":
        return TalkPath("comm", "the engine has no WebRTC without the 'webrtc' extra (aiortc): Mic + Player")
    hosted = next((name for var, name in _HOSTED.items() if env.get(var)), None)
    if endpoint.service == "local" and hosted:
        return TalkPath("comm", f"on {hosted} the browser cannot reach the kernel's engine over UDP: "
                            "Mic + Player over the comm")
    where = "the embedded engine" if endpoint.service == "local" else endpoint.service
    return TalkPath("webrtc", f"WebRTC: the page calls {where} directly (the kernel keeps the key "
                              "and the log)")


async def talk_to_it(endpoint: Endpoint | None = None, *, webrtc: bool | None = None,
                     config: SessionConfig | None = None, show: bool = True) -> Any:
    """Display a live conversation (a `Call`, or Mic + Player) and return it; never blocks.

    `endpoint`: default the cloud if keys are set (`Endpoint.from_env`), else the embedded engine.
    `webrtc`: None chooses (`choose_path`), True / False forces. `config`: the session's settings
    (default: server VAD). `show`: display it (False: just return it). Returns the `Call`, or on the
    comm path the `Dashboard` (Mic, Player, TuningPanel, LiveTimeline); both have ``.session``.
    """
    from IPython.display import display

    from realtime_nb.notebook import LOCAL_TIMEOUT_S, local_engine

    if endpoint is None:
        endpoint = Endpoint.from_env()
    if endpoint is None:
        engine = local_engine()
        await asyncio.to_thread(engine.wait_ready, LOCAL_TIMEOUT_S)  # models load off the event loop
        endpoint = Endpoint.local(engine.url)
    config = config or SessionConfig(turn_detection=ServerVad())
    path = choose_path(endpoint)
    kind = path.kind if webrtc is None else ("webrtc" if webrtc else "comm")
    timeout = LOCAL_TIMEOUT_S if endpoint.service == "local" else 10.0
    if kind == "webrtc":
        from realtime_nb.widgets import Call

        shown: Any = Call(endpoint, config=config, timeout=timeout)
    else:
        from realtime_nb.widgets import dashboard

        session = RealtimeSession(endpoint, timeout=timeout, response_timeout=max(timeout, 120.0))
        await session.connect()
        await session.update_session(config)
        shown = dashboard(session)
    reason = path.reason if webrtc is None else f"{kind} (asked for)"
    print(f"{reason}. Click {'Call' if kind == 'webrtc' else 'Start mic'} and talk.")
    if show:
        display(shown)
    return shown
