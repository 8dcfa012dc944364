"""Direct-answer vs chain-of-thought evaluation of a model on a MathVista-schema benchmark.

Usage:
    mmpo eval --model models/tiny --data data/test.jsonl --out evals/tiny
    mmpo eval --model runs/mpo --data testmini.json --out evals/mpo --scoring mathvista --limit 200
    mmpo eval --model runs/mpo --data data/test.jsonl --out evals/mpo-shuffled --shuffle-images --modes cot

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

    opts = from_arguments(EvalOptions, args)
    result = run_eval(opts)
    print(scores_markdown(result.scores))
    cut = sum(m.get("truncated", 0) for m in result.scores["modes"].values())
    if cut:
        print(f"note: {cut} responses stopped at --max-new-tokens {opts.max_new_tokens} before ending "
              "(counted in the 'truncated' column); raise it if they matter.")
    out = Path(opts.out)
    print(f"wrote {out / PREDICTIONS_FILE} and {out / SCORES_FILE}")
    return 0
