"""Notebook widgets: the microphone (``Mic``) and the streaming player (``Player``).

Both are anywidgets (ES modules beside the Python, no build step) exchanging 24 kHz mono PCM16 with
the kernel as binary comm buffers.
"""

from realtime_nb.widgets._audio_comm import PCM_RATE, MicError, truncate_point
from realtime_nb.widgets.clips import ClipSource, decode_clip, push_clip
from realtime_nb.widgets.mic import Mic
from realtime_nb.widgets.player import Player
from realtime_nb.widgets.waveform import ItemError, WaveformCompare

__all__ = [
    "PCM_RATE",
    "ClipSource",
    "ItemError",
    "Mic",
    "MicError",
    "Player",
    "WaveformCompare",
    "decode_clip",
    "push_clip",
    "truncate_point",
]
