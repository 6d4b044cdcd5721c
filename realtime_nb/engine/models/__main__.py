"""`python -m realtime_nb.engine.models --check`: load every local model and report."""

from __future__ import annotations

import argparse
import sys
import time

from realtime_nb.engine.models import MODEL_NAMES, Models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime_nb.engine.models", description=__doc__)
    parser.add_argument("--check", action="store_true", help="load every model and print load times")
    parser.add_argument("--serial", action="store_true", help="load one after the other (for timing)")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 2
    models = Models()
    start = time.perf_counter()
    results = models.preload(MODEL_NAMES, parallel=not args.serial)
    total = time.perf_counter() - start
    failed = 0
    for name in MODEL_NAMES:
        result = results[name]
        if isinstance(result, Exception):
            failed += 1
            print(f"  {name:<12} MISSING  {result}")
        else:
            print(f"  {name:<12} {result:6.2f} s  {models.load(name)!r}")
    mode = "serial" if args.serial else "parallel"
    print(f"loaded {len(MODEL_NAMES) - failed}/{len(MODEL_NAMES)} models in {total:.2f} s ({mode})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
