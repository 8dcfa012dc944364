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
    from mmpo.options import add_arguments
    from mmpo.pairs.options import PairOptions

    parser.add_argument("samples", nargs="+", metavar="SAMPLES", help="samples JSONL files (shards welcome)")
    add_arguments(parser, PairOptions)


def run(args: argparse.Namespace) -> int:
    from mmpo.data.layout import PAIRS_META, PAIRS_STATS
    from mmpo.options import from_arguments
    from mmpo.pairs.build import build_pairs, format_summary
    from mmpo.pairs.options import PairOptions

    opts = from_arguments(PairOptions, args)
    stats = build_pairs(opts)
    print(format_summary(stats))
    print(f"wrote {opts.out}/{PAIRS_META}, {len(stats['subsets'])} subset file(s) and {PAIRS_STATS}")
    return 0
