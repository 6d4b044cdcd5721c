"""Where a call cannot work, the `Call` says so within seconds: in the widget and as `CallFailed`.

The four failures a headless browser can produce, each against the kernel's engine (no models
loaded: nothing gets as far as speech):

* permission denied: Chromium refuses every permission prompt (the fake device exists);
* no microphone: the prompt is granted but there is no capture device (this machine has no sound card);
* unreachable engine: the call's endpoint is a closed port, so the kernel's SDP exchange is refused;
* ICE failure: the exchange succeeds through `rtc_faults.IceBlackHole`, which hides the browser's
  candidates from the engine and points the answer's at a silent UDP socket (a browser that cannot
  reach the kernel's machine, as on a remote Jupyter).

Each expects the visible message within a stated time (the widget's own limits plus room for a
loaded machine) and the matching `CallFailed.kind` from `await call.connected()`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.call_page import Microphone, call_browser
from tests.browser.harness import Lab, NotebookPage, write_notebook

# Stated limits (s) from the click to the visible message: the page fails at once on a refused
# microphone; the kernel's exchange with a closed port is refused at once; an ICE failure waits for
# the page's connect timeout (10 s after the offer). Each has room for a loaded machine.
WITHIN_S = {"permission_denied": 15, "no_microphone": 15, "signalling": 15, "ice": 35}

pytestmark = pytest.mark.timeout(360)

_SETUP = (
    "import json\n"
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint\n"
    "from realtime_nb.widgets import Call, CallFailed\n"
    "from tests.browser.rtc_faults import IceBlackHole, closed_port_url\n"
    "engine = start_engine(preload=False)\n"
    "async def failure(call, timeout=60):\n"
    "    try:\n"
    "        await call.connected(timeout=timeout)\n"
    "    except CallFailed as exc:\n"
    "        return {'kind': exc.kind, 'message': str(exc), 'suggestion': exc.suggestion,\n"
    "                'state': call.state, 'error': call.error}\n"
    "    return {'kind': None, 'state': call.state}"
)


def _open(browser: Any, lab: Lab, notebook_dir: Path, name: str, cells: list[str]) -> NotebookPage:
    write_notebook(notebook_dir / name, [_SETUP, *cells])
    nb = NotebookPage(browser.new_page(), lab, name, timeout_s=240)
    nb.run_all()
    nb.page.locator(".rtnb-call .rtnb-start").first.wait_for(timeout=240_000)
    nb.wait_idle()
    return nb


def _fail_and_time(nb: NotebookPage, index: int, var: str) -> tuple[float, str, dict[str, Any]]:
    """Click the index-th Call button; seconds until its view shows an error, the text, CallFailed."""
    box = nb.page.locator(".rtnb-call").nth(index)
    t0 = time.monotonic()
    box.locator(".rtnb-start").click()
    error = box.locator(".rtnb-error")
    nb.page.wait_for_function(
        "(el) => el.textContent.trim().length > 0", arg=error.element_handle(), polling=100, timeout=60_000
    )
    elapsed = time.monotonic() - t0
    shown = error.inner_text()
    raised = json.loads(nb.execute(f"print(json.dumps(await failure({var}), default=str))"))
    return elapsed, shown, raised


@pytest.fixture
def browser_for(silence: Path) -> Iterator[Any]:
    contexts = []

    def open_(microphone: Microphone) -> Any:
        ctx = call_browser(silence if microphone != "none" else None, microphone)
        contexts.append(ctx)
        return ctx.__enter__()

    yield open_
    for ctx in reversed(contexts):
        ctx.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("microphone", "kind", "words"),
    [("denied", "permission_denied", "permission"), ("none", "no_microphone", "microphone")],
)
def test_a_microphone_the_page_cannot_have_fails_within_seconds(
    fresh_lab: Lab, notebook_dir: Path, browser_for: Any, microphone: Microphone, kind: str, words: str
) -> None:
    nb = _open(
        browser_for(microphone),
        fresh_lab,
        notebook_dir,
        f"fail_{microphone}.ipynb",
        ["call = Call(Endpoint.local(engine.url), timeout=30)\ncall"],
    )
    elapsed, shown, raised = _fail_and_time(nb, 0, "call")
    calls = nb.kernel_json("engine.stats().get('calls_calls', 0)")
    print(f"{kind}: message after {elapsed:.1f} s: {shown!r}")
    assert raised["kind"] == kind, raised
    assert words in shown.lower() and "suggestion" in shown.lower(), shown
    assert raised["state"] == "failed" and raised["error"] in shown.replace("⚠ ", "")
    assert elapsed <= WITHIN_S[kind]
    assert calls == 0  # nothing reached the engine


def test_an_unreachable_engine_and_an_ice_failure_fail_within_seconds(
    fresh_lab: Lab, notebook_dir: Path, browser_for: Any
) -> None:
    nb = _open(
        browser_for("fake"),
        fresh_lab,
        notebook_dir,
        "fail_network.ipynb",
        [
            "closed = Call(Endpoint.local(closed_port_url(engine.url)), timeout=10)\nclosed",
            "hole = IceBlackHole(engine.url)\nblocked = Call(Endpoint.local(hole.url), timeout=30)\nblocked",
        ],
    )
    # the engine is not there: the kernel's SDP exchange is refused
    elapsed, shown, raised = _fail_and_time(nb, 0, "closed")
    print(f"unreachable engine: message after {elapsed:.1f} s: {shown!r}")
    assert raised["kind"] == "signalling", raised
    assert "sdp exchange" in shown.lower() and "suggestion" in shown.lower(), shown
    assert elapsed <= WITHIN_S["signalling"]

    # the engine answered, but the browser cannot reach it: ICE never completes
    elapsed, shown, raised = _fail_and_time(nb, 1, "blocked")
    deadline = time.monotonic() + 30
    while (calls := nb.kernel_json("engine.stats().get('calls_calls', 0)")) and time.monotonic() < deadline:
        time.sleep(0.5)
    hole = nb.kernel_json(
        "{'exchanges': hole.exchanges, 'stripped': hole.offers_stripped,"
        " 'redirected': hole.answers_redirected, 'swallowed': hole.swallowed}"
    )
    print(f"ICE failure: message after {elapsed:.1f} s: {shown!r}; {hole}")
    assert hole["stripped"] == 1 and hole["redirected"] == 1, hole  # the exchange itself went through
    assert hole["swallowed"] > 0  # the browser did try to reach the answer's address
    assert raised["kind"] in ("ice_failed", "engine_unreachable", "timeout"), raised
    assert raised["state"] == "failed" and "suggestion" in shown.lower()
    assert elapsed <= WITHIN_S["ice"]
    assert calls == 0  # the engine let go of the call that never connected
