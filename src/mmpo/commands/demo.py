"""Run the whole MPO loop on the embedded default (what `make demo` runs).

    mmpo demo --out demo-out            # about 10 minutes on 2 CPU cores
    mmpo demo --out demo-full --full    # more prompts, 3 training seeds, test split of 2,000
    mmpo demo --out d --from-scratch    # retrain the warm-up model first (adds ~15-20 minutes)

Writes OUT/results.json (every model's scores, the shuffled-image check, paired-bootstrap
comparisons, the chosen settings, seconds per stage), OUT/report/ (tables and PNGs), and every
intermediate file (data, samples, pairs, checkpoints, predictions).
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--full", action="store_true", help="the larger version: more prompts, 3 seeds")
    p.add_argument("--preset", choices=("default", "full", "tiny"), default=None,
                   help="scale preset (tiny: a minute-long smoke run of every stage)")
    p.add_argument("--from-scratch", action="store_true", help="retrain the warm-up model instead of the shipped one")
    p.add_argument("--warmup", default=None, help="start from this warm-up checkpoint instead of the shipped one")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from mmpo.demo.pipeline import DemoConfig, run_demo

    preset = args.preset or ("full" if args.full else "default")
    cfg = DemoConfig.preset(preset, seed=args.seed, from_scratch=args.from_scratch, warmup=args.warmup)
    run_demo(cfg, args.out)
    return 0
