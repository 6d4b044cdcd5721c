"""Browser support for WebRTC calls in the page: Chromium flags, the page probe, the fake-mic speech file.

Used by tests/browser/test_call_*.py and benchmarks/bench_call_page.py (with harness.py underneath).

* `call_browser(...)`: headless Chromium with the loopback-WebRTC flags of /work/shared/notes/webrtc.md
  and a chosen microphone: the fake device playing a file, permission denied, or no device at all;
  `page_probe.js` is installed in every page before JupyterLab loads (see that file for what it sees).
* `SpeechFile`: a WAV of known speech (the bundled Piper voice through `realtime_nb.samples`) with
  its labelled speech times; the fake device loops it from the moment `getUserMedia` opens.
* `Probe`: what the page probe recorded, read back; `answer_latencies` pairs each end of the fake
  microphone's speech with the first audible sample the page played after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tests.browser.harness import NotebookPage, chromium

PROBE_JS = Path(__file__).with_name("page_probe.js")
WEBRTC_ARGS = [
    "--allow-loopback-in-peer-connection",  # the engine answers with 127.0.0.1 candidates
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # real host candidates, not mDNS names
    "--autoplay-policy=no-user-gesture-required",  # the probe's AudioContext and the remote audio
]
Microphone = Literal["fake", "denied", "none"]


@contextmanager
def call_browser(
    speech: Path | None = None, microphone: Microphone = "fake", extra_args: Sequence[str] = ()
) -> Iterator[Any]:
    """Chromium for WebRTC calls, with the probe installed.

    ``microphone``: ``"fake"`` plays ``speech`` as the microphone and grants it; ``"denied"`` has the
    fake device but refuses every permission prompt (``getUserMedia`` -> NotAllowedError);
    ``"none"`` grants the prompt but has no capture device at all (NotFoundError on a machine without
    a sound card, as here).
    """
    args = [*WEBRTC_ARGS, *extra_args]
    if microphone == "fake":
        if speech is None:
            raise ValueError("the fake microphone needs a speech file")
        ctx = chromium(speech, args)
    elif microphone == "denied":
        ctx = chromium(speech, [*args, "--deny-permission-prompts"], fake_ui=False)
    else:
        ctx = chromium(None, [*args, "--use-fake-ui-for-media-stream"])
    with ctx as browser:
        browser.add_init_script(path=str(PROBE_JS))
        yield browser


@dataclass(frozen=True)
class SpeechFile:
    """A fake-microphone file: `path` (24 kHz mono WAV), its speech spans in ms, its loop length in ms."""

    path: Path
    speech_ms: tuple[tuple[float, float], ...]
    loop_ms: float
    text: str

    @classmethod
    def utterance(
        cls, folder: Path, text: str, *, lead_ms: float, tail_ms: float, name: str = "speech"
    ) -> SpeechFile:
        return cls.sentences(folder, [text], lead_ms=lead_ms, tail_ms=tail_ms, name=name)

    @classmethod
    def sentences(
        cls,
        folder: Path,
        texts: Sequence[str],
        *,
        pauses_ms: float | Sequence[float] = 1500,
        lead_ms: float,
        tail_ms: float,
        name: str = "speech",
    ) -> SpeechFile:
        from realtime_nb import samples

        sample = samples.with_pauses(texts, pauses_ms, lead_ms=lead_ms, tail_ms=tail_ms)
        path = sample.save(Path(folder) / f"{name}.wav")
        spans = tuple(s.ms(sample.rate) for s in sample.segments)
        return cls(path, spans, sample.audio.size * 1000.0 / sample.rate, sample.text)

    @property
    def start_ms(self) -> float:
        return self.speech_ms[0][0]

    @property
    def end_ms(self) -> float:
        return self.speech_ms[-1][1]

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass
class Probe:
    """One reading of ``window.__rtnbProbe`` (page clock, ms); traffic is read separately."""

    mic_opened: list[dict[str, Any]]
    mic: list[dict[str, Any]]
    out: list[dict[str, Any]]
    dc: list[dict[str, Any]]
    pcs: list[dict[str, Any]]
    errors: list[str]

    @classmethod
    def read(cls, nb: NotebookPage) -> Probe:
        raw = nb.js(
            "(({micOpened, mic, out, dc, pcs, errors}) => ({micOpened, mic, out, dc, pcs, errors}))"
            "(window.__rtnbProbe)"
        )
        return cls(raw["micOpened"], raw["mic"], raw["out"], raw["dc"], raw["pcs"], raw["errors"])

    def speech(self) -> list[tuple[float, float]]:
        """(start, end) of each stretch of the fake microphone's speech the page captured."""
        spans, start = [], None
        for m in self.mic:
            if m["kind"] == "on":
                start = m["t"]
            elif start is not None:
                spans.append((start, m["t"]))
                start = None
        return spans

    def onsets(self, source: str) -> list[float]:
        """Page times of audible onsets (-40 dBFS after a quiet) of what the page played."""
        return [o["t"] for o in self.out if o["source"] == source and o["kind"] == "on"]

    def dc_counts(self, direction: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.dc:
            if m["dir"] == direction:
                counts[m["type"]] = counts.get(m["type"], 0) + 1
        return counts

    def first_dc(self, type_: str, direction: str = "received") -> float | None:
        return next((m["t"] for m in self.dc if m["dir"] == direction and m["type"] == type_), None)


def answer_latencies(probe: Probe, source: str, silence_ms: float) -> list[dict[str, float]]:
    """Per captured turn: end of the microphone's speech -> first audible sample played after it, in ms
    beyond the silence window (``nan`` when nothing audible came before the next speech started)."""
    spans = probe.speech()
    onsets = probe.onsets(source)
    rows = []
    for i, (start, end) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else float("inf")
        first = next((t for t in onsets if end < t < nxt), None)
        rows.append(
            {
                "speech_start": start,
                "speech_end": end,
                "latency_ms": (first - end - silence_ms) if first is not None else float("nan"),
            }
        )
    return rows


def page_text(nb: NotebookPage) -> str:
    """Everything of the page a secret could hide in and a script can read: the DOM, the storages,
    the SDP of every peer connection, and the probe's copy of the page's traffic (kernel WebSocket
    frames both ways, fetch URLs and bodies)."""
    return nb.page.evaluate(
        """() => {
          const parts = [document.documentElement.outerHTML];
          for (const s of [localStorage, sessionStorage])
            for (let i = 0; i < s.length; i++) parts.push(s.key(i), s.getItem(s.key(i)));
          parts.push(...window.__rtnbProbe.traffic);
          return parts.join("\\n");
        }"""
    )


def dump(value: Any) -> str:
    return json.dumps(value, default=str)
