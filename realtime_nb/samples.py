"""Reproducible speech for tests, notebooks and benchmarks, with known speech boundaries.

Speech comes from the Piper voice (`realtime_nb.engine.models.voice`, the optional `voice` extra)
with its random variation switched off, so the same text always gives the same samples. Each
utterance is trimmed of the voice's own leading and trailing near-silence by this energy rule:

    a 10 ms frame is *speech* when its RMS is within 40 dB of the utterance's loudest frame; the
    utterance runs from the first sample of the first speech frame to the last sample of the last
    speech frame.

Utterances are then placed on a 24 kHz timeline with exact digital silence around them, so every
`Segment` (start/end sample, end exclusive) is exact. Noise mixes are seeded; their SNR is the
*active speech level* (power over the speech segments only) over the noise power.

Named samples (`NAMED`) are generated once into a cache directory (env REALTIME_NB_SAMPLES, else
~/.cache/realtime_nb/samples) as `<name>.wav` (24 kHz mono int16) + `<name>.json` (boundaries).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from realtime_nb.audio import read_wav, write_wav
from realtime_nb.protocol import PCM_RATE

RATE = PCM_RATE  # samples are made at the protocol's pcm16 rate (public name, kept)
NoiseKind = Literal["white", "pink", "babble"]
NOISE_KINDS: tuple[NoiseKind, ...] = ("white", "pink", "babble")
TRIM_FRAME_MS = 10
TRIM_BELOW_PEAK_DB = 40.0
_FORMAT_VERSION = 1  # bump when the generation recipe changes: cached files are then rebuilt
_voice_lock = threading.Lock()
_voice: Any = None


@dataclass(frozen=True)
class Segment:
    """One utterance on the sample's timeline: samples [start, end) at the sample's rate."""

    start: int
    end: int
    text: str

    def ms(self, rate: int = RATE) -> tuple[float, float]:
        return self.start * 1000.0 / rate, self.end * 1000.0 / rate


@dataclass(frozen=True, eq=False)
class Sample:
    """Mono int16 audio with its speech segments; `clean` is the speech before noise was added."""

    audio: np.ndarray
    rate: int
    segments: tuple[Segment, ...]
    name: str | None = None
    clean: np.ndarray | None = field(default=None, repr=False)
    noise: dict[str, Any] | None = None  # {"kind", "snr_db", "seed", "scale"} for noise mixes

    def __repr__(self) -> str:
        spans = ", ".join(f"{a:.0f}-{b:.0f}" for a, b in (s.ms(self.rate) for s in self.segments))
        return f"Sample({self.name or 'unnamed'}, {self.duration_s:.2f} s, speech ms: {spans})"

    @property
    def duration_s(self) -> float:
        return self.audio.size / self.rate

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    def speech_mask(self) -> np.ndarray:
        """Boolean per sample: True inside a speech segment."""
        mask = np.zeros(self.audio.size, dtype=bool)
        for s in self.segments:
            mask[s.start : s.end] = True
        return mask

    def save(self, wav_path: str | Path) -> Path:
        """Write `<stem>.wav` and `<stem>.json` (segments and noise settings)."""
        wav_path = Path(wav_path)
        write_wav(wav_path, self.audio, self.rate)
        wav_path.with_suffix(".json").write_text(json.dumps(self._meta(), indent=1))
        return wav_path

    def _meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rate": self.rate,
            "samples": int(self.audio.size),
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in self.segments],
            "noise": self.noise,
        }


def _get_voice() -> Any:
    global _voice
    with _voice_lock:
        if _voice is None:
            from realtime_nb.engine.models import Models

            _voice = Models.shared().voice()
        return _voice


def trim_bounds(audio: np.ndarray, rate: int = RATE) -> tuple[int, int]:
    """[start, end) of the speech in `audio` by the module's energy rule (see the docstring)."""
    x = np.asarray(audio, dtype=np.float64)
    frame = rate * TRIM_FRAME_MS // 1000
    n = x.size // frame
    if n == 0:
        raise ValueError("audio is shorter than one 10 ms frame")
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    if rms.max() == 0:
        raise ValueError("audio is silent: no speech to find")
    loud = np.nonzero(rms >= rms.max() * 10 ** (-TRIM_BELOW_PEAK_DB / 20))[0]
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)


def _speech(text: str) -> np.ndarray:
    audio = _get_voice().render(text, variation=False)
    start, end = trim_bounds(audio)
    return audio[start:end]


def _silence(ms: float) -> np.ndarray:
    if ms < 0:
        raise ValueError(f"pause and padding lengths must be >= 0 ms, got {ms}")
    return np.zeros(round(RATE * ms / 1000), dtype=np.int16)


def with_pauses(
    texts: Sequence[str],
    pauses_ms: float | Sequence[float] = 1500,
    *,
    lead_ms: float = 500,
    tail_ms: float = 1000,
    name: str | None = None,
) -> Sample:
    """Utterances separated by exact silences (one length, or one per gap)."""
    if isinstance(texts, str):
        texts = [texts]
    if not texts or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise ValueError("give one or more non-empty texts")
    gaps = [float(pauses_ms)] * (len(texts) - 1) if np.isscalar(pauses_ms) else list(pauses_ms)
    if len(gaps) != len(texts) - 1:
        raise ValueError(f"{len(texts)} texts need {len(texts) - 1} pauses, got {len(gaps)}")
    parts, segments, pos = [_silence(lead_ms)], [], 0
    pos = parts[0].size
    for i, text in enumerate(texts):
        speech = _speech(text)
        segments.append(Segment(pos, pos + speech.size, text))
        parts.append(speech)
        pos += speech.size
        gap = _silence(gaps[i] if i < len(gaps) else tail_ms)
        parts.append(gap)
        pos += gap.size
    audio = np.concatenate(parts)
    return Sample(audio, RATE, tuple(segments), name=name, clean=audio)


def utterance(text: str, *, lead_ms: float = 500, tail_ms: float = 1000, name: str | None = None) -> Sample:
    """One utterance with exact silence around it."""
    return with_pauses([text], lead_ms=lead_ms, tail_ms=tail_ms, name=name)


def make_noise(kind: NoiseKind, n: int, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Unit-RMS float64 noise: white, pink (-3 dB/octave) or babble-like.

    Babble-like = six "talkers", each speech-shaped noise (band 100 Hz - 4 kHz, falling 6 dB/octave
    above 500 Hz) under its own random syllable-rate (2-6 Hz) amplitude envelope.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {', '.join(NOISE_KINDS)}")
    if n <= 0:
        raise ValueError(f"noise length must be positive, got {n}")
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum[1:] /= np.sqrt(freqs[1:])
        spectrum[0] = 0
        noise = np.fft.irfft(spectrum, n)
    else:
        shape = ((freqs > 100) & (freqs < 4000)) / np.maximum(1.0, freqs / 500.0)
        envelope_shape = (freqs >= 2) & (freqs <= 6)
        noise = np.zeros(n)
        for _ in range(6):
            talker = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
            env = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * envelope_shape, n)
            noise += talker * np.maximum(env, 0)
    return noise / np.sqrt(np.mean(noise**2))


def add_noise(sample: Sample, snr_db: float, kind: NoiseKind = "pink", *, seed: int = 0) -> Sample:
    """Mix seeded noise at `snr_db` (active speech level over noise power); keeps `clean`."""
    if not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number, got {snr_db!r}")
    if not sample.segments:
        raise ValueError("the sample has no speech segments to measure the speech level on")
    clean = sample.audio.astype(np.float64)
    speech_power = np.mean(clean[sample.speech_mask()] ** 2)
    noise = make_noise(kind, clean.size, seed, sample.rate) * np.sqrt(speech_power / 10 ** (snr_db / 10))
    mixed = clean + noise
    peak = np.max(np.abs(mixed))
    scale = min(1.0, 32000.0 / peak)  # never clip: scale speech and noise together
    audio = np.round(mixed * scale).astype(np.int16)
    clean_out = np.round(clean * scale).astype(np.int16)
    noise_info = {"kind": kind, "snr_db": float(snr_db), "seed": seed, "scale": scale}
    return replace(sample, audio=audio, clean=clean_out, noise=noise_info)


# --- named samples shared by notebooks, tests and benchmarks --------------------------------------

TURNS = (
    "I would like to order a large pizza with mushrooms.",
    "Can you tell me what the weather will be like tomorrow?",
    "Thank you, that is all I needed.",
)
NAMED: dict[str, dict[str, Any]] = {
    "single": {"texts": [TURNS[0]]},
    "turns": {"texts": list(TURNS), "pauses_ms": 1500},
    "hesitation": {"texts": ["I would like to order,", "a large pizza with mushrooms."], "pauses_ms": 700},
    "noisy_10db": {"base": "turns", "snr_db": 10.0, "kind": "pink"},
    "noisy_0db": {"base": "turns", "snr_db": 0.0, "kind": "pink"},
    "babble_5db": {"base": "turns", "snr_db": 5.0, "kind": "babble"},
}


def cache_dir() -> Path:
    """Where named samples live (created on demand)."""
    root = os.environ.get("REALTIME_NB_SAMPLES") or Path.home() / ".cache" / "realtime_nb" / "samples"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spec_key(name: str) -> str:
    spec = dict(NAMED[name])
    if "base" in spec:
        spec["base_spec"] = NAMED[spec["base"]]
    blob = json.dumps([_FORMAT_VERSION, TRIM_FRAME_MS, TRIM_BELOW_PEAK_DB, spec], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _build(name: str) -> Sample:
    spec = NAMED[name]
    if "base" in spec:
        return replace(add_noise(load(spec["base"]), spec["snr_db"], spec["kind"]), name=name)
    return with_pauses(spec["texts"], spec.get("pauses_ms", 1500), name=name)


def _check_name(name: str) -> None:
    if name not in NAMED:
        raise ValueError(f"unknown sample {name!r}; named samples: {', '.join(NAMED)}")


def ensure(name: str) -> Path:
    """Path of the named sample's WAV, generating it (and its JSON) if missing or outdated."""
    _check_name(name)
    wav = cache_dir() / f"{name}.wav"
    meta_path = wav.with_suffix(".json")
    key = _spec_key(name)
    if wav.is_file() and meta_path.is_file():
        try:
            if json.loads(meta_path.read_text()).get("key") == key:
                return wav
        except ValueError:
            pass  # a damaged JSON is rebuilt below
    sample = _build(name)
    meta = sample._meta() | {"key": key, "base": NAMED[name].get("base")}
    # write under temporary names, then rename: parallel test workers never see half a file
    tmp = wav.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}")
    write_wav(tmp.with_suffix(".wav"), sample.audio, sample.rate)
    tmp.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp.with_suffix(".wav"), wav)
    os.replace(tmp.with_suffix(".json"), meta_path)
    return wav


def load(name: str) -> Sample:
    """The named sample (generated on first use); noise mixes carry their clean speech."""
    wav = ensure(name)
    meta = json.loads(wav.with_suffix(".json").read_text())
    audio, rate = read_wav(wav)
    segments = tuple(Segment(s["start"], s["end"], s["text"]) for s in meta["segments"])
    clean = load(meta["base"]).audio if meta.get("base") else audio
    if meta.get("base") and clean.size != audio.size:
        raise ValueError(f"cached sample {name!r} does not match its base {meta['base']!r}; delete {wav}")
    if meta.get("noise"):  # the speech was scaled together with the noise to avoid clipping
        clean = np.round(clean.astype(np.float64) * meta["noise"]["scale"]).astype(np.int16)
    return Sample(audio, rate, segments, name=name, clean=clean, noise=meta.get("noise"))


__all__ = [
    "NAMED",
    "NOISE_KINDS",
    "RATE",
    "Sample",
    "Segment",
    "add_noise",
    "cache_dir",
    "ensure",
    "load",
    "make_noise",
    "trim_bounds",
    "utterance",
    "with_pauses",
]
