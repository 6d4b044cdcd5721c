import struct
import wave

import numpy as np
import pytest

from realtime_nb.audio import read_wav, write_wav


def _write_raw(path, frames: bytes, channels: int, width: int, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames)


def test_write_then_read_round_trips(tmp_path):
    x = (np.sin(np.arange(1000) / 7) * 20000).astype(np.int16)
    path = write_wav(tmp_path / "a.wav", x, 24000)
    y, rate = read_wav(path)
    assert rate == 24000 and np.array_equal(x, y)


def test_write_float_converts_to_int16(tmp_path):
    write_wav(tmp_path / "f.wav", np.array([0.0, 0.5, -1.0], np.float32), 16000)
    y, rate = read_wav(tmp_path / "f.wav")
    assert rate == 16000 and y.tolist() == [0, 16384, -32768]


def test_reads_8_bit_unsigned(tmp_path):
    _write_raw(tmp_path / "u8.wav", bytes([128, 255, 0, 192]), 1, 1, 8000)
    y, rate = read_wav(tmp_path / "u8.wav")
    assert rate == 8000 and y.tolist() == [0, 127 * 256, -32768, 64 * 256]


def test_reads_24_bit(tmp_path):
    values = [0, 0x7FFFFF, -0x800000, 0x123456, -1]
    frames = b"".join(v.to_bytes(3, "little", signed=True) for v in values)
    _write_raw(tmp_path / "s24.wav", frames, 1, 3, 44100)
    y, rate = read_wav(tmp_path / "s24.wav")
    assert rate == 44100 and y.tolist() == [0, 32767, -32768, 0x1234, -1]


def test_reads_32_bit(tmp_path):
    values = [0, 2**31 - 1, -(2**31), 0x12345678]
    frames = b"".join(v.to_bytes(4, "little", signed=True) for v in values)
    _write_raw(tmp_path / "s32.wav", frames, 1, 4, 48000)
    y, _ = read_wav(tmp_path / "s32.wav")
    assert y.tolist() == [0, 32767, -32768, 0x1234]


def test_stereo_is_downmixed(tmp_path):
    stereo = np.array([[1000, 3000], [-2000, -2000], [32767, 32767]], np.int16)
    _write_raw(tmp_path / "st.wav", stereo.astype("<i2").tobytes(), 2, 2, 22050)
    y, rate = read_wav(tmp_path / "st.wav")
    assert rate == 22050 and y.tolist() == [2000, -2000, 32767]


def _riff(fmt_body: bytes, data: bytes) -> bytes:
    """A WAV file built by hand: RIFF header, fmt chunk, data chunk."""
    fmt = struct.pack("<4sI", b"fmt ", len(fmt_body)) + fmt_body
    body = b"WAVE" + fmt + struct.pack("<4sI", b"data", len(data)) + data
    return struct.pack("<4sI", b"RIFF", len(body)) + body


def _fmt(tag: int, channels: int, rate: int, bits: int, extensible_subtag: int | None = None) -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if extensible_subtag is not None:
        guid_tail = bytes.fromhex("000000001000800000aa00389b71")
        body += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", extensible_subtag) + guid_tail
    return body


def test_reads_extensible_24_bit_stereo(tmp_path):
    frames = [(0x123456, -0x123456), (0x7FFFFF, 0x7FFFFF), (-0x800000, -0x800000)]
    data = b"".join(v.to_bytes(3, "little", signed=True) for frame in frames for v in frame)
    path = tmp_path / "ext.wav"
    path.write_bytes(_riff(_fmt(0xFFFE, 2, 96000, 24, extensible_subtag=1), data))
    y, rate = read_wav(path)
    assert rate == 96000 and y.tolist() == [0, 32767, -32768]


def test_reads_float32(tmp_path):
    data = np.array([0.0, 0.5, -1.0, 2.0], "<f4").tobytes()
    path = tmp_path / "f32.wav"
    path.write_bytes(_riff(_fmt(3, 1, 16000, 32), data))
    y, rate = read_wav(path)
    assert rate == 16000 and y.tolist() == [0, 16384, -32768, 32767]


def test_unsupported_or_broken_files_raise_value_error(tmp_path):
    bad = tmp_path / "notwav.wav"
    bad.write_bytes(b"hello, this is not a wav file at all")
    with pytest.raises(ValueError, match=r"notwav\.wav"):
        read_wav(bad)
    adpcm = tmp_path / "adpcm.wav"
    adpcm.write_bytes(_riff(_fmt(2, 1, 8000, 4), b"\x00" * 64))
    with pytest.raises(ValueError, match="not supported"):
        read_wav(adpcm)
    no_data = tmp_path / "nodata.wav"
    no_data.write_bytes(_riff(_fmt(3, 1, 8000, 32), b"")[:-8])
    with pytest.raises(ValueError, match="without a fmt or data chunk"):
        read_wav(no_data)
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros(0, np.int16), 8000, "no samples"),
        (np.zeros((2, 2), np.int16), 8000, "mono"),
        (np.zeros(4, np.int32), 8000, "int16 or float"),
        (np.zeros(4, np.int16), 0, "rate"),
    ],
)
def test_write_bad_input(tmp_path, samples, rate, message):
    with pytest.raises(ValueError, match=message):
        write_wav(tmp_path / "x.wav", samples, rate)
    assert not (tmp_path / "x.wav").exists()
