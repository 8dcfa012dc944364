"""Train a vision-language model on preference pairs with the MPO loss (or another of mmpo.train.losses).

Usage:
    mmpo train --config recipes/tiny_cpu.yaml
    mmpo train --config recipes/mpo_internvl2_8b.yaml --model_name_or_path models/InternVL2-8B \\
        --train_data MMPR/meta.json --output_dir runs/mpo
    mmpo train --config recipes/tiny_cpu.yaml --bco_delta none --loss_type sigmoid sft --loss_weights 1 1
    mmpo train --help-fields          # every field: MPOConfig + transformers.TrainingArguments

Fields come from the YAML file, then from `--field value` on the command line (which wins).
train_data / eval_data: an MMPR meta.json (or its folder), a pairs JSONL, or a saved `datasets`
folder in TRL's preference format. The output folder is a Hugging Face checkpoint (safetensors,
processor, trainer_state.json with the metrics, mpo_state.json, README.md model card) that
`mmpo eval --model` loads as is. Multi-GPU: `torchrun --nproc_per_node N -m mmpo.cli train ...`
or `accelerate launch`.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of MPOConfig fields (see recipes/)")
    p.add_argument("--help-fields", action="store_true", help="list every config field and exit")
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

    cfg = parse_config(args.config, getattr(args, "overrides", []))
    out = run_training(cfg)
    print(f"wrote {out} (weights, processor, trainer_state.json, README.md)")
    return 0
