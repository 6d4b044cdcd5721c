"""A `Call` in JupyterLab in headless Chromium, against the kernel's engine over loopback WebRTC.

One call per module (the browser, kernel and engine start once; each test below checks one thing of
the same run): the fake microphone says a question, pauses, and interrupts the answer with a second
sentence. What is checked:

* the call connects (Python and the page's peer connection);
* speech_started / speech_stopped land at the file's speech times: the engine's copy of each user item
  (`conversation.item.retrieve`) is cut by the same energy rule that labelled the file, which places
  the file's speech on the engine's audio clock; the events must be within 100 ms of that speech
  start minus the prefix padding and that speech end plus the silence window;
* the answer plays in the page (the probe's detector on the remote track, and the kernel's copy of
  the page's played audio);
* barge-in: the second sentence yields output_audio_buffer.cleared for the first answer and a
  conversation.item.truncated the client never asked for (WebRTC truncates on the server);
* a TuningPanel slider dragged in the page reaches the engine and comes back as session.updated;
* the kernel's log holds every data-channel event the page saw, both ways (counts per type);
* the standard key (the engine's token here) never appears in the page: DOM, storages, every comm
  message both ways, fetches, the widget's synced state.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from realtime_nb.protocol import ServerVad
from tests.browser.call_page import Probe, SpeechFile, call_browser, page_text
from tests.browser.harness import Lab, NotebookPage, write_notebook

QUESTION = "I would like to order a large pizza with olives"
INTERRUPTION = "Stop right there"  # no comma: one stretch of speech
# The first answer ("You said: ...") starts 1-3 s after the question on a loaded machine and lasts
# longer than the question: the interruption, 3.5 s after the question, falls inside it. The question's
# item (~3.5 s, ~220 kB as base64) must fit one data-channel message (Chromium accepts 256 KiB) for
# conversation.item.retrieve to come back over the call.
PAUSE_MS = 3500
SLACK_MS = 100
_VAD = ServerVad()
pytestmark = pytest.mark.timeout(480)  # one call for the module: engine preload, two turns, the slider
KEY = "sk-" + "callpage" + "0123456789abcdefghijklmnop"  # built from parts: not a literal key

_NOTEBOOK = [
    "from pathlib import Path\n"
    "from realtime_nb.engine import start_engine\n"
    "from realtime_nb.client import Endpoint\n"
    "from realtime_nb.widgets import Call, TuningPanel\n"
    "engine = start_engine(token=Path('call_key.txt').read_text(), preload=True)\n"
    "endpoint = Endpoint.local(engine.url, token=Path('call_key.txt').read_text())",
    "call = Call(endpoint, timeout=30, echo_cancellation=False)\ncall",
    "panel = TuningPanel(call.session, debounce_s=0.2)\npanel",
]

_ANALYSIS = """
import json as _j
import numpy as _np
from realtime_nb.samples import trim_bounds as _trim
_f = call.log.frame()
def _events(t, d='received'):
    return [call.log.event_json(int(s)) for s in _f[(_f.wire_type == t) & (_f.direction == d)].seq]
_items = []
for _stop in _events('input_audio_buffer.speech_stopped')[:2]:
    _iid = _stop['item_id']
    _start = next(e for e in _events('input_audio_buffer.speech_started') if e['item_id'] == _iid)
    _rec = {'item_id': _iid, 'audio_start_ms': _start['audio_start_ms'],
            'audio_end_ms': _stop['audio_end_ms']}
    try:  # the engine's copy of the item: where the file's speech fell on its audio clock
        _item = await call.session.retrieve(_iid, timeout=20)
        _pcm, _rate = _item['audio_pcm'], _item['audio_rate']
        _s, _e = _trim(_pcm, _rate)
        _rec.update(pcm_ms=_pcm.size * 1000 / _rate, speech_in_item_ms=[_s * 1000 / _rate, _e * 1000 / _rate])
    except Exception as _exc:
        _rec['retrieve_error'] = f'{type(_exc).__name__}: {_exc}'
    try:  # the page's tap of what it sent, over the item's span (Call.sent_audio)
        _tap = call.sent_audio(_iid)
        _s, _e = _trim(_tap, 24000)
        _rec.update(tap_ms=_tap.size / 24, speech_in_tap_ms=[_s / 24, _e / 24])
    except Exception as _exc:
        _rec['tap_error'] = f'{type(_exc).__name__}: {_exc}'
    _items.append(_rec)
_played = {}
for _done in _events('response.done'):
    _rid = _done['response']['id']
    try:
        _played[_rid] = float(_np.abs(call.log.response_audio(_rid).astype(float)).max() / 32768)
    except KeyError:
        _played[_rid] = None
print(_j.dumps({
    'items': _items,
    'started': _events('output_audio_buffer.started'),
    'cleared': _events('output_audio_buffer.cleared'),
    'truncated': _events('conversation.item.truncated'),
    'truncate_sent': len(_events('conversation.item.truncate', 'sent')),
    'done': [{'id': e['response']['id'], 'status': e['response']['status'],
              'items': [o.get('id') for o in e['response'].get('output', [])]}
             for e in _events('response.done')],
    'played_peak': _played,
    'speech_started_seq': [int(s) for s in _f[_f.wire_type == 'input_audio_buffer.speech_started'].seq],
    'cleared_seq': [int(s) for s in _f[_f.wire_type == 'output_audio_buffer.cleared'].seq],
    'audible_onsets': len(call.audible_onsets_ns),
    'stats': call.stats(),
}, default=str))
"""

_COUNTS = """
import json as _j
_f = call.log.frame()
_f = _f[~_f.wire_type.astype(str).str.startswith('realtime_nb.')]  # the log's own markers
print(_j.dumps({d: {str(k): int(v) for k, v in _f[_f.direction == d].wire_type.value_counts().items() if v}
                for d in ('sent', 'received')}))
"""



def _drag(nb: NotebookPage, part: str, fraction: float) -> None:
    handle = nb.page.locator(f"{part} .noUi-handle")
    handle.scroll_into_view_if_needed()
    track = nb.page.locator(f"{part} .noUi-target").bounding_box()
    box = handle.bounding_box()
    assert track is not None and box is not None
    nb.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    nb.page.mouse.down()
    nb.page.mouse.move(track["x"] + fraction * track["width"], box["y"] + box["height"] / 2, steps=8)
    nb.page.mouse.up()


def _page_count(nb: NotebookPage, type_: str, direction: str = "received") -> int:
    return nb.js(f"window.__rtnbProbe.dc.filter(m => m.dir === '{direction}' && m.type === '{type_}').length")


def _wait_page(nb: NotebookPage, counts: dict[str, int], timeout_s: float) -> bool:
    """Until the page's data channel has received at least ``counts`` events of each type. Waits on the
    page (the probe), not the kernel: running code in the kernel during a call is what a user does,
    but this test should not depend on it until the data is needed."""
    cond = " && ".join(
        f"window.__rtnbProbe.dc.filter(m => m.dir === 'received' && m.type === '{t}').length >= {n}"
        for t, n in counts.items()
    )
    try:
        nb.wait_js(cond, timeout_s=timeout_s)
        return True
    except PlaywrightTimeout:
        return False


@pytest.fixture(scope="module")
def run(lab: Lab, notebook_dir: Path) -> dict[str, Any]:
    speech = SpeechFile.sentences(
        notebook_dir,
        [QUESTION, INTERRUPTION],
        pauses_ms=PAUSE_MS,
        lead_ms=1500,
        tail_ms=40000,  # the fake device loops the file: no second pass during the test
        name="call_turn",
    )
    (notebook_dir / "call_key.txt").write_text(KEY)
    write_notebook(notebook_dir / "call_turn.ipynb", _NOTEBOOK)
    out: dict[str, Any] = {"speech": speech}
    try:
        with call_browser(speech.path) as browser:
            nb = NotebookPage(browser.new_page(), lab, "call_turn.ipynb", timeout_s=240)
            start = nb.run_until_shown(".rtnb-call .rtnb-start", ".rtnb-panel-threshold .noUi-handle")
            t0 = time.monotonic()
            start.click()
            out["connected"] = _wait_page(nb, {"session.created": 1}, 60)
            out["connect_s"] = time.monotonic() - t0
            # question, answer, interruption (barge-in), the interruption's answer played out
            out["turns_done"] = _wait_page(
                nb,
                {
                    "input_audio_buffer.speech_stopped": 2,
                    "output_audio_buffer.cleared": 1,
                    "conversation.item.truncated": 1,
                    "output_audio_buffer.stopped": 1,
                },
                120,
            )
            out["state"] = nb.kernel_json("call.state")
            out["analysis"] = json.loads(nb.execute(_ANALYSIS))

            # The slider: the threshold handle to 80 % of its track, as a user drags it.
            before = _page_count(nb, "session.updated")
            _drag(nb, ".rtnb-panel-threshold", 0.8)
            _wait_page(nb, {"session.updated": before + 1}, 30)
            out["updated"] = nb.kernel_json(
                "[call.log.event_json(int(s))['session']['audio']['input']['turn_detection']['threshold'] "
                "for s in call.log.frame().query('wire_type == \"session.updated\"').seq]"
                f"[{before}:]"
            )
            out["panel"] = nb.kernel_json(
                "{'value': panel.values.threshold, 'message': panel.message, 'sent': panel.updates_sent,"
                " 'disconnected': panel.disconnected, 'refusals': panel.refusals}"
            )

            out["text_during"] = page_text(nb)
            out["synced"] = nb.kernel_json("{k: str(v) for k, v in call.widget.get_state().items()}")
            nb.execute("await call.hangup()")
            out["calls_after"] = nb.wait_kernel("int(engine.stats().get('calls_calls', 0) == 0)", 20)
            time.sleep(1.0)  # the page's last forwarded messages
            out["probe"] = Probe.read(nb)
            out["counts"] = json.loads(nb.execute(_COUNTS))
            out["text_after"] = page_text(nb)
            out["log_len"] = nb.kernel_json("len(call.log)")
            out["console"] = list(nb.console)
            nb.execute("engine.stop()")
    finally:
        lab.shutdown_kernels()
    return out


def test_the_call_connects(run: dict[str, Any]) -> None:
    assert run["connected"] and run["state"] == "connected", run.get("console")
    pcs = run["probe"].pcs
    assert len(pcs) == 1, pcs
    assert any(s["connection"] == "connected" for s in pcs[0]["states"]), pcs
    print(f"connected {run['connect_s']:.1f} s after the click")


def test_speech_events_land_at_the_files_speech_times(run: dict[str, Any]) -> None:
    speech: SpeechFile = run["speech"]
    items = run["analysis"]["items"]
    assert len(items) == 2, items
    for item, (f_start, f_end) in zip(items, speech.speech_ms, strict=True):
        if "tap_error" not in item:
            tap_start, tap_end = item["speech_in_tap_ms"]
            print(
                f"{item['item_id']} by the page's tap: speech_started "
                f"{tap_start - _VAD.prefix_padding_ms:+.0f} ms, speech_stopped "
                f"{item['tap_ms'] - tap_end - _VAD.silence_duration_ms:+.0f} ms"
            )
        assert "retrieve_error" not in item, item
        # The item's audio ends at audio_end_ms; the speech inside it is where the file's speech fell
        # on the engine's audio clock.
        item_start = item["audio_end_ms"] - item["pcm_ms"]
        s_in, e_in = item["speech_in_item_ms"]
        speech_start, speech_end = item_start + s_in, item_start + e_in
        off_start = item["audio_start_ms"] - speech_start + _VAD.prefix_padding_ms
        off_end = item["audio_end_ms"] - speech_end - _VAD.silence_duration_ms
        print(
            f"{item['item_id']} by the engine's copy: speech_started {off_start:+.0f} ms, "
            f"speech_stopped {off_end:+.0f} ms"
        )
        assert e_in - s_in == pytest.approx(f_end - f_start, abs=60), (item, f_start, f_end)
        assert abs(off_start) <= SLACK_MS, item
        assert abs(off_end) <= SLACK_MS, item


def test_the_answer_plays_in_the_page(run: dict[str, Any]) -> None:
    probe: Probe = run["probe"]
    spans = probe.speech()
    assert spans, "the probe saw no speech on the microphone"
    q_end = spans[0][1]
    onsets = [t for t in probe.onsets("rtc") if q_end < t < q_end + 8000]
    assert onsets, probe.out
    a = run["analysis"]
    first = a["done"][0]["id"]
    assert a["played_peak"][first] and a["played_peak"][first] > 0.01  # the kernel's copy of it, audible
    assert a["audible_onsets"] >= 1


def test_barge_in_clears_the_output_buffer_and_truncates_on_the_server(run: dict[str, Any]) -> None:
    a = run["analysis"]
    assert run["turns_done"], a
    first = a["started"][0]["response_id"]
    assert [c["response_id"] for c in a["cleared"]][:1] == [first]
    answer_items = next(d["items"] for d in a["done"] if d["id"] == first)
    truncated = a["truncated"][0]
    assert truncated["item_id"] in answer_items
    assert truncated["audio_end_ms"] > 0
    assert a["truncate_sent"] == 0  # nobody asked: the server truncated at what it had played
    assert a["cleared_seq"][0] > a["speech_started_seq"][1]  # after the interruption began
    page = run["probe"].dc_counts("received")
    assert page.get("output_audio_buffer.cleared", 0) >= 1 and page.get("conversation.item.truncated", 0) >= 1


def test_a_tuning_panel_slider_reaches_the_engine(run: dict[str, Any]) -> None:
    updated = run["updated"]
    assert updated, ("no session.updated after the drag", run["panel"])
    assert updated[-1] == pytest.approx(0.8, abs=0.06)
    assert run["panel"]["value"] == updated[-1] and run["panel"]["message"] == ""
    assert run["probe"].dc_counts("sent").get("session.update", 0) >= 1  # it went down the data channel


def test_the_kernels_log_holds_every_event_the_page_saw(run: dict[str, Any]) -> None:
    probe: Probe = run["probe"]
    counts = run["counts"]
    page_received, page_sent = probe.dc_counts("received"), probe.dc_counts("sent")
    assert sum(page_received.values()) > 20
    assert counts["received"] == page_received
    assert counts["sent"] == page_sent


def test_the_standard_key_never_reaches_the_page(run: dict[str, Any]) -> None:
    for name in ("text_during", "text_after"):
        text = run[name]
        assert "a=fingerprint" in text  # the probe's copy of the traffic holds the SDP the comm carried
        assert KEY not in text and KEY[-16:] not in text, name
    assert KEY not in str(run["synced"]) and KEY[-16:] not in str(run["synced"])
