"""Property-based fuzzing of the engine session with client events of both dialects.

Events are valid, near-valid (one value wrong) or hostile (see tests/fuzz_events.py, built from the
protocol's field tables and event catalogue). For every event: nothing escapes `receive_text`, no
`server_error` is needed, every refusal is an `error` event with code, short message, param and the
client's event_id, a refused event changes nothing (`snapshot()`), every emitted event validates
against the openai SDK's union of the dialect, and the session still answers a valid event at the
end. A short, derandomized run lives here; benchmarks/bench_fuzz.py runs 10 000 events per dialect.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_nb.protocol import Dialect
from tests.fuzz_events import FuzzDriver, FuzzModels, Verdict, any_event, near_valid_event, valid_event

DIALECTS = [Dialect.GA, Dialect.PREVIEW]
MODELS = FuzzModels()

FUZZ = settings(
    derandomize=True,
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _run(dialect: Dialect, events: list[Any], sdk_adapters: Any) -> Verdict:
    verdict = Verdict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the placeholder voice says so once
        driver = FuzzDriver(MODELS, dialect, verdict, sdk_adapters[(dialect, "server")].validate_python)
        for event in events:
            driver.feed(event)
        assert driver.still_works(), "a valid event after the run was not answered"
    assert verdict.escaped == [], verdict.escaped[:3]
    assert verdict.broken == [], verdict.broken[:3]
    return verdict


@pytest.mark.parametrize("dialect", DIALECTS)
def test_any_sequence_of_events_is_answered_and_refusals_change_nothing(dialect, sdk_adapters):
    @FUZZ
    @given(st.lists(any_event(dialect), min_size=1, max_size=8))
    def run(events: list[Any]) -> None:
        _run(dialect, events, sdk_adapters)

    run()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_near_valid_events_are_refused_precisely(dialect, sdk_adapters):
    @FUZZ
    @given(st.lists(near_valid_event(dialect), min_size=4, max_size=8))
    def run(events: list[Any]) -> None:
        _run(dialect, events, sdk_adapters)

    run()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_valid_events_are_mostly_accepted(dialect, sdk_adapters):
    """The generator's valid events are valid: refusals are state-dependent ones only (an unknown
    item, nothing to cancel, an empty buffer...), never a complaint about a value's type or shape."""
    codes: list[str] = []

    @FUZZ
    @given(st.lists(valid_event(dialect), min_size=1, max_size=8))
    def run(events: list[Any]) -> None:
        codes.extend(_run(dialect, events, sdk_adapters).rejected)

    run()
    shape_codes = {"invalid_type", "unknown_parameter", "missing_required_parameter", "invalid_json"}
    assert not shape_codes & set(codes), codes
