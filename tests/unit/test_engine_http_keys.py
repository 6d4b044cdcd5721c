"""The ephemeral key store (sans-I/O, injected clock): minting, expiry, flows, the cap, no key kept."""

from __future__ import annotations

import pytest

from realtime_nb.engine import ephemeral_keys
from realtime_nb.engine.ephemeral_keys import KEY_PREFIX, KeyGrant, KeyProblem, KeyStore, KeyStoreFull
from realtime_nb.engine.webrtc_flows import Flow

SESSION = {"type": "realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}


class Clock:
    def __init__(self, now: float = 1_800_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> KeyStore:
    return KeyStore(clock=clock, max_live=5)


def test_minted_keys_are_random_prefixed_and_never_in_a_repr(store: KeyStore) -> None:
    first = store.mint(Flow.GA_OPENAI, SESSION, 600)
    second = store.mint(Flow.GA_OPENAI, SESSION, 600)
    assert first.value.startswith(KEY_PREFIX) and second.value.startswith(KEY_PREFIX)
    assert first.value != second.value
    assert len(first.value) >= len(KEY_PREFIX) + 32  # 24 random bytes, url-safe
    for text in (repr(first), repr(first.grant), repr(store)):
        assert first.value not in text and first.value[len(KEY_PREFIX) :] not in text


def test_the_store_keeps_no_key_only_digests(store: KeyStore) -> None:
    minted = store.mint(Flow.GA_OPENAI, SESSION, 600)
    held = repr(vars(store)) + repr(store._live) + repr(store._expiries)
    assert minted.value not in held


def test_expiry_is_created_at_plus_seconds_in_epoch_seconds(store: KeyStore, clock: Clock) -> None:
    grant = store.mint(Flow.GA_OPENAI, SESSION, 600).grant
    assert grant.created_at == 1_800_000_000
    assert grant.expires_at == 1_800_000_600
    assert isinstance(grant.expires_at, int)


def test_a_key_opens_several_calls_until_it_expires(store: KeyStore, clock: Clock) -> None:
    minted = store.mint(Flow.GA_OPENAI, SESSION, 30)
    for _ in range(3):
        grant = store.check(minted.value, Flow.GA_OPENAI)
        assert isinstance(grant, KeyGrant) and grant.session == SESSION
    clock.now = minted.grant.expires_at - 0.001
    assert isinstance(store.check(minted.value, Flow.GA_OPENAI), KeyGrant)
    clock.now = minted.grant.expires_at  # expires *at* expires_at
    problem = store.check(minted.value, Flow.GA_OPENAI)
    assert isinstance(problem, KeyProblem) and problem.code == "expired_api_key"
    assert "expired" in problem.message and "/v1/realtime/client_secrets" in problem.message
    assert minted.value not in problem.message


def test_unknown_key_is_named_unknown(store: KeyStore) -> None:
    problem = store.check("ek_not-one-of-ours-1234567890", Flow.GA_AZURE)
    assert isinstance(problem, KeyProblem) and problem.code == "invalid_api_key"
    assert "/openai/v1/realtime/client_secrets" in problem.message  # how to get one for this flow
    assert "ek_not-one" not in problem.message


@pytest.mark.parametrize(
    ("minted_for", "used_for"),
    [
        (Flow.GA_OPENAI, Flow.PREVIEW_OPENAI),
        (Flow.PREVIEW_OPENAI, Flow.GA_OPENAI),
        (Flow.GA_OPENAI, Flow.GA_AZURE),
        (Flow.PREVIEW_AZURE, Flow.PREVIEW_OPENAI),
    ],
)
def test_a_key_opens_only_its_own_flow(store: KeyStore, minted_for: Flow, used_for: Flow) -> None:
    minted = store.mint(minted_for, {}, 60)
    problem = store.check(minted.value, used_for)
    assert isinstance(problem, KeyProblem) and problem.code == "wrong_api_key_flow"
    assert minted_for.title in problem.message and used_for.title in problem.message
    assert minted.value not in problem.message
    assert isinstance(store.check(minted.value, minted_for), KeyGrant)  # still good where it belongs


def test_the_cap_refuses_with_the_wait_and_frees_as_keys_expire(store: KeyStore, clock: Clock) -> None:
    for seconds in (100, 200, 300, 400, 500):
        store.mint(Flow.GA_OPENAI, None, seconds)
    with pytest.raises(KeyStoreFull) as full:
        store.mint(Flow.GA_OPENAI, None, 60)
    assert full.value.max_live == 5
    assert full.value.retry_after_s == 100  # the first key expires 100 s after 1_800_000_000
    assert "5 live ephemeral keys" in str(full.value)
    clock.now += 100
    assert len(store) == 4
    store.mint(Flow.GA_OPENAI, None, 60)  # room again
    assert len(store) == 5


def test_expired_keys_are_purged_and_memory_stays_bounded(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ephemeral_keys, "_REMEMBERED_EXPIRED", 3)
    store = KeyStore(clock=clock, max_live=2)
    values = []
    for _ in range(10):
        values.append(store.mint(Flow.GA_OPENAI, SESSION, 10).value)
        clock.now += 11
    assert len(store) == 0 and len(store._live) == 0 and len(store._expiries) == 0
    assert len(store._expired) == 3
    assert store.check(values[-1], Flow.GA_OPENAI).code == "expired_api_key"  # type: ignore[union-attr]
    assert store.check(values[0], Flow.GA_OPENAI).code == "invalid_api_key"  # type: ignore[union-attr]


def test_the_session_a_key_carries_cannot_be_changed_through_a_copy(store: KeyStore) -> None:
    session = {"type": "realtime", "audio": {"output": {"voice": "marin"}}}
    minted = store.mint(Flow.GA_OPENAI, session, 60)
    session["audio"]["output"]["voice"] = "changed-by-the-caller"
    copy = minted.grant.session_copy()
    assert copy is not None and copy["audio"]["output"]["voice"] == "marin"
    copy["audio"]["output"]["voice"] = "changed-by-a-registry"
    assert minted.grant.session_copy() == {"type": "realtime", "audio": {"output": {"voice": "marin"}}}


def test_bad_arguments_are_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="max_live"):
        KeyStore(clock=clock, max_live=0)
    with pytest.raises(ValueError, match="lifetime_s"):
        KeyStore(clock=clock).mint(Flow.GA_OPENAI, None, 0)
