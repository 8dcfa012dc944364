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
    from mmpo.answers import SCORINGS  # pure text: no torch
    from mmpo.data.prompts import PROMPT_SOURCES

    p.add_argument("--model", required=True, help="checkpoint directory (weights + processor)")
    p.add_argument("--data", required=True, help="benchmark records: .jsonl, .json (list or dict), .parquet, or a "
                                                 "`datasets` folder; MathVista, M3CoT, ScienceQA, MathVerse shapes")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--modes", default="direct,cot", help="comma-separated: direct, cot (default both), boxed")
    p.add_argument("--scoring", default="default", choices=SCORINGS,
                   help="answer checking rules (mathvista: the official benchmark's)")
    p.add_argument("--max-new-tokens", type=int, default=512, help="response length limit (default 512)")
    p.add_argument("--direct-max-new-tokens", type=int, default=None,
                   help="a tighter limit for direct answers (default: --max-new-tokens)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (default 8)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first K records")
    p.add_argument("--prompt-source", choices=PROMPT_SOURCES, default="auto",
                   help="auto: the record's official query when it has one (MathVista's), else mmpo's layout of "
                        "question, unit and options; query: require it; mmpo: always mmpo's layout")
    p.add_argument("--shuffle-images", action="store_true",
                   help="pair each question with another record's image (seeded derangement)")
    p.add_argument("--seed", type=int, default=0, help="seed for --shuffle-images (decoding is greedy)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="model dtype, e.g. bfloat16 (default: the checkpoint's)")
    p.add_argument("--trust-remote-code", action="store_true",
                        help="run the checkpoint's own Python code (only for checkpoints you trust)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mmpo.eval.report import scores_markdown
    from mmpo.eval.run import run_eval

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    result = run_eval(args.model, args.data, args.out, modes=modes, scoring=args.scoring,
                      max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, limit=args.limit,
                      direct_max_new_tokens=args.direct_max_new_tokens,
                      shuffle_images=args.shuffle_images, seed=args.seed, device=args.device, dtype=args.dtype,
                      prompt_source=args.prompt_source, trust_remote_code=args.trust_remote_code,
                      progress=not args.no_progress)
    print(scores_markdown(result.scores))
    cut = sum(m.get("truncated", 0) for m in result.scores["modes"].values())
    if cut:
        print(f"note: {cut} responses stopped at --max-new-tokens {args.max_new_tokens} before ending "
              "(counted in the 'truncated' column); raise it if they matter.")
    out = Path(args.out)
    print(f"wrote {out / 'predictions.jsonl'} and {out / 'scores.json'}")
    return 0
