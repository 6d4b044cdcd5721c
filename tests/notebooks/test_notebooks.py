"""Every notebook in notebooks/ runs top to bottom in a real kernel, on the embedded engine, keyless.

Notebooks are found by glob, so a new notebook is tested as soon as it exists. Each runs in the
venv's ``python3`` kernel with every cloud key removed from the kernel's environment and
``REALTIME_NB_SESSIONS`` pointing at a temp dir. Any cell error fails the test. Notebooks with a
checker below then have their behaviour checked from the saved sessions and the cell outputs.

A notebook may raise its own limit with ``"realtime_nb": {"test_timeout_s": N}`` in its metadata.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from realtime_nb.timeline import EventLog

pytestmark = pytest.mark.notebook

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.rglob("*.ipynb"))  # notebooks/workshop/ too
KERNEL = "python3"
DEFAULT_TIMEOUT_S = 180  # per notebook: a cold kernel loads the engine's models on 2 cores
_CLOUD_VARS = re.compile(r"^(OPENAI_API_KEY|OPENAI_BASE_URL|AZURE_.*)$")
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_-]{16,}")


def _timeout(path: Path) -> int:
    meta = nbformat.read(path, as_version=4).metadata.get("realtime_nb", {})
    return int(meta.get("test_timeout_s", DEFAULT_TIMEOUT_S))


def _keyless_env(sessions: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not _CLOUD_VARS.match(name)}
    env["REALTIME_NB_SESSIONS"] = str(sessions)
    return env


def execute(nb: nbformat.NotebookNode, sessions: Path, timeout: int, cwd: Path = NOTEBOOK_DIR) -> float:
    """Run `nb` in place (cell errors raise CellExecutionError); returns the seconds it took."""
    started = time.perf_counter()
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        startup_timeout=60,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=_keyless_env(sessions))
    return time.perf_counter() - started


def output_text(nb: nbformat.NotebookNode) -> str:
    """All printed and plain-text outputs of the executed notebook."""
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.append(str(out.data.get("text/plain", "")))
    return "\n".join(parts)


def test_kernel_is_the_venvs_python(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    execute(nb, tmp_path, 60)
    assert Path(nb.cells[0].outputs[0].text.strip()).resolve() == Path(sys.prefix).resolve()


# ---- behaviour of known notebooks ------------------------------------------------------------------


def _check_start_here(out: str, sessions: Path) -> None:
    assert "Using the embedded engine" in out
    assert "the page calls the embedded engine directly" in out  # "now talk to it": a Call, displayed
    log = EventLog.load(sessions / "00_start_here.rtlog")
    [turn] = log.turns().itertuples()
    assert turn.kind == "vad" and turn.response_status == "completed"
    assert math.isfinite(turn.stop_to_first_audio_ms) and turn.stop_to_first_audio_ms >= 0
    assert turn.speech_end_to_first_audio_ms > turn.stop_to_first_audio_ms  # includes the silence
    responses = log.responses()
    assert list(responses["status"]) == ["completed", "completed"]
    assert list(responses["initiator"]) == ["server", "client"]  # VAD's answer, then the text's
    assert (responses["audio_s"] > 0.5).all()


def _check_event_protocol(out: str, sessions: Path) -> None:
    from realtime_nb import samples

    assert "wire_type(GA) == preview name: True" in out
    assert "canonical_type(preview) == GA name: True" in out
    true_start, true_end = samples.load("single").segments[0].ms()
    wire: dict[str, set[str]] = {}
    for dialect in ("ga", "preview"):
        log = EventLog.load(sessions / f"01_event_protocol_{dialect}.rtlog")
        turn = log.turns().iloc[0]
        # the audio clock includes the prefix padding (300 ms) and the silence window (500 ms)
        assert true_start - 300 - 100 <= turn.audio_start_ms < true_start
        assert true_end + 500 <= turn.audio_end_ms <= true_end + 500 + 200
        assert isinstance(turn.transcript, str) and "pizza" in turn.transcript.lower()
        frame = log.frame()
        wire[dialect] = set(frame.loc[frame["direction"] == "received", "wire_type"].astype(str))
    assert {"response.output_audio.delta", "conversation.item.done"} <= wire["ga"]
    assert {"response.audio.delta", "conversation.item.created", "conversation.created"} <= wire["preview"]
    assert not wire["preview"] & {"response.output_audio.delta", "conversation.item.done"}


def _check_vad_tuning(out: str, sessions: Path) -> None:
    ends = {}
    for name in ("eager", "default", "patient"):
        turns = EventLog.load(sessions / f"02_vad_tuning_{name}.rtlog").turns()
        ends[name] = list(turns["audio_end_ms"])
    assert len(ends["eager"]) > len(ends["default"]) == len(ends["patient"]) == 3  # 200 ms cuts in
    for default, patient in zip(ends["default"], ends["patient"], strict=True):
        assert 400 <= patient - default <= 600  # 1000 ms of silence instead of 500 ms
    assert "Dashboard(" in out  # the live section displayed its widgets


def _check_noise_reduction(out: str, sessions: Path) -> None:
    off, near, far = (float(x) for x in re.findall(r"^\s*change\s+(-?\d+\.\d)", out, re.M)[:3])
    assert off == 0.0 and far < near < -3.0  # noise floor change: none, some, most


def _check_eagerness(out: str, sessions: Path) -> None:
    # summary rows: true turns, turns found, cut-ins
    assert re.search(r"^server_vad 500 ms\s+1\s+2\s+1\b", out, re.M), "server_vad should cut in"
    assert re.search(r"^semantic low\s+1\s+1\s+0\b", out, re.M), "low eagerness should wait"


def _check_interruptions(out: str, sessions: Path) -> None:
    assert "'reason': 'turn_detected'" in out and "'reason': 'client_cancelled'" in out
    frame = EventLog.load(sessions / "05_interruptions.rtlog").frame()
    [truncated] = frame.loc[frame["type"] == "conversation.item.truncated", "audio_end_ms"]
    kept = re.search(r"(\d+) ms of audio kept \(cut at (\d+) ms\)", out)
    assert kept and int(kept[1]) == int(kept[2]) == truncated


def _check_cloud(out: str, sessions: Path) -> None:
    assert "No OpenAI or Azure key is set" in out and "Bearer ********" in out


def _check_sweeps(out: str, sessions: Path) -> None:
    assert "same as the sweep: True" in out  # the chosen setting, live, turns as the trace predicted
    assert "identical to the local run: True" in out  # Dask
    found = re.search(r"(\d+) settings x 5 files", out)
    assert found and int(found[1]) >= 200
    assert any((sessions / "08_sweep" / "parts").glob("*.parquet"))  # written as jobs finished


def _check_workshop_sweep(out: str, sessions: Path) -> None:
    found = re.search(r"shortest silence that keeps every turn whole: (\d+) ms", out)
    assert found and 700 < int(found[1]) <= 1000  # the hesitation pause is 700 ms
    assert "GridError" in out and "0.0 to 1.0" in out  # the bad grid was refused, naming the range


def _check_workshop_vad(out: str, sessions: Path) -> None:
    found = re.search(r"shortest silence without a cut-in: (\d+) ms", out)
    assert found and 700 < int(found[1]) <= 1000  # the sample's hesitation pause is 700 ms


def _check_workshop_barge_in(out: str, sessions: Path) -> None:
    cut = re.search(r"cut at (\d+) ms; the server holds (\d+) ms", out)
    assert cut and cut[1] == cut[2]
    assert "is already shorter than" in out  # the exercise's too-late truncate was refused


def _check_captions(out: str, sessions: Path) -> None:
    live = EventLog.load(sessions / "09_captions_live.rtlog").transcripts()
    assert list(live["status"]) == ["completed"] * 3
    assert "pizza" in " ".join(live["text"]).lower()
    assert (live["first_delta_ms"] >= 0).all() and (live["done_ms"] >= live["first_delta_ms"]).all()
    assert (live["mean_logprob"] <= 0).all()  # include asked for the logprobs
    short = EventLog.load(sessions / "09_captions_silence_300_ms.rtlog").transcripts()
    long = EventLog.load(sessions / "09_captions_silence_1000_ms.rtlog").transcripts()
    assert len(short) == 2 and len(long) == 1  # the 700 ms pause ends a turn only under 300 ms
    assert "server refused: invalid_value" in out and "not sent: unknown_parameter" in out
    for name in ("off", "near_field", "far_field"):
        noisy = EventLog.load(sessions / f"09_captions_noise_{name}.rtlog")
        assert noisy.session_config().noise_reduction == (None if name == "off" else name)


CHECKS: dict[str, Callable[[str, Path], None]] = {
    "00_start_here": _check_start_here,
    "01_event_protocol": _check_event_protocol,
    "02_vad_tuning": _check_vad_tuning,
    "03_noise_reduction": _check_noise_reduction,
    "04_semantic_vad_eagerness": _check_eagerness,
    "05_interruptions": _check_interruptions,
    "06_cloud": _check_cloud,
    "08_sweeps": _check_sweeps,
    "09_captions": _check_captions,
    "workshop/2_tune_vad": _check_workshop_vad,
    "workshop/4_barge_in": _check_workshop_barge_in,
    "workshop/5_sweep": _check_workshop_sweep,
}


def _name(path: Path) -> str:
    """``02_vad_tuning`` or ``workshop/1_events``: the id tests and checkers use."""
    return path.relative_to(NOTEBOOK_DIR).with_suffix("").as_posix()


def test_every_checker_has_its_notebook() -> None:
    assert set(CHECKS) <= {_name(p) for p in NOTEBOOKS}, "a notebook was renamed: update CHECKS"


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=_name(p), marks=pytest.mark.timeout(_timeout(p) + 60)) for p in NOTEBOOKS]
)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    seconds = execute(nb, tmp_path, _timeout(path), cwd=path.parent)
    print(f"{path.name}: {seconds:.1f} s")
    out = output_text(nb)
    assert not _KEY_LIKE.search(out), "an output shows something that looks like a key"
    assert "Using OpenAI" not in out and "Using Azure" not in out
    check = CHECKS.get(_name(path))
    if check is not None:
        check(out, tmp_path)
