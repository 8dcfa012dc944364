"""Generate the embedded visual-math benchmark: MathVista-schema JSONL + PNG images.

Usage:
    mmpo synth --n 2000 --seed 0 --out data/                  # data/test.jsonl + data/images/
    mmpo synth --n 500 --out data/ --split train --families digits
    mmpo synth --n 200 --out data/ --image-size 32 --families bars,shapes

Families: bars, shapes, arith, triangle, digits (the demo's). Splits written into the same
folder share `images/`; their pids are prefixed with the split name, so they never collide.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mmpo.synth import FAMILIES  # light: no PIL or numpy until drawing

    parser.add_argument("--n", type=int, required=True, help="number of records")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--families", default=None,
                        help=f"comma-separated families (default: all of {','.join(FAMILIES)})")
    parser.add_argument("--split", default="test", help="split name: the JSONL's name and the pid prefix")
    parser.add_argument("--image-size", type=int, default=None, help="image side in px, a multiple of 16 (default 64)")
    parser.add_argument("--max-objects", type=int, default=None, help="at most this many bars/shapes/digits")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import re

    from mmpo.errors import MMPOError
    from mmpo.synth import write_benchmark

    families = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    if args.families is not None and not families:
        raise MMPOError("--families is empty")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.split):
        raise MMPOError(f"--split must be a plain name (letters, digits, _ . -), got {args.split!r}")
    path = write_benchmark(args.out, args.n, seed=args.seed, families=families, split_name=args.split,
                           image_size=args.image_size, max_objects=args.max_objects,
                           progress=not args.no_progress)
    print(f"wrote {args.n} records to {path} and their images to {path.parent / 'images'}")
    return 0
