"""The page's audio taps on the kernel side, sans-I/O: the microphone audio the call sent, and the
answer audio the page played, each turned into track audio for the EventLog; and the measured
alignment of the sent tap with the service's audio clock.

**Sent audio.** The page taps its microphone stream with the same AudioWorklet as the `Mic` (24 kHz
mono PCM16 chunks, each with a sequence number and the page time it was complete). It forwards only
the audio captured from the moment the peer connection reported ``connected``: the service's audio
clock (``audio_start_ms`` of ``speech_started``, an item's span) counts from the first frame it
received, which the browser sends once DTLS is up. A lost chunk becomes silence, so sample ``n`` of
the tap stays sample ``n`` of the service's clock. What is left is a constant offset (the page's
capture -> encoder path, the worklet's quantum, the first RTP frame): `estimate_lag_ms` measures it
on a real item by cross-correlating the tap with what ``conversation.item.retrieve`` returns.

**Played audio.** The page taps the remote stream at 48 kHz in 20 ms frames; the kernel attributes
the frames to responses with the Python client's own state machine (`client.rtc_media.ReceivedAudio`,
which follows ``output_audio_buffer.*``), so `EventLog.turns()` dates the first audible answer sample
as heard in the page.
"""

from __future__ import annotations

import numpy as np

from realtime_nb.protocol import PCM_RATE

RX_RATE = 48000  # the played-audio tap's rate (the page's AudioContext runs at it)
RX_FRAME = 960  # the played-audio tap's frame: 20 ms at 48 kHz, what ReceivedAudio counts in
MAX_GAP_CHUNKS = 250  # a jump larger than this (10 s of 40 ms chunks) is a new capture, not a loss


class SentTap:
    """Sequence numbers -> gap-free audio: what to record for each arriving chunk of the sent tap."""

    def __init__(self) -> None:
        self.expected = 0
        self.missing = 0
        self.late = 0
        self.samples = 0

    def take(self, seq: int, pcm: np.ndarray) -> np.ndarray | None:
        """The samples to append for chunk `seq` (zeros first for lost chunks); None for a late one."""
        if seq < self.expected:
            self.late += 1
            return None
        gap = seq - self.expected
        self.expected = seq + 1
        if 0 < gap <= MAX_GAP_CHUNKS:
            self.missing += gap
            pcm = np.concatenate([np.zeros(gap * pcm.size, np.int16), pcm])
        self.samples += pcm.size
        return pcm


def estimate_lag_ms(sent: np.ndarray, reference: np.ndarray, *, max_lag_ms: float = 400.0,
                    rate: int = PCM_RATE) -> tuple[float, float]:
    """How late `sent` runs behind `reference` (ms; negative: early), and the normalised correlation
    at that lag. Both int16 (or float) mono at `rate`; the search is bounded by `max_lag_ms`."""
    a = np.asarray(sent, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.size < rate // 20 or b.size < rate // 20:
        raise ValueError("need at least 50 ms of audio on both sides to measure an alignment")
    a = a - a.mean()
    b = b - b.mean()
    n = 1 << int(np.ceil(np.log2(a.size + b.size)))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    max_lag = int(max_lag_ms * rate / 1000)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    values = np.concatenate([corr[: max_lag + 1], corr[n - max_lag :]])
    best = int(np.argmax(values))
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b))) or 1.0
    # corr[k] = sum a[i + k] b[i]: a peak at k > 0 means the sent tap holds the sound k samples later
    return float(lags[best] * 1000 / rate), float(values[best] / norm)
