"""``realtime-nb sweep CORPUS [--grid grid.yaml] [--out results/]``: a sweep from the command line.

Everything is checked before any model runs: the grid (every value against the protocol's rules),
the corpus (every WAV readable, every label file valid); a problem prints one line naming the file
or setting and exits with status 2. Results are written as they finish under ``--out`` (run the
same command again to resume), then ``results.parquet`` (one row per file x setting),
``summary.csv`` (one row per setting) and ``operating_points.csv``; the best setting under
``--constraint`` is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from realtime_nb.sweeps.grid import DEFAULT_GRID, GridError, describe, expand, load_grid
from realtime_nb.sweeps.labels import LabelError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sweep",
        help="score turn-detection / noise-reduction settings over a labelled corpus",
        description=(
            "Score every setting of a grid over a labelled corpus (a folder of WAV files with RTTM, "
            "Audacity label or JSON files of the same name; 'builtin' for the bundled samples). "
            "Without --grid: server_vad threshold 0.3-0.8 x silence_duration_ms 200-1000."
        ),
    )
    p.add_argument("corpus", help="corpus folder, or 'builtin'")
    p.add_argument("--grid", type=Path, default=None, help="grid file (YAML or JSON); see docs/sweeps.md")
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder (default: results/)")
    p.add_argument(
        "--mode",
        choices=("trace", "live", "cloud"),
        default="trace",
        help="trace: models once per file, detector replayed (default); live: engine sessions; "
        "cloud: the keyed cloud endpoint at real time",
    )
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--dask", metavar="ADDRESS", default=None, help="run on the Dask scheduler at ADDRESS")
    p.add_argument(
        "--collar-ms", type=float, default=250.0, help="detection collar, total width (default 250)"
    )
    p.add_argument(
        "--constraint",
        default="false_cut_rate <= 0.05",
        help="what the best setting must meet (default: 'false_cut_rate <= 0.05')",
    )
    p.add_argument("--yes", action="store_true", help="cloud mode: accept the cost estimate without asking")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _confirm(yes: bool) -> Any:
    def ask(plan: str) -> bool:
        print(plan, file=sys.stderr)
        if yes:
            return True
        try:
            return input("send? [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:
            return False

    return ask


def run(args: argparse.Namespace) -> int:
    from realtime_nb.sweeps.corpus import Corpus

    try:
        grid = load_grid(args.grid) if args.grid is not None else DEFAULT_GRID
        settings = expand(grid)
        corpus = Corpus.builtin() if args.corpus == "builtin" else Corpus.from_folder(args.corpus)
    except (GridError, LabelError, FileNotFoundError, ValueError) as exc:
        print(f"realtime-nb sweep: {exc}", file=sys.stderr)
        return 2
    try:
        from realtime_nb.sweeps.results import best, operating_points, summarize
        from realtime_nb.sweeps.run import sweep
    except ImportError as exc:
        print(
            f"realtime-nb sweep: needs the sweeps extra ({exc}): pip install 'realtime-nb[sweeps]'",
            file=sys.stderr,
        )
        return 2
    executor: Any = args.workers or "local"
    client = None
    if args.dask:
        from distributed import Client

        client = executor = Client(args.dask)
    print(f"{corpus!r}: {len(settings)} settings, mode {args.mode}", file=sys.stderr)
    try:
        results = sweep(
            corpus,
            settings,
            mode=args.mode,
            executor=executor,
            out=args.out,
            collar_ms=args.collar_ms,
            progress=not args.no_progress,
            confirm=_confirm(args.yes),
        )
    except RuntimeError as exc:  # a refused cloud sweep
        print(f"realtime-nb sweep: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    summary = summarize(results)
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_parquet(args.out / "results.parquet", index=False)
    summary.to_csv(args.out / "summary.csv")
    points = operating_points(summary)
    points.to_csv(args.out / "operating_points.csv")
    print(points.to_string())
    try:
        chosen = best(summary, args.constraint)
    except ValueError as exc:
        print(f"best: {exc}")
    else:
        td = chosen["turn_detection"]
        setting = {"type": td.type, **td.__dict__, "noise_reduction": chosen["noise_reduction"]}
        print(f"best under {args.constraint!r}: {describe(setting)}")
    print(f"wrote {args.out}/results.parquet, summary.csv, operating_points.csv")
    return 0
