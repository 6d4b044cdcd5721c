"""From rows (file x setting) to what a researcher reports: per-setting summaries with confidence
intervals over files, the Pareto front, the end-of-turn operating points, and the best setting.

Corpus-level rates are ratios of sums over files (as pyannote accumulates), never means of per-file
rates: a 2-turn file does not weigh as much as a 40-turn one. Summary columns:

* ``false_cut_rate`` = turns cut / turns; ``pause_cut_rate`` = labelled pauses holding a decision /
  labelled pauses; ``unended_rate`` = turns never ended on their own / turns;
* ``eot_latency_ms`` (median over every turn of the corpus) and ``eot_latency_mean_ms``;
  ``onset_delay_ms`` (median);
* ``false_starts_per_min`` = false starts per minute of audio;
* ``der``, ``precision``, ``recall``, ``f1`` from the summed detection components;
* ``stoi_input``, ``stoi_processed``, ``stoi_change``: means over the files that carry a clean
  reference (NaN when none does);
* ``response_latency_ms``: the median, over every turn answered, of true end of turn -> first
  response audio (live sweeps with ``responses=True``; NaN otherwise).

Confidence intervals (``*_lo`` / ``*_hi``, 95 % by default) come from a bootstrap over files: the
files are resampled with replacement and the ratio recomputed, ``n_boot`` times, with a fixed seed.

Operating points, as end-of-turn benchmarks report them: the lowest false-cut rate among settings
whose median end-of-turn latency is <= 300 / 600 ms, and the lowest latency among settings whose
false-cut rate is <= 5 % / 10 %; per turn-detection type, server_vad being the VAD-only baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from realtime_nb.sweeps.grid import INTEGER_MS, SWEPT, describe, session_options, setting_id
from realtime_nb.sweeps.run import SETTING_COLUMNS

MEAN_OVER_FILES = ("stoi_input", "stoi_processed", "stoi_change")

RATIOS: dict[str, tuple[str, str, float]] = {  # name: (numerator, denominator, scale)
    "false_cut_rate": ("turns_cut", "turns", 1.0),
    "pause_cut_rate": ("pause_cuts", "pauses", 1.0),
    "unended_rate": ("unended_turns", "turns", 1.0),
    "missed_rate": ("missed_turns", "turns", 1.0),
    "false_starts_per_min": ("false_starts", "audio_ms", 60000.0),
}
LATENCY_AT_MS = (300.0, 600.0)
FALSE_CUTS_AT = (0.05, 0.10)


def _ratio(num: np.ndarray, den: np.ndarray, scale: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, scale * num / np.where(den > 0, den, 1), np.nan)


def _pooled(lists: pd.Series) -> list[float]:
    return [float(v) for values in lists for v in (values if values is not None else [])]


def summarize(results: pd.DataFrame, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per setting (index ``setting_id``); see the module docstring for the columns."""
    if results.empty:
        raise ValueError("no results to summarize")
    files = sorted(results["file"].unique())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(files), size=(n_boot, len(files)))
    counts = np.stack([np.bincount(d, minlength=len(files)) for d in draws])  # (n_boot, n_files)
    alpha = (1 - ci) / 2
    rows = []
    for sid, group in results.groupby("setting_id", sort=False):
        g = group.set_index("file").reindex(files)
        present = g["turns"].notna().to_numpy()
        row: dict[str, Any] = {
            "setting_id": sid,
            **{c: group.iloc[0][c] for c in SETTING_COLUMNS if c in group},
        }
        row["files"] = int(present.sum())

        def col(name: str, g: pd.DataFrame = g) -> np.ndarray:
            return g[name].fillna(0).to_numpy(dtype=float)

        for name, (num, den, scale) in RATIOS.items():
            n, d = col(num), col(den)
            row[name] = float(_ratio(np.array(n.sum()), np.array(d.sum()), scale))
            boot = _ratio(counts @ n, counts @ d, scale)
            row[f"{name}_lo"], row[f"{name}_hi"] = _interval(boot, alpha)
        latencies = _pooled(group["eot_latencies_ms"])
        row["eot_latency_ms"] = float(np.median(latencies)) if latencies else math.nan
        sums = np.array([sum(v) if v is not None else 0.0 for v in g["eot_latencies_ms"]], dtype=float)
        lens = np.array([len(v) if v is not None else 0 for v in g["eot_latencies_ms"]], dtype=float)
        row["eot_latency_mean_ms"] = float(_ratio(np.array(sums.sum()), np.array(lens.sum()), 1.0))
        row["eot_latency_mean_ms_lo"], row["eot_latency_mean_ms_hi"] = _interval(
            _ratio(counts @ sums, counts @ lens, 1.0), alpha
        )
        onsets = _pooled(group["onset_delays_ms"])
        row["onset_delay_ms"] = float(np.median(onsets)) if onsets else math.nan
        parts = {k: col(k) for k in ("speech_ms", "detected_ms", "miss_ms", "false_alarm_ms")}
        row |= _detection_rates({k: float(v.sum()) for k, v in parts.items()})
        boot_der = _ratio(
            counts @ (parts["miss_ms"] + parts["false_alarm_ms"]), counts @ parts["speech_ms"], 1.0
        )
        row["der_lo"], row["der_hi"] = _interval(boot_der, alpha)
        for name in MEAN_OVER_FILES:
            values = g[name].to_numpy(dtype=float) if name in g else np.zeros(0)
            values = values[np.isfinite(values)]
            row[name] = float(values.mean()) if values.size else math.nan
        responses = _pooled(group["response_latencies_ms"]) if "response_latencies_ms" in group else []
        row["response_latency_ms"] = float(np.median(responses)) if responses else math.nan
        row["label"] = describe(setting_from(row))
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting_id")


def _detection_rates(parts: dict[str, float]) -> dict[str, float]:
    from realtime_nb.sweeps.metrics import rates

    return rates(parts)


def _interval(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    finite = boot[np.isfinite(boot)]
    if not finite.size:
        return math.nan, math.nan
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def _summary(results: pd.DataFrame) -> pd.DataFrame:
    return (
        results
        if "false_cut_rate" in results.columns and "file" not in results.columns
        else summarize(results)
    )


def pareto(summary: pd.DataFrame, x: str = "eot_latency_ms", y: str = "false_cut_rate") -> pd.DataFrame:
    """The settings no other setting beats on both ``x`` and ``y`` (lower is better), sorted by ``x``."""
    table = _summary(summary).dropna(subset=[x, y]).sort_values([x, y])
    keep, best = [], math.inf
    for sid, value in zip(table.index, table[y], strict=True):
        if value < best:
            keep.append(sid)
            best = value
    return table.loc[keep]


def operating_points(
    summary: pd.DataFrame,
    latencies_ms: Sequence[float] = LATENCY_AT_MS,
    false_cut_rates: Sequence[float] = FALSE_CUTS_AT,
) -> pd.DataFrame:
    """One row per turn-detection type (server_vad = the VAD-only baseline); see the module docstring."""
    table = _summary(summary)
    rows = {}
    for kind, group in table.groupby("type"):
        row: dict[str, Any] = {"baseline": kind == "server_vad", "settings": len(group)}
        for limit in latencies_ms:
            ok = group[group["eot_latency_ms"] <= limit]
            row[f"false_cut_rate@{limit:g}ms"] = float(ok["false_cut_rate"].min()) if len(ok) else math.nan
        for rate in false_cut_rates:
            ok = group[group["false_cut_rate"] <= rate]
            row[f"eot_latency_ms@{rate:.0%}"] = float(ok["eot_latency_ms"].min()) if len(ok) else math.nan
        rows[kind] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def best(
    results: pd.DataFrame, constraint: str = "false_cut_rate <= 0.05", minimize: str = "eot_latency_ms"
) -> dict[str, Any]:
    """The setting meeting ``constraint`` (a ``DataFrame.query`` over the summary's columns) with the
    lowest ``minimize``, as keywords for ``session.update_session(**...)`` / ``connect(**...)``.

    Raises ValueError naming the constraint when no setting meets it.
    """
    table = _summary(results)
    try:
        ok = table.query(constraint)
    except Exception as exc:
        raise ValueError(
            f"constraint {constraint!r} cannot be evaluated on {list(table.columns)}: {exc}"
        ) from None
    ok = ok.dropna(subset=[minimize])
    if ok.empty:
        raise ValueError(f"no setting meets {constraint!r} (of {len(table)} settings)")
    chosen = ok.sort_values([minimize, "false_cut_rate"]).iloc[0]
    return session_options(setting_from(chosen))


def setting_from(row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """The setting (as the grid writes it) of a results or summary row."""
    kind = row["type"]
    setting = {"type": kind, **{k: _plain(k, row[k]) for k in SWEPT[kind]}}
    nr = row.get("noise_reduction")
    setting["noise_reduction"] = None if nr is None or (isinstance(nr, float) and math.isnan(nr)) else nr
    return setting


def _plain(key: str, value: Any) -> Any:
    """numpy scalars -> Python; whole-ms fields back to int (a column with NaN holes is float)."""
    if isinstance(value, np.generic):
        value = value.item()
    return int(value) if key in INTEGER_MS else value


def chosen_id(options: dict[str, Any]) -> str:
    """The ``setting_id`` of :func:`best`'s answer (to mark it on a plot)."""
    td = options["turn_detection"]
    setting = {
        "type": td.type,
        **{k: getattr(td, k) for k in SWEPT[td.type]},
        "noise_reduction": options["noise_reduction"],
    }
    return setting_id(setting)
