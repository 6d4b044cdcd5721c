"""Audio plumbing in numpy: wire codecs (PCM16, G.711), resampling, WAV files, chunks and envelopes.

Bad input raises ValueError naming the problem (odd pcm16 byte count, wrong dtype, stereo where mono
is expected, unknown format). Empty input is legal where streaming produces it (decode, encode,
resample and the stream resampler pass it through as empty) and an error where it can only be a
mistake (`envelope`, `write_wav`).
"""

from realtime_nb.audio.codecs import (
    AUDIO_RATES,
    AudioFormat,
    b64_to_pcm,
    decode,
    duration_ms,
    encode,
    float_to_int16,
    int16_to_float,
    pcm_to_b64,
)
from realtime_nb.audio.resample import StreamResampler, resample
from realtime_nb.audio.shaping import Envelope, chunk, envelope, to_format
from realtime_nb.audio.wav import read_wav, write_wav

__all__ = [
    "AUDIO_RATES",
    "AudioFormat",
    "Envelope",
    "StreamResampler",
    "b64_to_pcm",
    "chunk",
    "decode",
    "duration_ms",
    "encode",
    "envelope",
    "float_to_int16",
    "int16_to_float",
    "pcm_to_b64",
    "read_wav",
    "resample",
    "to_format",
    "write_wav",
]
