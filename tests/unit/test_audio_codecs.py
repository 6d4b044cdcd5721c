import base64
import warnings

import numpy as np
import pytest

from realtime_nb.audio import (
    AUDIO_RATES,
    b64_to_pcm,
    decode,
    duration_ms,
    encode,
    float_to_int16,
    int16_to_float,
    pcm_to_b64,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)

# Published G.711 values (ITU-T G.711 tables): code -> decoded linear value (16-bit scale).
ULAW_KNOWN = {0x00: -32124, 0x7F: 0, 0x80: 32124, 0xFF: 0, 0x8F: 16764, 0xF0: 120, 0xFE: 8, 0x7E: -8}
ALAW_KNOWN = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xD4: 24, 0x80: 5504}


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")  # stdlib G.711 (Sun reference code) until Python 3.13


@pytest.mark.parametrize(("fmt", "known"), [("g711_ulaw", ULAW_KNOWN), ("g711_alaw", ALAW_KNOWN)])
def test_g711_decode_known_values(fmt, known):
    codes = bytes(known)
    assert decode(codes, fmt).tolist() == list(known.values())


def test_g711_silence_codes():
    assert encode(np.zeros(3, np.int16), "g711_ulaw") == b"\xff\xff\xff"
    assert encode(np.zeros(3, np.int16), "g711_alaw") == b"\xd5\xd5\xd5"


@pytest.mark.parametrize(
    ("fmt", "enc", "dec"), [("g711_ulaw", "lin2ulaw", "ulaw2lin"), ("g711_alaw", "lin2alaw", "alaw2lin")]
)
def test_g711_bit_exact_with_reference_over_all_inputs(fmt, enc, dec):
    audioop = _audioop()
    assert encode(ALL_INT16, fmt) == getattr(audioop, enc)(ALL_INT16.tobytes(), 2)
    codes = bytes(range(256))
    assert decode(codes, fmt).tobytes() == getattr(audioop, dec)(codes, 2)


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_decode_encode_is_identity_on_codes(fmt):
    codes = bytes(range(256))
    back = encode(decode(codes, fmt), fmt)
    if fmt == "g711_ulaw":  # 0x7F and 0xFF are both zero; zero encodes as 0xFF
        codes = codes[:0x7F] + b"\xff" + codes[0x80:]
    assert back == codes


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_g711_round_trip_error_is_logarithmic(fmt):
    x = ALL_INT16.astype(np.int64)
    back = decode(encode(ALL_INT16, fmt), fmt).astype(np.int64)
    err = np.abs(back - x)
    loud = np.abs(x) > 1024
    assert np.all(err[loud] <= np.abs(x[loud]) * 0.07)  # about 6 % steps inside a segment
    assert np.all(err[~loud] <= 64)
    clear = np.abs(x) > 64
    assert np.all(np.sign(back[clear]) == np.sign(x[clear]))


def test_pcm16_is_little_endian_and_round_trips():
    x = np.array([1, -2, 32767, -32768], np.int16)
    data = encode(x, "pcm16")
    assert data[:2] == b"\x01\x00" and data[2:4] == b"\xfe\xff"
    assert np.array_equal(decode(data, "pcm16"), x)
    out = decode(data)
    out[0] = 5  # decoded arrays own their memory
    assert out.flags.writeable


def test_base64_helpers_round_trip():
    x = np.array([0, 1000, -1000, 12345], np.int16)
    b64 = pcm_to_b64(x)
    assert base64.b64decode(b64) == x.tobytes()
    assert np.array_equal(b64_to_pcm(b64), x)
    alaw = b64_to_pcm(pcm_to_b64(x, "g711_alaw"), "g711_alaw")
    assert np.array_equal(alaw, decode(encode(x, "g711_alaw"), "g711_alaw"))


def test_duration_ms_uses_native_rates():
    assert AUDIO_RATES == {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
    assert duration_ms(4800, "pcm16") == pytest.approx(100.0)
    assert duration_ms(800, "g711_ulaw") == pytest.approx(100.0)
    assert duration_ms(0) == 0.0


def test_float_int16_conversions():
    assert float_to_int16(np.array([0.0, 1.0, -1.0, 2.0], np.float32)).tolist() == [0, 32767, -32768, 32767]
    f = int16_to_float(np.array([-32768, 0, 16384], np.int16))
    assert f.dtype == np.float32 and f.tolist() == [-1.0, 0.0, 0.5]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: decode(b"\x00\x01\x02", "pcm16"), "even number of bytes"),
        (lambda: decode(b"", "mp3"), "unknown audio format"),
        (lambda: decode("abcd", "pcm16"), "must be bytes"),
        (lambda: encode(np.zeros(4, np.float32), "pcm16"), "int16"),
        (lambda: encode(np.zeros((2, 4), np.int16), "g711_ulaw"), "mono"),
        (lambda: b64_to_pcm("not base64!!"), "base64"),
        (lambda: b64_to_pcm(base64.b64encode(b"\x00\x01\x02").decode()), "even number of bytes"),
        (lambda: duration_ms(-1), ">= 0"),
        (lambda: float_to_int16(np.zeros(2, np.int16)), "float"),
    ],
)
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_input_is_empty_output():
    assert decode(b"").size == 0
    assert encode(np.zeros(0, np.int16), "g711_alaw") == b""
