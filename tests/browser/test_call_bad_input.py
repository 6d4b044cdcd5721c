"""Bad input a browser can produce during a `Call`: a closed tab, the widget displayed twice, a second
call on the same widget. Each is reported in the widget and in Python, the engine's call count comes
back down (no orphan peer connection) and the recorded log stays.

The fake microphone plays silence: nothing here needs speech, so no model is loaded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.call_page import Probe, call_browser
from tests.browser.harness import Lab, NotebookPage, write_notebook

pytestmark = pytest.mark.timeout(360)

_SETUP = (
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint\n"
    "from realtime_nb.widgets import Call\n"
    "from realtime_nb.widgets.call import CallStateError\n"
    "engine = start_engine(preload=False)\n"
    "def calls():\n"
    "    return engine.stats().get('calls_calls', 0)"
)



def _connected_call(browser: Any, lab: Lab, notebook_dir: Path, name: str) -> tuple[NotebookPage, Any]:
    """A notebook that displays one Call to the engine, its Call button clicked: the page and the
    kernel's [state, engine calls, log length] once connected."""
    write_notebook(notebook_dir / name, [_SETUP, "call = Call(Endpoint.local(engine.url), timeout=30)\ncall"])
    nb = NotebookPage(browser.new_page(), lab, name, timeout_s=240)
    nb.run_until_shown(".rtnb-call .rtnb-start").click()
    nb.wait_js("window.__rtnbProbe.dc.some(m => m.type === 'session.created')", timeout_s=60)
    connected = "[call.state, calls(), len(call.log)] if call.state == 'connected' else None"
    return nb, nb.wait_kernel(connected, 30)


def test_a_closed_tab_is_reported_and_the_engine_lets_go(
    fresh_lab: Lab, notebook_dir: Path, silence: Path
) -> None:
    with call_browser(silence) as browser:
        nb, before = _connected_call(browser, fresh_lab, notebook_dir, "closed_tab.ipynb")
        t0 = time.monotonic()
        nb.page.close(run_before_unload=True)
        # The same notebook in a new tab: the same kernel (its session is found by path), no widget.
        again = NotebookPage(browser.new_page(), fresh_lab, "closed_tab.ipynb", timeout_s=240)
        after = again.wait_kernel(
            "[call.state, call.error, calls(), len(call.log)] if calls() == 0 "
            "and call.state != 'connected' else None",
            40,
        )
        elapsed = time.monotonic() - t0
        raised = again.execute(
            "try:\n    call.raise_for_failure()\n    print('none')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)"
        )
        again.execute("engine.stop()")
    print(f"closed tab: reported after {elapsed:.1f} s: {after}; Python: {raised.strip()}")
    assert before and before[0] == "connected" and before[1] == 1, before
    assert after, "the kernel never noticed the closed tab, or the engine kept the call"
    state, error, calls, log_len = after
    assert state in ("failed", "closed") and calls == 0
    assert state == "closed" or "page" in error.lower()
    assert log_len >= before[2]  # the log stays
    assert elapsed <= 30


def test_the_widget_displayed_twice_places_one_call_and_a_second_call_is_refused(
    fresh_lab: Lab, notebook_dir: Path, silence: Path
) -> None:
    write_notebook(
        notebook_dir / "twice.ipynb",
        [_SETUP, "call = Call(Endpoint.local(engine.url), timeout=30)\ncall", "call"],
    )
    with call_browser(silence) as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "twice.ipynb", timeout_s=240)
        nb.run_all()
        views = nb.page.locator(".rtnb-call")
        views.nth(1).locator(".rtnb-start").wait_for(timeout=240_000)
        nb.wait_idle()
        views.nth(0).locator(".rtnb-start").click()
        nb.wait_js("window.__rtnbProbe.dc.some(m => m.type === 'session.created')", timeout_s=60)
        first = nb.wait_kernel("[call.state, calls()] if call.state == 'connected' else None", 30)

        # The second view while the first view's call runs: its Call button is disabled (it cannot
        # place a second call), and the call is unharmed.
        second_view_disabled = views.nth(1).locator(".rtnb-start").is_disabled()
        shown = views.nth(1).inner_text()
        during = nb.kernel_json("[call.state, calls()]")

        # A second call from Python on the same widget: refused, nothing new on the engine.
        second = nb.execute(
            "try:\n    call.start()\n    print('started')\n"
            "except CallStateError as exc:\n    print('refused:', exc)"
        )
        still = nb.kernel_json("[call.state, calls()]")

        # Hang up, then call again on the same widget: a new call, the same log.
        n_log = nb.kernel_json("len(call.log)")
        nb.execute("await call.hangup()")
        down = nb.wait_kernel("calls() == 0", 20)
        redialled = nb.execute(
            "try:\n    call.start()\n    await call.connected(timeout=60)\n    print('ok')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)"
        ).strip()
        redial = nb.kernel_json(
            "[call.state, calls(), len(call.log), "
            "int((call.log.frame().wire_type == 'session.created').sum())]"
        )
        nb.execute("await call.hangup()")
        final = nb.wait_kernel("calls() == 0", 20)
        probe = Probe.read(nb)
        nb.execute("engine.stop()")

    assert first == ["connected", 1]
    assert second_view_disabled, shown
    assert during == ["connected", 1], during
    assert second.startswith("refused:"), second
    assert still == ["connected", 1]
    assert down and final
    assert redialled == "ok", redialled  # a redial right after hangup (its close still under way)
    assert redial[0] == "connected" and redial[1] == 1
    assert redial[2] > n_log and redial[3] == 2  # one log holds both calls
    # the page never held two peer connections at once: the second view placed none
    assert len(probe.pcs) == 2 and probe.pcs[0]["closed"] is not None, probe.pcs


def test_a_kernel_restart_mid_call_closes_the_page_side(
    fresh_lab: Lab, notebook_dir: Path, silence: Path
) -> None:
    """The kernel holds the key, the record and (here) the engine: when it restarts, the engine goes
    with it, and the page must not keep its microphone and peer connection open: no ping from the
    kernel while the peer connection is down closes the call within seconds (or JupyterLab disposes
    the view first, whose cleanup does the same). The kernel's own record goes with the kernel:
    `call.log.save()` keeps it (docs/call.md says so)."""
    with call_browser(silence) as browser:
        nb, before = _connected_call(browser, fresh_lab, notebook_dir, "restart.ipynb")
        sessions = fresh_lab.api("/api/sessions")
        kernel = next(s["kernel"]["id"] for s in sessions if s["path"].endswith("restart.ipynb"))
        t0 = time.monotonic()
        fresh_lab.api(f"/api/kernels/{kernel}/restart", method="POST")
        nb.wait_js(
            "(() => { const pcs = window.__rtnbProbe.pcs; return pcs.length > 0 && "
            "pcs[pcs.length - 1].closed != null; })()",
            timeout_s=30,
        )
        elapsed = time.monotonic() - t0
    print(f"kernel restart: the page closed its peer connection {elapsed:.1f} s after the restart")
    assert before and before[:2] == ["connected", 1], before
    assert elapsed <= 15
