"""Checks of the event-order invariants of ``sequences.md`` §0 and ``sequences-ga.md`` §0.

Give :func:`order_violations` the server events of one connection, as received (wire dicts of either
dialect); it returns a list of human-readable violations (empty when all hold).
:func:`assert_order` raises AssertionError with all of them. Shared by the engine's unit tests and the
integration tests, and usable on a recorded session against the cloud service.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from realtime_nb.protocol.dialect import Dialect, canonical_type

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


def order_violations(events: Iterable[Mapping[str, Any]], dialect: Dialect | str) -> list[str]:
    """Every §0 invariant the event list breaks, in plain words."""
    dialect = Dialect(dialect)
    evs = [(i, canonical_type(str(e.get("type")), dialect), e) for i, e in enumerate(events)]
    bad: list[str] = []
    if not evs or evs[0][1] != "session.created":
        bad.append(f"first event is {evs[0][1] if evs else 'missing'}, not session.created")
    bad += _response_brackets(evs)
    bad += _output_items(evs)
    bad += _content_parts(evs)
    bad += _items_and_commits(evs, dialect)
    n_responses = sum(1 for _, t, _ in evs if t == "response.created")
    n_limits = sum(1 for _, t, _ in evs if t == "rate_limits.updated")
    if n_limits != n_responses:
        bad.append(f"{n_limits} rate_limits.updated for {n_responses} responses (want one per response)")
    return bad


def assert_order(events: Iterable[Mapping[str, Any]], dialect: Dialect | str) -> None:
    """Raise AssertionError listing every violated invariant."""
    bad = order_violations(list(events), dialect)
    if bad:
        raise AssertionError("event order violations:\n  " + "\n  ".join(bad))


def _response_brackets(evs: list[tuple[int, str, Mapping[str, Any]]]) -> list[str]:
    bad: list[str] = []
    created: dict[str, int] = {}
    done: dict[str, list[int]] = defaultdict(list)
    for i, t, e in evs:
        if t == "response.created":
            resp = e.get("response", {})
            rid = resp.get("id")
            if rid in created:
                bad.append(f"response {rid} created twice")
            created[rid] = i
            if resp.get("status") != "in_progress" or resp.get("usage") is not None:
                bad.append(f"response.created of {rid} has status {resp.get('status')!r} / usage not null")
        elif t == "response.done":
            done[e.get("response", {}).get("id")].append(i)
    for rid, _at in created.items():
        if len(done[rid]) != 1:
            bad.append(f"response {rid} has {len(done[rid])} response.done (want exactly 1)")
    for rid, _ats in done.items():
        if rid not in created:
            bad.append(f"response.done for {rid} without response.created")
    for i, t, e in evs:
        rid = e.get("response_id")
        if rid is None or t in ("response.created", "response.done"):
            continue
        start, ends = created.get(rid), done.get(rid, [])
        if start is None or i < start or (ends and i > ends[0]):
            bad.append(f"{t} #{i} of response {rid} outside its response.created .. response.done")
    return bad


def _output_items(evs: list[tuple[int, str, Mapping[str, Any]]]) -> list[str]:
    bad: list[str] = []
    added: dict[tuple[str, int], int] = {}
    finished: dict[tuple[str, int], int] = {}
    indices: dict[str, list[int]] = defaultdict(list)
    for i, t, e in evs:
        key = (e.get("response_id"), e.get("output_index"))
        if t == "response.output_item.added":
            added[key] = i
            indices[key[0]].append(key[1])
        elif t == "response.output_item.done":
            if key in finished:
                bad.append(f"output item {key} done twice")
            finished[key] = i
    for key, _at in added.items():
        if key not in finished:
            bad.append(f"output item {key} added but never done")
    for rid, idx in indices.items():
        if idx != list(range(len(idx))):
            bad.append(f"output_index of response {rid} runs {idx}, not 0, 1, ...")
    for i, t, e in evs:
        if t in ("response.output_item.added", "response.output_item.done") or e.get("output_index") is None:
            continue
        key = (e.get("response_id"), e.get("output_index"))
        if key[0] is None:
            continue
        if key not in added or i < added[key] or (key in finished and i > finished[key]):
            bad.append(f"{t} #{i} for output item {key} outside its output_item.added .. done")
    return bad


def _content_parts(evs: list[tuple[int, str, Mapping[str, Any]]]) -> list[str]:
    bad: list[str] = []
    added: dict[tuple[str, int], int] = {}
    part_done: dict[tuple[str, int], int] = {}
    kind_done: dict[tuple[str, int, str], int] = {}
    per_item: dict[str, list[int]] = defaultdict(list)
    for i, t, e in evs:
        key = (e.get("item_id"), e.get("content_index"))
        if t == "response.content_part.added":
            added[key] = i
            per_item[key[0]].append(key[1])
        elif t == "response.content_part.done":
            part_done[key] = i
            if key not in added or added[key] > i:
                bad.append(f"content_part.done #{i} for {key} before its content_part.added")
        elif t in _PART_DONES:
            kind_done[(*key, t.rsplit(".", 1)[0])] = i
            if key in part_done:
                bad.append(f"{t} #{i} for {key} after content_part.done")
        elif t in _PART_DELTAS:
            if key not in added:
                bad.append(f"{t} #{i} for {key} before content_part.added")
            if (*key, t.rsplit(".", 1)[0]) in kind_done or key in part_done:
                bad.append(f"{t} #{i} for {key} after its .done")
    for key in added:
        if key not in part_done:
            bad.append(f"content part {key} added but never done")
    for item, idx in per_item.items():
        if idx != list(range(len(idx))):
            bad.append(f"content_index of item {item} runs {idx}, not 0, 1, ...")
    return bad


def _items_and_commits(evs: list[tuple[int, str, Mapping[str, Any]]], dialect: Dialect) -> list[str]:
    bad: list[str] = []
    item_added: dict[str, int] = {}
    item_done: Counter[str] = Counter()
    committed: dict[str, int] = {}
    out_of_band: set[str] = set()
    oob_items: set[str] = set()
    for i, t, e in evs:
        if t == "response.created" and "conversation_id" in e.get("response", {}):
            if e["response"]["conversation_id"] is None:
                out_of_band.add(e["response"].get("id"))
        elif t == "response.output_item.added" and e.get("response_id") in out_of_band:
            oob_items.add(e.get("item", {}).get("id"))
        elif t == "input_audio_buffer.committed":
            committed[e.get("item_id")] = i
        elif t == "conversation.item.added":
            iid = e.get("item", {}).get("id")
            item_added.setdefault(iid, i)
            if iid in oob_items:
                bad.append(f"out-of-band item {iid} entered the conversation (#{i})")
        elif t == "conversation.item.done":
            iid = e.get("item", {}).get("id")
            item_done[iid] += 1
            if iid not in item_added:
                bad.append(f"conversation.item.done #{i} for {iid} before its conversation.item.added")
            if iid in oob_items:
                bad.append(f"out-of-band item {iid} got conversation.item.done (#{i})")
        elif t in _TRANSCRIPTION:
            iid = e.get("item_id")
            if iid not in item_added or item_added[iid] > i:
                bad.append(f"{t} #{i} for {iid} before the item was added")
    for iid, at in committed.items():
        if iid not in item_added:
            bad.append(f"committed item {iid} never added to the conversation")
        elif item_added[iid] < at:
            bad.append(f"item {iid} added before input_audio_buffer.committed")
    if dialect is Dialect.GA:
        for iid in item_added:
            if item_done[iid] != 1:
                bad.append(f"item {iid} has {item_done[iid]} conversation.item.done (want exactly 1)")
    return bad
