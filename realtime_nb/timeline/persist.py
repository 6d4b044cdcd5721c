"""Save / load an `EventLog` as one zip file, exactly (frame, tables and audio compare equal).

Layout (format version 1):

* ``meta.json``: format name and version, clock origins, row count, the decoding state needed to go
  on recording after a load. ``state`` (the audio formats and turn detection in force) is written for
  readers of this version and not read back: the session configuration is rebuilt from the rows.
* ``rows.jsonl``: one JSON object per row: the row's raw column values plus either its stripped
  ``payload`` or, for payload-free rows, its key ``shape`` and scalar ``extras``.
* ``audio/<store>.npy`` (int16, 24 kHz, all segments of the store end to end) and
  ``audio/<store>.json`` (segments: key, opening seq, offset, length; chunks: seq, segment, start, n).
* only for a WebRTC session: ``audio/track_{sent,received}.npy`` / ``.json``, the media-track audio
  (`realtime_nb.timeline.track_audio`). Optional entries: a file without them loads with no track
  audio, and an older reader of format 1 ignores them.

Payloads are already redacted when recorded, so the file holds no key; it holds no socket state either.
This module reads and writes a log's data (`Recorder`); it knows nothing of `EventLog` itself.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from realtime_nb._version import __version__
from realtime_nb.protocol import SemanticVad, ServerVad, SessionConfig
from realtime_nb.timeline.columns import DENSE_IDS, DIALECTS, DIRECTIONS, INT_COLUMNS, SPARSE, Shape
from realtime_nb.timeline.fields import FAMILIES
from realtime_nb.timeline.recorder import Recorder
from realtime_nb.timeline.stores import AudioStore
from realtime_nb.timeline.track_audio import TrackAudio

FORMAT_NAME = "realtime_nb.eventlog"
FORMAT_VERSION = 1
_TURN_DETECTION_TYPES = {ServerVad: "server_vad", SemanticVad: "semantic_vad"}


class LogFormatError(ValueError):
    """A file that `EventLog.load` cannot read (not a log, damaged, or from a newer version)."""


def _state(config: SessionConfig | None) -> dict[str, Any]:
    """The format-1 ``state`` entry (audio formats and turn detection in force)."""
    config = config or SessionConfig()
    td = config.turn_detection
    return {
        "input_format": config.input_format,
        "output_format": config.output_format,
        "turn_detection": None if td is None else _TURN_DETECTION_TYPES[type(td)],
        "silence_duration_ms": td.silence_duration_ms if isinstance(td, ServerVad) else None,
    }


def save(rec: Recorder, path: Path) -> Path:
    """Write a log's rows and audio to `path` (one zip file)."""
    cols = rec.cols
    n = len(cols)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "written_by": f"realtime_nb {__version__}",
        "rows": n,
        "start_ns": rec.start_ns,
        "wall_start_ns": rec.wall_start_ns,
        "state": _state(rec.session.current),
        "response_format": rec.response_format,
        "committed": sorted(rec.committed),
        "item_alias": rec.item_alias,
        "unnamed_items": rec.unnamed_items,
    }
    lines = []
    for seq in range(n):
        audio_ms = cols.audio_ms[seq]
        row: dict[str, Any] = {
            "t_ns": cols.t_ns[seq],
            "direction": DIRECTIONS[cols.direction[seq]],
            "dialect": DIALECTS[cols.dialect[seq]],
            "family": FAMILIES[cols.family[seq]],
            "type": cols.type_at(seq),
            "wire_type": cols.wire_type_at(seq),
            "audio_ms": None if math.isnan(audio_ms) else audio_ms,
        }
        for name in DENSE_IDS:
            row[name] = cols.dense[name][seq]
        for name in INT_COLUMNS:
            row[name] = cols.int_at(name, seq)
        sparse = {name: cols.sparse[name][seq] for name in SPARSE if seq in cols.sparse[name]}
        if sparse:
            row["sparse"] = sparse
        payload = cols.payload[seq]
        if isinstance(payload, dict):
            row["payload"] = payload
        else:
            shape, extras = (payload, ()) if isinstance(payload, Shape) else payload
            row["shape"] = list(shape.keys)
            row["extras"] = list(extras)
        lines.append(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.json", json.dumps(meta, indent=1))
        zf.writestr("rows.jsonl", "\n".join(lines) + ("\n" if lines else ""))
        for name, store in rec.stores().items():
            pcms = [seg.pcm() for seg in store.segments]
            index: dict[str, Any] = {
                "segments": [],
                "chunks": [
                    list(c)
                    for c in zip(
                        store.chunk_seq, store.chunk_segment, store.chunk_start, store.chunk_len, strict=True
                    )
                ],
                # measured on the wire audio: the saved audio is resampled, so it is kept as measured
                "peaks": [[seq, peak] for seq, peak in store.peaks().items()],
            }
            offset = 0
            for seg, pcm in zip(store.segments, pcms, strict=True):
                index["segments"].append([seg.key, seg.seq, offset, int(pcm.size)])
                offset += int(pcm.size)
            buffer = io.BytesIO()
            np.save(buffer, np.concatenate(pcms) if pcms else np.zeros(0, np.int16), allow_pickle=False)
            zf.writestr(f"audio/{name}.npy", buffer.getvalue())
            zf.writestr(f"audio/{name}.json", json.dumps(index))
        for name, data in rec.track.files().items():
            zf.writestr(name, data)
    return path


def load(path: Path) -> Recorder:
    """Read a file written by `save`; raises `LogFormatError` naming what is wrong."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LogFormatError(f"{path} is not an EventLog file: {exc}") from None
    with zf:
        try:
            meta = json.loads(zf.read("meta.json"))
        except (KeyError, ValueError) as exc:
            raise LogFormatError(f"{path} has no readable meta.json ({exc}); not an EventLog file") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise LogFormatError(f"{path} is not an EventLog file (format {meta.get('format')!r})")
        version = meta.get("format_version")
        if type(version) is not int or version > FORMAT_VERSION:
            raise LogFormatError(
                f"{path} uses EventLog format version {version!r}, written by {meta.get('written_by')}; "
                f"this realtime_nb {__version__} reads up to version {FORMAT_VERSION}: upgrade realtime_nb"
            )
        try:
            rec = Recorder(meta["start_ns"], meta["wall_start_ns"])
            _read_rows(rec, zf.read("rows.jsonl").decode("utf-8"))
            for name, store in rec.stores().items():
                _read_store(store, zf.read(f"audio/{name}.npy"), json.loads(zf.read(f"audio/{name}.json")))
            rec.track = TrackAudio.from_files(zf.read, set(zf.namelist()))
            rec.response_format = dict(meta["response_format"])
            rec.committed = set(meta["committed"])
            rec.item_alias = dict(meta["item_alias"])
            rec.unnamed_items = list(meta["unnamed_items"])
            rec.replay_session()
        except (KeyError, ValueError, TypeError) as exc:
            raise LogFormatError(f"{path} is damaged: {exc!r}") from None
    if len(rec.cols) != meta["rows"]:
        raise LogFormatError(f"{path} is damaged: {len(rec.cols)} rows read, meta says {meta['rows']}")
    return rec


def _read_rows(rec: Recorder, text: str) -> None:
    cols = rec.cols
    directions = {name: i for i, name in enumerate(DIRECTIONS)}
    dialects = {name: i for i, name in enumerate(DIALECTS)}
    families = {name: i for i, name in enumerate(FAMILIES)}
    for line in text.splitlines():
        row = json.loads(line)
        if "payload" in row:
            payload: Any = row["payload"]
        else:
            shape = rec.shape(tuple(row["shape"]))
            payload = (shape, tuple(row["extras"])) if row["extras"] else shape
        audio_ms = row["audio_ms"]
        cols.append(
            row["t_ns"],
            directions[row["direction"]],
            dialects[row["dialect"]],
            families[row["family"]],
            row["type"],
            row["wire_type"],
            tuple(row[name] for name in DENSE_IDS),  # type: ignore[arg-type]
            tuple(row[name] for name in INT_COLUMNS),  # type: ignore[arg-type]
            math.nan if audio_ms is None else float(audio_ms),
            row.get("sparse"),
            payload,
        )


def _read_store(store: AudioStore, npy: bytes, index: dict[str, Any]) -> None:
    pcm = np.load(io.BytesIO(npy), allow_pickle=False)
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"audio store holds {pcm.dtype} {pcm.shape}, expected 1-D int16")
    for key, seq, offset, length in index["segments"]:
        store.add_pcm(key, seq, pcm[offset : offset + length])
    for seq, segment, start, n in index["chunks"]:
        store.add_chunk(seq, segment, start, n)
    store.set_peaks({int(seq): int(peak) for seq, peak in index["peaks"]})
