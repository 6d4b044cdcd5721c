"""``realtime-nb serve``'s output-limit flags: parsed into the engine's Backpressure and session
options, defaults left to the engine, bad values refused as usage errors naming the allowed range."""

from __future__ import annotations

import pytest

from realtime_nb.cli import build_parser, engine_settings
from realtime_nb.engine import Backpressure, EngineServer
from realtime_nb.engine.options import RANGES, EngineOptions


def _settings(*flags: str) -> tuple[dict, dict]:
    return engine_settings(build_parser().parse_args(["serve", *flags]))


def test_no_flags_leave_every_default_to_the_engine() -> None:
    options, backpressure = _settings()
    assert options == {} and backpressure == {}
    server = EngineServer(options=options, backpressure=backpressure)
    assert server.backpressure == Backpressure()


def test_each_flag_sets_its_limit() -> None:
    options, backpressure = _settings(
        "--send-ahead-mib", "0.25",
        "--max-unsent-mib", "4",
        "--max-lag-s", "30",
        "--stream-ahead-ms", "2500",
        "--keepalive-interval-s", "5",
        "--keepalive-timeout-s", "2.5",
        "--max-session-minutes", "2",
    )  # fmt: skip
    assert options == {"stream_ahead_ms": 2500, "max_session_s": 120.0}
    assert backpressure == {
        "send_ahead_bytes": 256 * 1024,
        "max_unsent_bytes": 4 * 2**20,
        "max_lag_s": 30.0,
        "ping_interval_s": 5.0,
        "ping_timeout_s": 2.5,
    }
    server = EngineServer(options=options, backpressure=backpressure)
    assert server.backpressure == Backpressure(**backpressure)
    EngineOptions(**options)  # the session options are valid too


def test_off_turns_the_keepalive_and_the_stream_lead_off() -> None:
    options, backpressure = _settings("--keepalive-interval-s", "off", "--stream-ahead-ms", "OFF")
    assert options == {"stream_ahead_ms": None}
    assert backpressure == {"ping_interval_s": None}
    assert EngineServer(backpressure=backpressure).backpressure.ping_interval_s is None


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-lag-s", "0"], "argument --max-lag-s: max_lag_s must be 0.1 s to 3600 s, got 0 s"),
        (["--max-lag-s", "nan"], "max_lag_s must be 0.1 s to 3600 s, got nan s"),
        (["--send-ahead-mib", "0.001"], "send_ahead_bytes must be 16 KiB to 1 GiB, got 1.02441 KiB"),
        (["--max-unsent-mib", "2048"], "max_unsent_bytes must be 16 KiB to 1 GiB, got 2 GiB"),
        (
            ["--stream-ahead-ms", "50"],
            "stream_ahead_ms must be 100 ms to 600000 ms, or 'off' (as fast as the voice goes), got 50 ms",
        ),
        (["--keepalive-interval-s", "never"], "argument --keepalive-interval-s: not a number: 'never'"),
        (["--keepalive-timeout-s", "off"], "argument --keepalive-timeout-s: not a number: 'off'"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_range(flags, message, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", *flags])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_limits_that_contradict_each_other_are_refused_before_listening(capsys) -> None:
    from realtime_nb.cli import main

    code = main(["serve", "--port", "0", "--send-ahead-mib", "8", "--max-unsent-mib", "4"])
    assert code == 2
    assert "max_unsent_bytes (4 MiB) must be at least send_ahead_bytes (8 MiB)" in capsys.readouterr().err


def test_help_lists_every_flag_with_its_default_and_range(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in (
        "--send-ahead-mib",
        "--max-unsent-mib",
        "--max-lag-s",
        "--stream-ahead-ms",
        "--keepalive-interval-s",
        "--keepalive-timeout-s",
    ):
        assert flag in text
    assert "(default: 16; 16 KiB to 1 GiB)" in text
    assert RANGES["max_lag_s"].describe() in text
