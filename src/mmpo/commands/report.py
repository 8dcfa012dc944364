"""Compare evals and plot training runs.

Usage:
    mmpo report evals/base evals/mpo --out report/                    # eval dirs (or their scores.json)
    mmpo report evals/base evals/sft evals/mpo --names base,SFT,MPO --baseline base --out report/
    mmpo report runs/mpo --out report/                                # a training run (or trainer_state.json)

The paper's Table 1 (evals of named benchmarks, `mmpo eval --benchmark NAME`, or of several data files):
    mmpo report evals/base-* evals/mpo-* --baseline base --out report/   # one dir per model and benchmark
    mmpo report evals/*/ --names runs/mpo=MPO,models/base=base --baseline base --out report/
    mmpo report evals/base evals/mpo --out report/      # `mmpo eval --suite` folders (suite.json): each one's evals

Writes, as the inputs allow:
    DIR/report.md + DIR/comparison.json   table: direct and CoT accuracy, CoT - direct, format failures,
                                          paired-bootstrap 95% intervals vs the baseline (needs predictions.jsonl)
    DIR/direct_vs_cot.png                 the paper's Figure 1: direct accuracy (x) vs CoT accuracy (y)
    DIR/table.md, table.csv, table.json   when an eval is of a named benchmark or the evals span several: a row
                                          per benchmark (and per breakdown group: POPE's subsets, MathVerse's
                                          versions), a column per model and mode with the benchmark's primary
                                          metric (% for fractions), and each model's difference to the baseline
                                          with a 95% paired-bootstrap interval of that metric (its `summarize`
                                          recomputed on resampled questions; none, with a footnote, where the
                                          evals did not ask the same questions); "-" where a model has no eval
    DIR/training_curves.png               loss terms, rewards, reward accuracy and bco/delta over steps

Models in the table: an eval's column is its scores.json `model` (its last path part, `runs/mpo` -> `mpo`),
so the dirs of one model on several benchmarks share a column; a `mmpo eval --suite` folder (or its
suite.json) stands for the eval dirs it lists. `--names` renames: one name per input in order (a suite
folder's evals all take its name), or MODEL=NAME items (MODEL: the scores' model, its last path part, or
an eval dir as given). `--baseline` names a model (default: the first). With several benchmarks report.md
holds the table, direct_vs_cot.png (a point per model and fraction-scored benchmark) and then each
benchmark's accuracy comparison, and comparison.json those by benchmark.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="SCORES_OR_RUN",
                   help="eval dirs / scores.json files, and/or training run dirs / trainer_state.json files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--names", default=None,
                   help="comma-separated display names: one per input, in order, or MODEL=NAME items (the "
                        "benchmark table: MODEL is an eval's scores.json model, its last path part, or its dir)")
    p.add_argument("--baseline", default=None, help="name of the model to compare against (default: the first)")
    p.add_argument("--n-boot", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--n-boot-summarize", type=int, default=None, metavar="N",
                   help="the benchmark table's resamples where a benchmark's summarize runs on each (F1, "
                        "CircularEval: about 20 ms per resample for 9,000 questions); default: --n-boot")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--same-questions-only", action="store_true",
                   help="evals of different data files: pair only the questions both have (same pid, text, options, "
                        "answer and image) instead of refusing")


def _suite_evals(path: Path) -> list[Path] | None:
    """The eval dirs of a `mmpo eval --suite` output (a folder with suite.json and no scores.json, or that
    suite.json): those its "ran" names (their `out`, else OUT/NAME), in the paper's order; else None."""
    from mmpo.errors import InputError
    from mmpo.eval.report import SCORES_FILE

    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        if not (path / "suite.json").is_file() or (path / SCORES_FILE).exists():
            return None
    elif not (path.is_file() and path.name == "suite.json"):
        return None
    try:
        ran = json.loads((folder / "suite.json").read_text(encoding="utf-8")).get("ran") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise InputError(f"not a suite summary ({exc})", path=folder / "suite.json") from None
    out = []
    for name, r in ran.items():
        here = Path(r.get("out") or "") if isinstance(r, dict) else Path()
        d = here if here.name and (here / SCORES_FILE).is_file() else folder / name
        if not (d / SCORES_FILE).is_file():
            raise InputError(f"the suite lists {name!r}, but {d} holds no {SCORES_FILE}", path=folder / "suite.json")
        out.append(d)
    if not out:
        raise InputError("a suite summary whose 'ran' is empty: no eval to report", path=folder / "suite.json")
    return out


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
    if args.n_boot_summarize is not None and args.n_boot_summarize < 1:
        raise MMPOError(f"--n-boot-summarize must be >= 1, got {args.n_boot_summarize}")
    paths = [Path(p) for p in args.inputs]
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    mapping = bool(names) and all("=" in n for n in names)
    if names and not mapping and (len(names) != len(paths) or not all(names)):
        raise MMPOError(f"--names needs one non-empty name per input: got {len(names)} for {len(paths)} inputs"
                        " (or MODEL=NAME items)")
    evals, eval_names, eval_inputs, runs, run_names = [], [], [], [], []
    seen: set[Path] = set()
    for i, path in enumerate(paths):
        suite = _suite_evals(path)
        if suite is not None:  # `mmpo eval --suite` output: each benchmark's eval dir, under the input's name
            for d in suite:
                if d.resolve() not in seen:
                    seen.add(d.resolve())
                    evals.append(d)
                    eval_names.append(names[i] if names and not mapping else d.name)
                    eval_inputs.append(str(d))
            continue
        if (path.is_dir() and path.resolve() in seen) or (path.name == "scores.json"
                                                          and path.parent.resolve() in seen):
            continue  # a suite's benchmark dir given again (`evals/mpo/*` after `evals/mpo`)
        seen.add((path if path.is_dir() else path.parent).resolve())
        is_eval, is_run = _classify(path)
        if not (is_eval or is_run):
            raise MMPOError(f"{path}: no scores.json and no trainer_state.json (nor checkpoint-*/) found there")
        default = path.parent.name if path.is_file() else path.name
        name = names[i] if names and not mapping else default
        if is_eval:
            evals.append(path)
            eval_names.append(name)
            eval_inputs.append(args.inputs[i])
        if is_run:
            runs.append(path)
            run_names.append(name)
    if args.baseline and not evals:
        raise MMPOError("--baseline given but no eval among the inputs")
    out = Path(args.out)
    if evals:
        from mmpo.eval.report import load_eval
        from mmpo.eval.table import model_names, needs_table, write_benchmark_report

        loaded = [load_eval(p) for p in evals]
        if needs_table(loaded):
            given = names if mapping else (eval_names if names else None)
            for r, n in zip(loaded, model_names(loaded, eval_inputs, given)):
                r.name = n
            result = write_benchmark_report(loaded, out, baseline=args.baseline, n_boot=args.n_boot,
                                            seed=args.seed, same_questions_only=args.same_questions_only,
                                            n_boot_summarize=args.n_boot_summarize)
            print(result["markdown"])
            print(f"wrote {out / 'report.md'}, {out / 'comparison.json'}, "
                  + ", ".join(str(p) for p in result["paths"].values())
                  + (f", {result['figure']}" if result.get("figure") else ""))
        else:
            if mapping:
                raise MMPOError("--names MODEL=NAME is for the benchmark table; give one name per input here")
            comparison = write_comparison(loaded, out, names=eval_names, baseline=args.baseline,
                                          n_boot=args.n_boot, seed=args.seed,
                                          same_questions_only=args.same_questions_only)
            print(comparison["markdown"])
            print(f"wrote {out / 'report.md'}, {out / 'comparison.json'}"
                  + (f", {comparison['figure']}" if comparison.get("figure") else ""))
    if runs:
        if mapping:
            run_names = None
        png = write_training_curves(runs, out, names=run_names)
        print(f"wrote {png}")
    return 0
