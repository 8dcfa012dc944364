"""Compare evals and plot training runs.

Usage:
    mmpo report evals/base evals/mpo --out report/                    # eval dirs (or their scores.json)
    mmpo report evals/base evals/sft evals/mpo --names base,SFT,MPO --baseline base --out report/
    mmpo report runs/mpo --out report/                                # a training run (or trainer_state.json)

Writes, as the inputs allow:
    DIR/report.md + DIR/comparison.json   table: direct and CoT accuracy, CoT - direct, format failures,
                                          paired-bootstrap 95% intervals vs the baseline (needs predictions.jsonl)
    DIR/direct_vs_cot.png                 the paper's Figure 1: direct accuracy (x) vs CoT accuracy (y)
    DIR/training_curves.png               loss terms, rewards, reward accuracy and bco/delta over steps
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="SCORES_OR_RUN",
                   help="eval dirs / scores.json files, and/or training run dirs / trainer_state.json files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--names", default=None, help="comma-separated display names, one per input, in order")
    p.add_argument("--baseline", default=None, help="name of the model to compare against (default: the first)")
    p.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--same-questions-only", action="store_true",
                   help="evals of different data files: pair only the questions both have (same pid, text, options, "
                        "answer and image) instead of refusing")


def _classify(path: Path) -> tuple[bool, bool]:
    """(is an eval, is a training run) for one input path."""
    from mmpo.errors import InputError
    from mmpo.eval.report import SCORES_FILE, find_trainer_state

    if not path.exists():
        raise InputError("does not exist", path=path)
    if path.is_dir():
        return (path / SCORES_FILE).exists(), find_trainer_state(path) is not None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a JSON file ({exc})", path=path) from None
    if isinstance(obj, dict) and "modes" in obj:
        return True, False
    if isinstance(obj, dict) and "log_history" in obj:
        return False, True
    raise InputError("neither an eval scores file (no 'modes') nor a trainer state (no 'log_history')", path=path)


def run(args: argparse.Namespace) -> int:
    from mmpo.errors import MMPOError
    from mmpo.eval.report import write_comparison, write_training_curves

    if args.n_boot < 1:
        raise MMPOError(f"--n-boot must be >= 1 (10000 gives stable 95% intervals), got {args.n_boot}")
    paths = [Path(p) for p in args.inputs]
    names = None
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != len(paths) or not all(names):
            raise MMPOError(f"--names needs one non-empty name per input: got {len(names)} for {len(paths)} inputs")
    evals, eval_names, runs, run_names = [], [], [], []
    for i, path in enumerate(paths):
        is_eval, is_run = _classify(path)
        if not (is_eval or is_run):
            raise MMPOError(f"{path}: no scores.json and no trainer_state.json (nor checkpoint-*/) found there")
        default = path.parent.name if path.is_file() else path.name
        name = names[i] if names else default
        if is_eval:
            evals.append(path)
            eval_names.append(name)
        if is_run:
            runs.append(path)
            run_names.append(name)
    if args.baseline and not evals:
        raise MMPOError("--baseline given but no eval among the inputs")
    out = Path(args.out)
    if evals:
        comparison = write_comparison(evals, out, names=eval_names, baseline=args.baseline,
                                      n_boot=args.n_boot, seed=args.seed,
                                      same_questions_only=args.same_questions_only)
        print(comparison["markdown"])
        print(f"wrote {out / 'report.md'}, {out / 'comparison.json'}"
              + (f", {comparison['figure']}" if comparison.get("figure") else ""))
    if runs:
        png = write_training_curves(runs, out, names=run_names)
        print(f"wrote {png}")
    return 0
