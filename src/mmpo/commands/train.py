"""Train a vision-language model on preference pairs with the MPO loss (or another of mmpo.train.losses).

Usage:
    mmpo train --config recipes/tiny_cpu.yaml
    mmpo train --config recipes/mpo_internvl2_8b.yaml --model_name_or_path models/InternVL2-8B \\
        --train_data MMPR/meta.json --output_dir runs/mpo
    mmpo train --config recipes/tiny_cpu.yaml --bco_delta none --loss_type sigmoid sft --loss_weights 1 1
    mmpo train --help-fields          # every field: MPOConfig + transformers.TrainingArguments
    mmpo train --config recipes/mpo_internvl2_8b.yaml --plan --gpus 8 --gpu-memory 80   # memory plan, no training

Fields come from the YAML file, then from `--field value` on the command line (which wins).
train_data / eval_data: an MMPR meta.json (or its folder), a pairs JSONL, or a saved `datasets`
folder in TRL's preference format. The output folder is a Hugging Face checkpoint (safetensors,
processor, trainer_state.json with the metrics, mpo_state.json, README.md model card) that
`mmpo eval --model` loads as is. Multi-GPU: `accelerate launch --config_file recipes/accelerate/ENGINE.yaml
-m mmpo.cli train ...` (ddp, fsdp2, zero2, zero3, with CPU offload: zero2_offload, zero3_offload), or
`torchrun --nproc_per_node N -m mmpo.cli train ...` for DDP. `--plan` prints the per-GPU memory of the
recipe under each engine (from the model's config; no weights are read) and says which fit.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of MPOConfig fields (see recipes/)")
    p.add_argument("--help-fields", action="store_true", help="list every config field and exit")
    plan = p.add_argument_group("memory plan (--plan: print it and exit, nothing trains)")
    plan.add_argument("--plan", action="store_true", help="per-GPU memory under ddp/fsdp2/zero2/zero3 (+offload)")
    plan.add_argument("--gpus", type=int, default=8, help="GPUs in the run (default 8)")
    plan.add_argument("--gpu-memory", type=float, default=80.0, help="memory of one GPU in GiB (default 80; an \"80 GB\" A100/H100 has 80 GiB)")
    plan.add_argument("--tiles", type=int, default=1,
                      help="image tiles per prompt (dynamic-resolution models; default 1)")
    plan.add_argument("--prompt-tokens", type=int, default=None,
                      help="prompt length in tokens, image tokens included (default: tiles x image tokens + 256)")
    # Every other `--field value` is an MPOConfig field, parsed later by HfArgumentParser (which
    # needs transformers, kept out of `mmpo --help`): unknown options are collected, not refused.
    parse_known = p.parse_known_args

    def parse_known_args(args=None, namespace=None):
        ns, rest = parse_known(args, namespace)
        ns.overrides = list(getattr(ns, "overrides", None) or []) + rest
        return ns, []

    p.parse_known_args = parse_known_args


def run(args: argparse.Namespace) -> int:
    if args.help_fields:
        from transformers import HfArgumentParser

        from mmpo.train.config import MPOConfig

        HfArgumentParser(MPOConfig, prog="mmpo train").print_help()
        return 0
    from mmpo.train.run import parse_config, run_training

    if args.plan:
        return _plan(args)
    cfg = parse_config(args.config, getattr(args, "overrides", []))
    out = run_training(cfg)
    print(f"wrote {out} (weights, processor, trainer_state.json, README.md)")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from mmpo.errors import InputError
    from mmpo.train.plan import format_plan, memory_plan, model_shape
    from mmpo.train.run import parse_config

    # Read on a machine without the run's GPUs: use_cpu only lets the config parse (bf16 needs a GPU).
    cfg = parse_config(args.config, [*getattr(args, "overrides", []), "--use_cpu", "true"])
    if not cfg.model_name_or_path:
        raise InputError("is required for the plan (the model's config.json is read)", field="model_name_or_path")
    shape = model_shape(cfg.model_name_or_path, trust_remote_code=cfg.trust_remote_code)
    print(format_plan(memory_plan(shape, cfg, gpus=args.gpus, gpu_memory_gb=args.gpu_memory, tiles=args.tiles,
                                  prompt_tokens=args.prompt_tokens)))
    return 0
