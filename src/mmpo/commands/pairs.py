"""Build preference pairs (MMPR layout) from `mmpo sample` output.

Usage:
    mmpo pairs samples.jsonl --out pairs/
    mmpo pairs shard0.jsonl shard1.jsonl --out pairs/ --max-pairs-per-prompt 15 --seed 0 --on-error skip

Writes pairs/meta.json, one JSONL per subset (<name>_pairs_vqa_correctness_rules,
<name>_pairs_vqa_format_rules, <name>_sr0.5_wo_image) and pairs/stats.json; `mmpo train
--train_data pairs/meta.json` reads the result. Model-free: DropoutNTP continuations are made by
`mmpo sample --dropout-ntp`.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mmpo.errors import ON_ERROR

    parser.add_argument("samples", nargs="+", metavar="SAMPLES", help="samples JSONL files (shards welcome)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--max-pairs-per-prompt", type=int, default=15,
                        help="cap per prompt and kind, drawn with the seed (paper: 15)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--on-error", choices=ON_ERROR, default="raise",
                        help="a bad samples line stops the run (raise) or is counted in stats.json (skip)")
    parser.add_argument("--name", default=None,
                        help="subset name prefix (default: the data file name recorded by mmpo sample)")


def run(args: argparse.Namespace) -> int:
    from mmpo.pairs.build import build_pairs, format_summary

    stats = build_pairs(args.samples, args.out, max_pairs_per_prompt=args.max_pairs_per_prompt,
                        seed=args.seed, on_error=args.on_error, name=args.name)
    print(format_summary(stats))
    print(f"wrote {args.out}/meta.json, {len(stats['subsets'])} subset file(s) and stats.json")
    return 0
