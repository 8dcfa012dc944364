"""Direct-answer vs chain-of-thought evaluation of a model on a MathVista-schema benchmark.

Usage:
    mmpo eval --model models/tiny --data data/test.jsonl --out evals/tiny
    mmpo eval --model runs/mpo --data testmini.json --out evals/mpo --scoring mathvista --limit 200
    mmpo eval --model runs/mpo --data data/test.jsonl --out evals/mpo-shuffled --shuffle-images --modes cot
    mmpo eval --benchmark list                                              # the named benchmarks
    mmpo eval --model runs/mpo --benchmark pope --data POPE.tsv --out evals/mpo/pope
    mmpo eval --model runs/mpo --suite paper --data-root benchmarks/ --out evals/mpo   # all it finds

Writes DIR/predictions.jsonl (pid, mode, response, extracted, verdict per record and mode) and
DIR/scores.json (accuracy, format-failure rate and breakdowns per mode), then prints a markdown table.
Rerun the same command after an interruption to finish the same DIR. `--shuffle-images` gives each
question another record's image: accuracy should drop if the model reads the image.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.eval.options import EvalOptions  # light: no torch
    from mmpo.options import add_arguments

    add_arguments(p, EvalOptions)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmpo.data.layout import PREDICTIONS_FILE, SCORES_FILE
    from mmpo.eval.options import EvalOptions
    from mmpo.eval.report import scores_markdown
    from mmpo.eval.run import run_eval
    from mmpo.options import from_arguments

    if args.benchmark == "list":
        print(benchmarks_table())
        return 0
    opts = from_arguments(EvalOptions, args)
    if opts.suite:
        from mmpo.eval.suite import SUITE_FILE, run_suite, suite_markdown

        summary = run_suite(opts)
        print(suite_markdown(summary))
        print(f"wrote {Path(opts.out) / SUITE_FILE}")
        if summary["failed"]:
            from mmpo.errors import MMPOError

            raise MMPOError(f"{len(summary['failed'])} benchmark(s) failed on bad input: "
                            f"{', '.join(summary['failed'])} (see above; rerun after fixing to finish them)")
        return 0
    result = run_eval(opts)
    print(scores_markdown(result.scores))
    cut = sum(m.get("truncated", 0) for m in result.scores["modes"].values())
    if cut:
        print(f"note: {cut} responses stopped at --max-new-tokens {opts.max_new_tokens} before ending "
              "(counted in the 'truncated' column); raise it if they matter.")
    out = Path(opts.out)
    print(f"wrote {out / PREDICTIONS_FILE} and {out / SCORES_FILE}")
    return 0


def benchmarks_table() -> str:
    """`mmpo eval --benchmark list`: each named benchmark, what it reads and how it scores."""
    from mmpo.benchmarks import BENCHMARK_NAMES, available, get_benchmark

    have = set(available())
    blocks = []
    for name in BENCHMARK_NAMES:
        if name not in have:
            blocks.append(f"{name}\n  (not available in this version)")
            continue
        b = get_benchmark(name)
        blocks.append(f"{name}: {b.title} ({'LLM judge' if b.kind == 'judge' else 'rule-scored'}; "
                      f"table shows {b.primary})\n  reads:   {b.reads}\n  scoring: {b.scoring}\n"
                      f"  source:  {b.source}\n  suite looks for: {', '.join(b.files) or '-'}")
    return "\n".join(blocks)
