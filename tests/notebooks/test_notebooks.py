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
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
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


def execute(nb: nbformat.NotebookNode, sessions: Path, timeout: int) -> float:
    """Run `nb` in place (cell errors raise CellExecutionError); returns the seconds it took."""
    started = time.perf_counter()
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
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


CHECKS: dict[str, Callable[[str, Path], None]] = {
    "00_start_here": _check_start_here,
    "01_event_protocol": _check_event_protocol,
}


def test_every_checker_has_its_notebook() -> None:
    assert set(CHECKS) <= {p.stem for p in NOTEBOOKS}, "a notebook was renamed: update CHECKS"


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.stem, marks=pytest.mark.timeout(_timeout(p) + 60)) for p in NOTEBOOKS]
)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    seconds = execute(nb, tmp_path, _timeout(path))
    print(f"{path.name}: {seconds:.1f} s")
    out = output_text(nb)
    assert not _KEY_LIKE.search(out), "an output shows something that looks like a key"
    assert "Using OpenAI" not in out and "Using Azure" not in out
    check = CHECKS.get(path.stem)
    if check is not None:
        check(out, tmp_path)
