"""The event-order invariants of ``sequences.md`` §0 and ``sequences-ga.md`` §0, as a checker.

:func:`check_order` takes the server events of one connection in the order they arrived (dicts of
either dialect, wire or canonical: types are canonicalised here) and returns every invariant they
break as an :class:`OrderViolation` (an empty list when all hold). It knows nothing of sockets or of
the engine, so the same check runs on the engine's output in unit tests, on every integration-test
session, and on a session recorded against the cloud service (``EventLog.check_order()`` feeds it
the log's received events and labels each violation with the row's ``seq``).

:func:`assert_order` raises AssertionError listing them; :func:`order_violations` gives the messages
alone. Invariants checked (numbers of ``sequences.md`` §0, GA changes in brackets):

* ``first``: ``session.created`` is the first server event (1).
* ``response``: every response opens with ``response.created`` (``in_progress``, ``usage`` null) and
  closes with exactly one ``response.done``; events naming it come in between (2).
  ``output_audio_buffer.*`` is exempt: on WebRTC the server plays the audio out, and playback ends
  after the response finished generating it.
* ``output_item``: ``output_item.added`` .. ``.done`` bracket the item's events; indices 0, 1, ... (3, 6, 7).
* ``content_part``: ``content_part.added`` .. ``.done`` bracket the part's deltas and ``*.done``;
  no delta after its ``*.done``; indices 0, 1, ... (4, 5, 6, 7).
* ``item``: a committed item is added after ``input_audio_buffer.committed`` (9) [GA 5]; a
  transcription event follows its item's ``.added`` (10); [GA 2: exactly one
  ``conversation.item.done`` per added item, after it; GA 7: out-of-band items stay out of the
  conversation].
* ``rate_limits``: one ``rate_limits.updated`` per response (11).
* ``transcript``: an item's input transcription ends once, with ``.completed`` or ``.failed``, and
  no ``.delta`` of it follows that end (what a captions reader relies on).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from realtime_nb.protocol.dialect import Dialect, canonical_type

__all__ = ["OrderViolation", "assert_order", "check_order", "order_violations"]

_PART_DELTAS = (
    "response.output_text.delta",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
)
_PART_DONES = (
    "response.output_text.done",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
)
_TRANSCRIPTION = (
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
)
# Playback outlives generation: these carry a response_id but may follow its response.done.
_AFTER_RESPONSE_PREFIX = "output_audio_buffer."

_Event = tuple[int, str, Mapping[str, Any]]  # (position, canonical type, event)


@dataclass(frozen=True)
class OrderViolation:
    """One broken invariant: which one (`rule`, see the module docstring), the position of the event
    that shows it (`at`: index in the list given, or the log's seq; None for a whole-session
    count) and what is wrong in plain words (`message`, also the str())."""

    rule: str
    at: int | None
    message: str

    def __str__(self) -> str:
        return self.message


def check_order(
    events: Iterable[Mapping[str, Any]],
    dialect: Dialect | str,
    *,
    positions: Sequence[int] | None = None,
) -> list[OrderViolation]:
    """Every §0 invariant the server events break, in plain words, in the order checked.

    `events` are the server events of one connection as received (client events do not belong
    here). `positions` labels them in the messages (default 0, 1, ...), e.g. with EventLog seqs;
    they must ascend, since "before" and "after" are read from them.
    """
    dialect = Dialect(dialect)
    listed = list(events)
    labels = range(len(listed)) if positions is None else list(positions)
    if len(labels) != len(listed):
        raise ValueError(f"{len(labels)} positions for {len(listed)} events")
    evs = [(at, canonical_type(str(e.get("type")), dialect), e) for at, e in zip(labels, listed, strict=True)]
    bad: list[OrderViolation] = []
    if not evs or evs[0][1] != "session.created":
        first, at = (evs[0][1], evs[0][0]) if evs else ("missing", None)
        bad.append(OrderViolation("first", at, f"first event is {first}, not session.created"))
    bad += _response_brackets(evs)
    bad += _output_items(evs)
    bad += _content_parts(evs)
    bad += _items_and_commits(evs, dialect)
    bad += _transcripts(evs)
    n_responses = sum(1 for _, t, _ in evs if t == "response.created")
    n_limits = sum(1 for _, t, _ in evs if t == "rate_limits.updated")
    if n_limits != n_responses:
        message = f"{n_limits} rate_limits.updated for {n_responses} responses (want one per response)"
        bad.append(OrderViolation("rate_limits", None, message))
    return bad


def order_violations(events: Iterable[Mapping[str, Any]], dialect: Dialect | str) -> list[str]:
    """The messages of `check_order` alone (for asserts and printing)."""
    return [v.message for v in check_order(events, dialect)]


def assert_order(events: Iterable[Mapping[str, Any]], dialect: Dialect | str) -> None:
    """Raise AssertionError listing every violated invariant."""
    bad = order_violations(events, dialect)
    if bad:
        raise AssertionError("event order violations:\n  " + "\n  ".join(bad))


def _obj(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    return value if isinstance(value, Mapping) else {}


def _response_brackets(evs: list[_Event]) -> list[OrderViolation]:
    bad: list[OrderViolation] = []

    def flag(at: int | None, message: str) -> None:
        bad.append(OrderViolation("response", at, message))

    created: dict[Any, int] = {}
    done: dict[Any, list[int]] = defaultdict(list)
    for i, t, e in evs:
        if t == "response.created":
            resp = _obj(e, "response")
            rid = resp.get("id")
            if rid in created:
                flag(i, f"response {rid} created twice")
            created[rid] = i
            if resp.get("status") != "in_progress" or resp.get("usage") is not None:
                flag(i, f"response.created of {rid} has status {resp.get('status')!r} / usage not null")
        elif t == "response.done":
            done[_obj(e, "response").get("id")].append(i)
    for rid, at in created.items():
        if len(done[rid]) != 1:
            flag(at, f"response {rid} has {len(done[rid])} response.done (want exactly 1)")
    for rid, ats in done.items():
        if rid not in created:
            flag(ats[0], f"response.done for {rid} without response.created")
    for i, t, e in evs:
        rid = e.get("response_id")
        if rid is None or t in ("response.created", "response.done") or t.startswith(_AFTER_RESPONSE_PREFIX):
            continue
        start, ends = created.get(rid), done.get(rid, [])
        if start is None or i < start or (ends and i > ends[0]):
            flag(i, f"{t} #{i} of response {rid} outside its response.created .. response.done")
    return bad


def _output_items(evs: list[_Event]) -> list[OrderViolation]:
    bad: list[OrderViolation] = []

    def flag(at: int | None, message: str) -> None:
        bad.append(OrderViolation("output_item", at, message))

    added: dict[tuple[Any, Any], int] = {}
    finished: dict[tuple[Any, Any], int] = {}
    indices: dict[Any, list[Any]] = defaultdict(list)
    for i, t, e in evs:
        key = (e.get("response_id"), e.get("output_index"))
        if t == "response.output_item.added":
            added[key] = i
            indices[key[0]].append(key[1])
        elif t == "response.output_item.done":
            if key in finished:
                flag(i, f"output item {key} done twice")
            finished[key] = i
    for key, at in added.items():
        if key not in finished:
            flag(at, f"output item {key} added but never done")
    for rid, idx in indices.items():
        if idx != list(range(len(idx))):
            flag(added[(rid, idx[-1])], f"output_index of response {rid} runs {idx}, not 0, 1, ...")
    for i, t, e in evs:
        if t in ("response.output_item.added", "response.output_item.done") or e.get("output_index") is None:
            continue
        key = (e.get("response_id"), e.get("output_index"))
        if key[0] is None or t.startswith(_AFTER_RESPONSE_PREFIX):
            continue
        if key not in added or i < added[key] or (key in finished and i > finished[key]):
            flag(i, f"{t} #{i} for output item {key} outside its output_item.added .. done")
    return bad


def _content_parts(evs: list[_Event]) -> list[OrderViolation]:
    bad: list[OrderViolation] = []

    def flag(at: int | None, message: str) -> None:
        bad.append(OrderViolation("content_part", at, message))

    added: dict[tuple[Any, Any], int] = {}
    part_done: dict[tuple[Any, Any], int] = {}
    kind_done: dict[tuple[Any, Any, str], int] = {}
    per_item: dict[Any, list[Any]] = defaultdict(list)
    for i, t, e in evs:
        key = (e.get("item_id"), e.get("content_index"))
        if t == "response.content_part.added":
            added[key] = i
            per_item[key[0]].append(key[1])
        elif t == "response.content_part.done":
            part_done[key] = i
            if key not in added or added[key] > i:
                flag(i, f"content_part.done #{i} for {key} before its content_part.added")
        elif t in _PART_DONES:
            kind_done[(*key, t.rsplit(".", 1)[0])] = i
            if key in part_done:
                flag(i, f"{t} #{i} for {key} after content_part.done")
        elif t in _PART_DELTAS:
            if key not in added:
                flag(i, f"{t} #{i} for {key} before content_part.added")
            if (*key, t.rsplit(".", 1)[0]) in kind_done or key in part_done:
                flag(i, f"{t} #{i} for {key} after its .done")
    for key, at in added.items():
        if key not in part_done:
            flag(at, f"content part {key} added but never done")
    for item, idx in per_item.items():
        if idx != list(range(len(idx))):
            flag(added[(item, idx[-1])], f"content_index of item {item} runs {idx}, not 0, 1, ...")
    return bad


def _items_and_commits(evs: list[_Event], dialect: Dialect) -> list[OrderViolation]:
    bad: list[OrderViolation] = []

    def flag(at: int | None, message: str) -> None:
        bad.append(OrderViolation("item", at, message))

    item_added: dict[Any, int] = {}
    item_done: Counter[Any] = Counter()
    committed: dict[Any, int] = {}
    out_of_band: set[Any] = set()
    oob_items: set[Any] = set()
    for i, t, e in evs:
        if t == "response.created" and "conversation_id" in _obj(e, "response"):
            if e["response"]["conversation_id"] is None:
                out_of_band.add(e["response"].get("id"))
        elif t == "response.output_item.added" and e.get("response_id") in out_of_band:
            oob_items.add(_obj(e, "item").get("id"))
        elif t == "input_audio_buffer.committed":
            committed[e.get("item_id")] = i
        elif t == "conversation.item.added":
            iid = _obj(e, "item").get("id")
            item_added.setdefault(iid, i)
            if iid in oob_items:
                flag(i, f"out-of-band item {iid} entered the conversation (#{i})")
        elif t == "conversation.item.done":
            iid = _obj(e, "item").get("id")
            item_done[iid] += 1
            if iid not in item_added:
                flag(i, f"conversation.item.done #{i} for {iid} before its conversation.item.added")
            if iid in oob_items:
                flag(i, f"out-of-band item {iid} got conversation.item.done (#{i})")
        elif t in _TRANSCRIPTION:
            iid = e.get("item_id")
            if iid not in item_added or item_added[iid] > i:
                flag(i, f"{t} #{i} for {iid} before the item was added")
    for iid, at in committed.items():
        if iid not in item_added:
            flag(at, f"committed item {iid} never added to the conversation")
        elif item_added[iid] < at:
            flag(item_added[iid], f"item {iid} added before input_audio_buffer.committed")
    if dialect is Dialect.GA:
        for iid, at in item_added.items():
            if item_done[iid] != 1:
                flag(at, f"item {iid} has {item_done[iid]} conversation.item.done (want exactly 1)")
    return bad


def _transcripts(evs: list[_Event]) -> list[OrderViolation]:
    bad: list[OrderViolation] = []
    ended: dict[Any, tuple[int, str]] = {}
    for i, t, e in evs:
        if t not in _TRANSCRIPTION[:3]:
            continue
        iid, kind = e.get("item_id"), t.rsplit(".", 1)[1]
        if iid in ended:
            at, how = ended[iid]
            bad.append(
                OrderViolation("transcript", i, f"{t} #{i} for {iid} after its transcription {how} (#{at})")
            )
        elif kind != "delta":
            ended[iid] = (i, kind)
    return bad
