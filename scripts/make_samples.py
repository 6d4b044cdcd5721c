"""Generate the named demo/test samples (24 kHz WAV + JSON of speech boundaries).

    python scripts/make_samples.py [--dir DIR] [--force] [NAME ...]

Without names, every sample in `realtime_nb.samples.NAMED` is made. The default directory is the
samples cache (env REALTIME_NB_SAMPLES, else ~/.cache/realtime_nb/samples). Needs the voice extra.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="sample names (default: all)")
    parser.add_argument("--dir", type=Path, help="output directory (default: the samples cache)")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    if args.dir:
        os.environ["REALTIME_NB_SAMPLES"] = str(args.dir)

    from realtime_nb import samples

    names = args.names or list(samples.NAMED)
    unknown = [n for n in names if n not in samples.NAMED]
    if unknown:
        parser.error(f"unknown sample(s) {', '.join(unknown)}; choose from {', '.join(samples.NAMED)}")
    if args.force:
        for name in names:
            samples.cache_dir().joinpath(f"{name}.json").unlink(missing_ok=True)
    for name in names:
        path = samples.ensure(name)
        s = samples.load(name)
        spans = ", ".join(f"{a:.0f}-{b:.0f}" for a, b in (seg.ms(s.rate) for seg in s.segments))
        noise = f"  {s.noise['kind']} noise at {s.noise['snr_db']:g} dB SNR" if s.noise else ""
        print(f"{name:<12} {s.duration_s:5.2f} s  speech ms: {spans}{noise}\n{'':<12} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
