"""`realtime-nb serve --audio-retention-s`: the session option `audio_retention_s` from the command line."""

from __future__ import annotations

import pytest

from realtime_nb.cli import build_parser, engine_settings


def _serve(*flags: str):
    return build_parser().parse_args(["serve", *flags])


def test_without_the_flag_the_engines_default_applies():
    from realtime_nb.engine.options import EngineOptions

    options, _ = engine_settings(_serve())
    assert "audio_retention_s" not in options and EngineOptions().audio_retention_s == 300.0
    assert engine_settings(_serve("--audio-retention-s", "60"))[0]["audio_retention_s"] == 60.0


@pytest.mark.parametrize(("text", "value"), [("60", 60.0), ("1.5", 1.5), ("off", None), ("OFF", None)])
def test_seconds_or_off(text, value):
    assert _serve("--audio-retention-s", text).audio_retention_s == value


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "five minutes"])
def test_bad_values_are_usage_errors_naming_the_flag(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _serve("--audio-retention-s", text)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--audio-retention-s" in err and "audio retention must be" in err
