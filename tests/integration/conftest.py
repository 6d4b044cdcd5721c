"""Shared fixtures for the engine's integration tests: running engines, SDK schema checks, order checks.

Every event an engine test receives goes through `EventChecker`, which validates it (strictly)
against the openai SDK's server-event model of its dialect and keeps it for the order rules of
/work/shared/protocol/sequences*.md.
"""

from __future__ import annotations

import asyncio
import json
import typing
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from realtime_nb.protocol.dialect import Dialect

RECV_TIMEOUT_S = 60.0  # generous: the first turn of a run may load models on 2 cores


# --------------------------------------------------------------------------------------------------
# SDK models


def _union_members(union: Any) -> tuple[type[BaseModel], ...]:
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return typing.get_args(union)


def _by_type(union: Any) -> dict[str, type[BaseModel]]:
    table: dict[str, type[BaseModel]] = {}
    for model in _union_members(union):
        for literal in typing.get_args(model.model_fields["type"].annotation):
            table[literal] = model
    return table


_Tables = dict[Dialect, dict[str, type[BaseModel]]]


def _sdk_tables() -> tuple[_Tables, _Tables]:
    import openai.types.beta.realtime as beta
    import openai.types.realtime as ga

    server = {
        Dialect.GA: _by_type(ga.RealtimeServerEvent),
        Dialect.PREVIEW: _by_type(beta.RealtimeServerEvent),
    }
    client = {
        Dialect.GA: _by_type(ga.RealtimeClientEvent),
        Dialect.PREVIEW: _by_type(beta.RealtimeClientEvent),
    }
    return server, client


SERVER_MODELS, CLIENT_MODELS = _sdk_tables()


def _preview_transcription_session(event: dict[str, Any]) -> BaseModel:
    """A preview `transcription_session.created` / `.updated`, against the beta SDK's
    `TranscriptionSessionUpdatedEvent`. Two allowances, both the SDK's own inconsistencies:
    `.created` is not in the beta union (the service sends it first on an ?intent=transcription
    connection, with the same session object), and the model requires `session.client_secret`
    while its docstring says the key "is not present when a session is updated via the WebSocket
    API" (the engine never puts a key in an event). Everything else is validated strictly."""
    from openai.types.beta.realtime import TranscriptionSessionUpdatedEvent

    session = event.get("session")
    assert isinstance(session, dict), event
    assert "client_secret" not in session, "a key in a WebSocket event"
    stand_in = {"value": "", "expires_at": 0}  # only to satisfy the required field
    shaped = {
        **event,
        "type": "transcription_session.updated",
        "session": {**session, "client_secret": stand_in},
    }
    try:
        return TranscriptionSessionUpdatedEvent.model_validate(shaped, strict=True)
    except ValidationError as exc:
        raise AssertionError(f"preview {event['type']} fails the SDK model: {exc}\n{_short(event)}") from exc


def validate_event(event: dict[str, Any], dialect: Dialect, *, direction: str = "server") -> BaseModel:
    """Strictly validate one wire event against the SDK model its `type` names; AssertionError if not."""
    preview_session = ("transcription_session.created", "transcription_session.updated")
    if dialect is Dialect.PREVIEW and direction == "server" and event.get("type") in preview_session:
        return _preview_transcription_session(event)
    table = (SERVER_MODELS if direction == "server" else CLIENT_MODELS)[dialect]
    model = table.get(event.get("type", ""))
    assert model is not None, f"{event.get('type')!r} is not a {dialect.value} {direction} event: {event}"
    try:
        return model.model_validate(event, strict=True)
    except ValidationError as exc:
        what = f"{dialect.value} {event['type']}"
        raise AssertionError(f"{what} fails the SDK model: {exc}\n{_short(event)}") from exc


def _short(event: dict[str, Any]) -> str:
    text = json.dumps(event)
    return text if len(text) < 600 else text[:600] + "…"


# --------------------------------------------------------------------------------------------------
# Receiving and checking


class EventChecker:
    """Collects validated server events of one connection and checks the order rules on demand."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.events: list[dict[str, Any]] = []

    def add(self, raw: str | bytes) -> dict[str, Any]:
        event = json.loads(raw)
        validate_event(event, self.dialect)
        self.events.append(event)
        return event

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in types]

    def name(self, canonical: str) -> str:
        """The wire name of a canonical (GA) event type in this checker's dialect."""
        from realtime_nb.protocol.dialect import wire_type

        wire = wire_type(canonical, self.dialect)
        assert wire is not None, f"{canonical} does not exist in {self.dialect.value}"
        return wire

    def check_order(self, *, complete: bool = True) -> None:
        """The invariants of sequences.md / sequences-ga.md over everything received so far.

        complete=True also demands that every opened response / item / part has been closed.
        """
        events = self.events
        from realtime_nb.protocol.dialect import canonical_type

        first = canonical_type(events[0]["type"], self.dialect) if events else None
        assert first == "session.created", "session.created (or preview transcription_session.created) first"
        ga = self.dialect is Dialect.GA
        item_added = "conversation.item.added" if ga else "conversation.item.created"

        # committed precedes the creation of the item it names
        created_at = {}
        for index, event in enumerate(events):
            if event["type"] == item_added:
                created_at.setdefault(event["item"]["id"], index)
        for index, event in enumerate(events):
            if event["type"] == "input_audio_buffer.committed":
                item_id = event["item_id"]
                assert item_id in created_at or not complete, f"committed {item_id} never created"
                if item_id in created_at:
                    assert index < created_at[item_id], f"{item_id}: committed after the item was created"

        # every response opens with response.created and closes with exactly one response.done
        seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for index, event in enumerate(events):
            response_id = event.get("response_id") or (
                event["response"]["id"] if event["type"] in ("response.created", "response.done") else None
            )
            if response_id:
                seen[response_id].append((index, event["type"]))
        for response_id, rows in seen.items():
            types = [t for _, t in rows]
            assert types[0] == "response.created", f"{response_id} opens with {types[0]}"
            assert types.count("response.created") == 1, f"{response_id}: several response.created"
            assert types.count("response.done") <= 1, f"{response_id}: several response.done"
            if complete or "response.done" in types:
                assert types[-1] == "response.done", f"{response_id}: {types[-1]} after done, or no done"

        # each .added has its .done (and never a .done without .added)
        def keys(kind: str) -> Counter[tuple[Any, ...]]:
            counter: Counter[tuple[Any, ...]] = Counter()
            for event in events:
                if event["type"] == kind:
                    if kind.startswith("response.output_item"):
                        counter[(event["response_id"], event["item"]["id"])] += 1
                    elif kind.startswith("response.content_part"):
                        counter[(event["item_id"], event["content_index"])] += 1
                    else:
                        counter[(event["item"]["id"],)] += 1
            return counter

        pairs = [("response.output_item.added", "response.output_item.done")]
        pairs.append(("response.content_part.added", "response.content_part.done"))
        if ga:
            pairs.append(("conversation.item.added", "conversation.item.done"))
        for opened, closed in pairs:
            added, done = keys(opened), keys(closed)
            for key, count in done.items():
                assert added[key] >= count, f"{closed} {key} without {opened}"
            if complete:
                assert added == done, (
                    f"{opened}/{closed} unmatched: {added - done} open, {done - added} extra"
                )


async def recv_until(
    recv: Callable[[], typing.Awaitable[str | bytes]],
    checker: EventChecker,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = RECV_TIMEOUT_S,
) -> dict[str, Any]:
    """Receive (and check) events until one satisfies `until`; returns it."""

    async def _loop() -> dict[str, Any]:
        while True:
            event = checker.add(await recv())
            if until(event):
                return event

    return await asyncio.wait_for(_loop(), timeout)


def of_type(*types: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["type"] in types


# --------------------------------------------------------------------------------------------------
# Engines


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    """One engine with the real models for the whole run (models load once per process)."""
    from realtime_nb.engine import start_engine

    with start_engine() as running:
        yield running


@pytest.fixture(scope="session")
def token_engine() -> Iterator[Any]:
    """An engine that requires the token ``tok-secret-123``."""
    from realtime_nb.engine import start_engine

    with start_engine(token="tok-secret-123") as running:
        yield running


# --------------------------------------------------------------------------------------------------
# Helpers as fixtures (test modules here are not a package, so they cannot import this file)


@pytest.fixture(scope="session")
def validate() -> Callable[..., BaseModel]:
    """`validate(event, dialect, direction="server")`: strict SDK validation (see `validate_event`)."""
    return validate_event


@pytest.fixture(scope="session")
def checker() -> Callable[[Dialect], EventChecker]:
    """`checker(dialect)`: a fresh `EventChecker` for one connection."""
    return EventChecker


@pytest.fixture(scope="session")
def receive() -> Callable[..., Any]:
    """`await receive(recv, checker, until, timeout=…)`: see `recv_until`."""
    return recv_until


# --------------------------------------------------------------------------------------------------
# Peers: an official openai SDK connection plus a checker


class Peer:
    """One SDK connection: sends validated client events, receives and checks every server event."""

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.log = EventChecker(dialect)

    @property
    def ga(self) -> bool:
        return self.dialect is Dialect.GA

    def name(self, canonical: str) -> str:
        return self.log.name(canonical)

    async def send(self, event: dict[str, Any]) -> None:
        validate_event(event, self.dialect, direction="client")
        await self.conn.send(event)

    async def expect(
        self,
        canonical: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        *,
        timeout: float = RECV_TIMEOUT_S,
    ) -> dict[str, Any]:
        """The next event of that (canonical) type matching `where`; everything before it is kept."""
        wanted = self.name(canonical)
        return await recv_until(
            self.conn.recv_bytes,
            self.log,
            lambda e: e["type"] == wanted and (where is None or where(e)),
            timeout=timeout,
        )

    async def error(self, event_id: str | None) -> dict[str, Any]:
        """The next `error` event, which must name `event_id`."""
        event = await self.expect("error")
        assert event["error"].get("event_id") == event_id, event
        assert event["error"]["message"], event
        return event["error"]

    async def still_works(self) -> None:
        """A follow-up request is answered: the session survived whatever came before."""
        await self.send({"type": "input_audio_buffer.clear", "event_id": "evt_alive"})
        await self.expect("input_audio_buffer.cleared")


PEER_KINDS = ("ga", "preview", "azure-preview", "azure-ga")


def _open(engine: Any, kind: str) -> tuple[Any, Dialect]:
    from openai import AsyncAzureOpenAI, AsyncOpenAI

    if kind == "ga":
        client = AsyncOpenAI(api_key="sk-local", websocket_base_url=engine.websocket_base_url)
        return client.realtime.connect(model="gpt-realtime"), Dialect.GA
    if kind == "preview":
        client = AsyncOpenAI(api_key="sk-local", websocket_base_url=engine.websocket_base_url)
        return client.beta.realtime.connect(model="gpt-4o-realtime-preview"), Dialect.PREVIEW
    if kind == "azure-preview":
        client = AsyncAzureOpenAI(
            api_key="az-local",
            api_version="2025-04-01-preview",
            azure_endpoint="https://example-resource.openai.azure.com",
            websocket_base_url=engine.azure_websocket_base_url,
        )
        return client.realtime.connect(model="my-deployment"), Dialect.PREVIEW
    if kind == "azure-ga":
        client = AsyncOpenAI(api_key="az-local", websocket_base_url=engine.url + "/openai/v1")
        return client.realtime.connect(model="my-deployment"), Dialect.GA
    raise ValueError(kind)


@pytest.fixture
def open_peer() -> Callable[[Any, str], Any]:
    """`async with open_peer(engine, kind) as peer:` — kind in PEER_KINDS; session.created is consumed."""
    import contextlib

    @contextlib.asynccontextmanager
    async def _peer(engine: Any, kind: str) -> Any:
        manager, dialect = _open(engine, kind)
        async with manager as conn:
            peer = Peer(conn, dialect)
            await peer.expect("session.created")
            yield peer

    return _peer
