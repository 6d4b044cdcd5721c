"""TuningPanel and LiveTimeline in JupyterLab in headless Chromium, on a session to the embedded engine.

A slider dragged with the mouse must reach the engine as one session.update and come back as
session.updated; the timeline must draw the session's events in the page and show an event's JSON
when it is clicked; stopping the engine must grey both out with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.harness import Lab, NotebookPage, chromium, write_notebook

_NOTEBOOK = [
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint, RealtimeSession\n"
    "from realtime_nb.widgets import LiveTimeline, TuningPanel\n"
    "engine = start_engine()\n"
    "session = RealtimeSession(Endpoint.local(engine.url), timeout=120)\n"
    "await session.connect()\n"
    "answers = []\n"
    "_ = session.on('session.updated',\n"
    "               lambda e: answers.append(e['session']['audio']['input']['turn_detection']))",
    "panel = TuningPanel(session, debounce_s=0.2)\npanel",
    "timeline = LiveTimeline(session, max_hz=10)\ntimeline",
    "from realtime_nb.widgets import Mic, Player\nmic, player = Mic(session), Player(session)\n"
    "display(mic, player)",
]


def _sent_updates(nb: NotebookPage) -> list[dict]:
    return nb.kernel_json(
        "[session.log.event_json(int(s)) for s in "
        "session.log.frame().query('type == \"session.update\"')['seq']]"
    )



def test_dragging_a_slider_updates_the_session_and_the_timeline_draws_it(
    fresh_lab: Lab, notebook_dir: Path
) -> None:
    write_notebook(notebook_dir / "panel.ipynb", _NOTEBOOK)
    with chromium() as browser:
        nb = NotebookPage(browser.new_page(), fresh_lab, "panel.ipynb", timeout_s=240)
        handle = nb.run_until_shown(".rtnb-panel-threshold .noUi-handle", ".rtnb-timeline canvas")
        nb.wait_js("window.__rtnb.timelines[0].rows >= 1")  # session.created, from the history
        assert _sent_updates(nb) == []

        # Drag the threshold handle to 80 % of the track, as a user would.
        track = nb.page.locator(".rtnb-panel-threshold .noUi-target").bounding_box()
        box = handle.bounding_box()
        assert track is not None and box is not None
        nb.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        nb.page.mouse.down()
        nb.page.mouse.move(track["x"] + 0.8 * track["width"], box["y"] + box["height"] / 2, steps=8)
        nb.page.mouse.up()

        answers = nb.wait_kernel("answers")
        assert answers, "no session.updated after the drag"
        shown = float(nb.page.locator(".rtnb-panel-threshold .widget-readout").inner_text())
        kernel = nb.kernel_json(
            "{'effective': session.config.turn_detection.threshold, 'value': panel.values.threshold,"
            " 'message': panel.message, 'sent': panel.updates_sent}"
        )
        updates = _sent_updates(nb)

        # The timeline draws the update and its answer; a click on the answer shows its JSON.
        nb.wait_js("window.__rtnb.timelines[0].rows >= 3 && window.__rtnb.timelines[0].draws > 0")
        page_tl = nb.js("{...window.__rtnb.timelines[0]}")
        seq = nb.kernel_json("int(session.log.frame().query('type == \"session.updated\"')['seq'].iloc[-1])")
        nb.page.locator(".rtnb-timeline canvas").scroll_into_view_if_needed()
        point = nb.js(f"window.__rtnb.timelines[0].pointOf({seq})")
        nb.page.mouse.click(point["x"], point["y"])
        nb.page.locator(".rtnb-tl-json").filter(has_text='"session.updated"').wait_for(timeout=20_000)
        json_text = nb.page.locator(".rtnb-tl-json").inner_text()
        count_text = nb.page.locator(".rtnb-tl-count").inner_text()
        selected = nb.kernel_json("timeline.selected")

        # The engine goes away: the page greys out with the reason; the drawing stays.
        nb.execute("engine.stop()")
        nb.wait_js("window.__rtnb.timelines[0].disconnected !== ''")
        nb.page.get_by_text("The controls are disabled").wait_for(timeout=20_000)
        slider_disabled = nb.page.locator(".rtnb-panel-threshold .noUi-target").get_attribute("disabled")
        # a Mic and a Player shown on their own grey out too, each saying why
        for part in (".rtnb-mic", ".rtnb-player"):
            greyed = nb.page.locator(f"{part}.rtnb-disconnected")
            greyed.get_by_text("session closed").wait_for(timeout=20_000)
        audio_buttons = nb.js(
            "[...document.querySelectorAll('.rtnb-mic button, .rtnb-player button')].map(b => b.disabled)"
        )
        offline = nb.js("{...window.__rtnb.timelines[0]}")

    threshold = answers[-1]["threshold"]
    assert threshold == pytest.approx(0.8, abs=0.06)  # where the handle was dropped
    assert len(updates) == 1  # the drag became one update ...
    td = updates[0]["session"]["audio"]["input"]["turn_detection"]
    assert td["threshold"] == threshold and td["silence_duration_ms"] == 500  # ... with the whole object
    assert kernel == {"effective": threshold, "value": threshold, "message": "", "sent": 1}
    assert shown == pytest.approx(threshold, abs=0.005)  # the page shows the server's value
    assert page_tl["rows"] >= 3 and page_tl["disconnected"] == ""
    assert selected == seq and '"threshold"' in json_text
    assert count_text.endswith("events")
    assert "code 1001" in offline["disconnected"] and offline["rows"] > page_tl["rows"]  # + the close
    assert slider_disabled is not None
    assert audio_buttons and all(audio_buttons)
