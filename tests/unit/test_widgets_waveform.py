"""WaveformCompare: raw (sent) vs processed (retrieved) audio of a user item, against the real engine.

The engine runs server_vad on a noisy named sample whose speech boundaries are known. With noise
reduction off the retrieved audio must be the sent audio, sample for sample, starting at the item's
audio_start_ms; with far_field it must stay aligned while its non-speech level drops. Bad input is
checked on hand-built logs (fast and exact).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from realtime_nb.audio import pcm_to_b64
from realtime_nb.protocol import Dialect, ServerVad
from realtime_nb.timeline import EventLog
from realtime_nb.widgets import ItemError, WaveformCompare
from realtime_nb.widgets.waveform import alignment, compare, read_item

samples = pytest.importorskip("realtime_nb.samples")
RATE = 24000
FIRST_TURN_S = 5.5  # the first sentence of noisy_10db and the start of the pause after it
VAD = ServerVad(create_response=False)


# ------------------------------------------------------------------------------- engine runs
async def _run_turn(url: str, noise_reduction: str | None, audio: np.ndarray) -> tuple[Any, str]:
    from realtime_nb.client import Endpoint, RealtimeSession

    async with RealtimeSession(Endpoint.local(url), timeout=120) as session:
        await session.update_session(turn_detection=VAD, noise_reduction=noise_reduction)
        for i in range(0, len(audio), RATE // 10):  # 100 ms appends, as fast as the engine takes them
            await session.append_audio(audio[i : i + RATE // 10], RATE)
        committed = await session.wait_for("input_audio_buffer.committed", timeout=120)
        await session.retrieve(committed["item_id"])
        return session.log, committed["item_id"]


@pytest.fixture(scope="module")
def noisy() -> Any:
    return samples.load("noisy_10db")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from realtime_nb import start_engine

    with start_engine() as running:
        yield running


@pytest.fixture(scope="module")
def runs(engine: Any, noisy: Any) -> dict[str | None, tuple[EventLog, str]]:
    """One server_vad turn per noise-reduction setting: {setting: (log, user item id)}."""
    audio = noisy.audio[: int(FIRST_TURN_S * RATE)]

    async def both() -> dict[str | None, tuple[EventLog, str]]:
        return {nr: await _run_turn(engine.url, nr, audio) for nr in (None, "far_field")}

    return asyncio.run(both())


def test_processed_audio_aligns_with_the_sent_audio_on_the_audio_clock(runs: dict, noisy: Any) -> None:
    log, item_id = runs[None]
    c = WaveformCompare.from_log(log, item_id).comparison
    item = c.item
    started = item.marks["speech_started"]
    assert item.start_ms == started  # the item begins at audio_start_ms, prefix padding included
    speech_start_ms = noisy.segments[0].ms()[0]
    assert started == pytest.approx(speech_start_ms - VAD.prefix_padding_ms, abs=100)
    assert item.speech_ms == (
        started + VAD.prefix_padding_ms,
        item.marks["speech_stopped"] - VAD.silence_duration_ms,
    )
    # Against the file itself (its timeline is the audio clock: appends started at its sample 0).
    first = round(started * RATE / 1000)
    truth = noisy.audio[first : first + len(item.processed)]
    lag_ms, corr = alignment(truth, item.processed, RATE)
    assert lag_ms == 0.0 and corr > 0.99
    assert abs(len(item.processed) - len(item.raw)) <= RATE * 0.04
    assert c.lag_ms == 0.0 and c.correlation > 0.99
    change = c.levels["change"]
    assert all(abs(change[k]) < 0.5 for k in ("noise_floor_db", "speech_db", "non_speech_db"))


def test_far_field_keeps_alignment_and_lowers_the_noise(runs: dict, noisy: Any) -> None:
    off = WaveformCompare.from_log(*runs[None]).comparison
    far = WaveformCompare.from_log(*runs["far_field"]).comparison
    assert abs(far.lag_ms) <= 2.0 and far.correlation > 0.7  # denoised, still the same speech in place
    first = round(far.item.start_ms * RATE / 1000)
    truth = noisy.audio[first : first + len(far.item.processed)]
    assert abs(alignment(truth, far.item.processed, RATE)[0]) <= 2.0
    # Expected direction: far_field pulls the noise floor and the non-speech level far down, speech much less.
    assert far.levels["change"]["non_speech_db"] < off.levels["change"]["non_speech_db"] - 20
    assert far.levels["change"]["noise_floor_db"] < off.levels["change"]["noise_floor_db"] - 20
    assert far.levels["change"]["speech_db"] > -6.0
    assert far.levels["change"]["speech_to_noise_db"] > off.levels["change"]["speech_to_noise_db"] + 20
    table = WaveformCompare.from_log(*runs["far_field"]).table()
    assert list(table.columns) == ["sent (raw)", "retrieved (processed)", "change"]
    assert table.loc["non-speech RMS", "change"] == pytest.approx(far.levels["change"]["non_speech_db"])


def test_widget_renders_waveforms_spectrograms_players_and_table(runs: dict) -> None:
    ipywidgets = pytest.importorskip("ipywidgets")
    wc = WaveformCompare.from_log(*runs["far_field"])
    fig = wc.figure()
    assert [ax.get_ylabel() for ax in fig.axes] == ["raw (sent)", "processed (retrieved)"]
    marks = {ln.get_xdata()[0] for ln in fig.axes[1].get_lines()}
    assert {wc.item.marks["speech_started"], wc.item.marks["speech_stopped"]} <= marks
    lo, hi = fig.axes[0].get_xlim()
    assert lo <= wc.item.start_ms and hi >= wc.item.start_ms + len(wc.item.raw) * 1000 / RATE
    spec = WaveformCompare.from_log(*runs["far_field"], spectrogram=True)
    assert len(spec.figure().axes) == 4 and spec.figure().axes[3].get_images()
    assert wc.png().startswith(b"\x89PNG")
    image, players, table = wc.widget.children
    assert isinstance(image, ipywidgets.Image) and bytes(image.value) == wc.png()
    audios = [box.children[1] for box in players.children]
    assert all(isinstance(a, ipywidgets.Audio) and bytes(a.value[:4]) == b"RIFF" for a in audios)
    assert "noise floor" in table.value and "retrieved (processed)" in table.value
    assert "application/vnd.jupyter.widget-view+json" in wc._repr_mimebundle_()


async def test_session_constructor_retrieves_only_when_the_log_lacks_the_audio(
    engine: Any, noisy: Any
) -> None:
    from realtime_nb.client import Endpoint, RealtimeSession

    async with RealtimeSession(Endpoint.local(engine.url), timeout=120) as session:
        await session.update_session(turn_detection=VAD)
        await session.append_audio(noisy.audio[: int(FIRST_TURN_S * RATE)], RATE)
        item_id = (await session.wait_for("input_audio_buffer.committed", timeout=120))["item_id"]
        pending = WaveformCompare(session, item_id)  # a notebook cell: displays, fills in later
        assert not pending.ready and "retrieving" in pending.widget.children[0].value
        assert await pending is pending and pending.ready
        assert isinstance(pending.widget.children[0], __import__("ipywidgets").Image)
        again = await WaveformCompare.create(session, item_id)
        retrieves = session.log.frame()["type"].eq("conversation.item.retrieve").sum()
        assert again.ready and retrieves == 1  # the log already held the retrieved audio
        with pytest.raises(ItemError, match="is not in this log"):
            await WaveformCompare.create(session, "item_nope")


# ------------------------------------------------------------------------------- hand-built logs
def _log(events: list[tuple[str, dict]]) -> EventLog:
    log = EventLog()
    for direction, event in events:
        log.record(direction, event, Dialect.GA)
    return log


def _user_turn(item_id: str = "item_u", *, retrieved: np.ndarray | None = None, seconds: float = 2.0) -> list:
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * RATE)) / RATE)).astype(np.int16)
    item = {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}
    ids = {"item_id": item_id}
    events = [
        ("sent", {"type": "input_audio_buffer.append", "audio": pcm_to_b64(tone, "pcm16")}),
        ("received", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 200, **ids}),
        ("received", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 1800, **ids}),
        ("received", {"type": "input_audio_buffer.committed", "previous_item_id": None, **ids}),
        ("received", {"type": "conversation.item.added", "item": item, "previous_item_id": None}),
    ]  # fmt: skip
    if retrieved is not None:
        got = {**item, "content": [{"type": "input_audio", "audio": pcm_to_b64(retrieved, "pcm16")}]}
        events.append(("received", {"type": "conversation.item.retrieved", "item": got}))
    return events


def test_a_hand_built_turn_is_read_with_default_server_vad_settings() -> None:
    kept = np.zeros(int(1.6 * RATE), np.int16)
    item = read_item(_log(_user_turn(retrieved=kept)), "item_u")
    assert item.start_ms == 200 and item.marks == {"speech_started": 200.0, "speech_stopped": 1800.0}
    assert item.speech_ms == (500.0, 1300.0) and len(item.raw) == round(1.6 * RATE)
    c = compare(item)
    assert c.levels["change"]["speech_db"] < -100  # all removed: the comparison says so


def _added(item_id: str, kind: str = "message", **fields: Any) -> list:
    item = {"id": item_id, "type": kind, **fields}
    return [("received", {"type": "conversation.item.added", "previous_item_id": None, "item": item})]


_DELTA = {"type": "response.output_audio.delta", "response_id": "resp_1", "item_id": "item_o",
          "output_index": 0, "content_index": 0, "delta": pcm_to_b64(np.ones(480, np.int16), "pcm16"),
          }  # fmt: skip
_KEPT = np.ones(RATE, np.int16)
BAD_ITEMS = {
    "unknown": (_user_turn(retrieved=_KEPT), "item_nope", "'item_nope' is not in this log"),
    "not-an-id": (_user_turn(retrieved=_KEPT), "", "is not an item id"),
    "assistant": (_added("item_a", role="assistant", content=[{"type": "output_audio"}]), "item_a",
                  "'item_a' is an assistant message"),
    "output-audio": ([("received", _DELTA)], "item_o", "'item_o' is an output item of a response"),
    "text-only": (_added("item_t", role="user", content=[{"type": "input_text", "text": "hi"}]), "item_t",
                  r"'item_t' has no audio: its content is \['input_text'\]"),
    "function-output": (_added("item_f", "function_call_output", call_id="c", output="{}"), "item_f",
                        "'item_f' is a function_call_output item"),
    "not-retrieved": (_user_turn(), "item_u", "'item_u' was never retrieved"),
    "empty-retrieval": (_user_turn(retrieved=np.zeros(0, np.int16)), "item_u",
                        "'item_u' came back .* no audio"),
}  # fmt: skip


@pytest.mark.parametrize(("events", "item_id", "problem"), BAD_ITEMS.values(), ids=BAD_ITEMS.keys())
def test_bad_items_name_the_item_and_the_problem(events: list, item_id: str, problem: str) -> None:
    with pytest.raises(ItemError, match=problem) as caught:
        WaveformCompare.from_log(_log(events), item_id)
    assert caught.value.item_id == item_id


def test_from_log_wants_a_log() -> None:
    with pytest.raises(TypeError, match="EventLog"):
        WaveformCompare.from_log(object(), "item_u")


def test_speech_span_follows_the_reported_settings_and_can_be_given() -> None:
    vad = {"type": "server_vad", "prefix_padding_ms": 100, "silence_duration_ms": 200}
    session = {"type": "realtime", "audio": {"input": {"turn_detection": vad}}}
    events = [("received", {"type": "session.updated", "session": session}), *_user_turn(retrieved=_KEPT)]
    assert read_item(_log(events), "item_u").speech_ms == (300.0, 1600.0)
    semantic = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    events[0] = ("received", {"type": "session.updated", "session": semantic})
    assert read_item(_log(events), "item_u").speech_ms is None  # no silence window to take off
    assert read_item(_log(events), "item_u", speech_ms=(400.0, 900.0)).speech_ms == (400.0, 900.0)


def test_alignment_finds_a_known_lag() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 3000, 2 * RATE).astype(np.int16)
    late = np.concatenate([np.zeros(240, np.int16), x[:-240]])  # 10 ms late
    lag_ms, corr = alignment(x, late, RATE)
    assert lag_ms == pytest.approx(10.0) and corr > 0.99
    assert alignment(x, -x, RATE)[1] < 0.1  # inverted: no positive match anywhere
    assert np.isnan(alignment(np.zeros(RATE, np.int16), x, RATE)[0])


def test_a_saved_session_compares_the_same(runs: dict, tmp_path: Any) -> None:
    log, item_id = runs["far_field"]
    loaded = EventLog.load(log.save(tmp_path / "session.zip"))
    live, saved = WaveformCompare.from_log(log, item_id), WaveformCompare.from_log(loaded, item_id)
    np.testing.assert_array_equal(saved.item.processed, live.item.processed)
    np.testing.assert_array_equal(saved.item.raw, live.item.raw)
    assert saved.item.marks == live.item.marks and saved.item.speech_ms == live.item.speech_ms
    assert saved.comparison.levels == live.comparison.levels


def test_the_recorded_sessions_keep_the_order_invariants(runs: dict) -> None:
    """What a RealtimeSession recorded over the socket passes the protocol's order check, as a
    recording of a cloud session would be checked."""
    for setting, (log, _) in runs.items():
        assert log.check_order() == []
        assert log.session_config().noise_reduction == setting  # what the engine confirmed
