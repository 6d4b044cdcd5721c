"""The error sent instead of a server event too large for a call's data channel names its asker."""

from __future__ import annotations

import json

from realtime_nb.engine.channel_oversize import RetrieveLedger, too_large_error


def _retrieve(item_id: object, event_id: object) -> str:
    return json.dumps({"type": "conversation.item.retrieve", "item_id": item_id, "event_id": event_id})


def _retrieved(item_id: str) -> str:
    return json.dumps({"type": "conversation.item.retrieved", "event_id": "ev_s", "item": {"id": item_id}})


def test_the_error_carries_the_event_id_of_the_retrieve_it_answers_once() -> None:
    ledger = RetrieveLedger()
    ledger.note(_retrieve("item_1", "ev_first"))
    ledger.note(_retrieve("item_1", "ev_again"))  # the latest retrieve of an item is the one answered
    ledger.note(json.dumps({"type": "response.create", "event_id": "ev_other"}))
    error = too_large_error(_retrieved("item_1"), ValueError("too big"), "rtc_x", ledger)
    assert error["type"] == "error" and error["error"]["code"] == "event_too_large"
    assert error["error"]["event_id"] == "ev_again" and "?call_id=rtc_x" in error["error"]["message"]
    again = too_large_error(_retrieved("item_1"), ValueError("x"), "rtc_x", ledger)
    assert again["error"]["event_id"] is None  # answered once: a second reply has no asker


def test_malformed_retrieves_are_ignored_and_old_ones_forgotten() -> None:
    ledger = RetrieveLedger()
    bad = ("{not json", _retrieve({"a": 1}, "ev_1"), _retrieve("item_1", 7), '"conversation.item.retrieve"')
    for text in bad:
        ledger.note(text)
    assert ledger.answered(json.loads(_retrieved("item_1"))) is None
    for i in range(100):
        ledger.note(_retrieve(f"item_{i}", f"ev_{i}"))
    assert ledger.answered(json.loads(_retrieved("item_0"))) is None  # forgotten: bounded memory
    assert ledger.answered(json.loads(_retrieved("item_99"))) == "ev_99"
