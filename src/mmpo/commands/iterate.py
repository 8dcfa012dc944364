"""Iterate the loop: K rounds of sample -> pairs -> train -> eval, each sampling from the last round's model.

Usage:
    mmpo iterate --model models/base --data data/train.jsonl --eval-data data/test.jsonl --rounds 2 --out iter
    mmpo iterate ... --train-config recipes/tiny_cpu.yaml --train-set learning_rate=1e-5 --train-set use_lora=true
    mmpo iterate ... --n 8 --temperature 0.7 --max-new-tokens 128 --limit 500     # sampling settings

Round 0 evaluates --model; round r trains from round r-1's model on pairs sampled from it (its own
frozen reference). Writes OUT/round<r>/{samples.jsonl, pairs/, model/, eval/} and OUT/rounds.json
({"rounds": [{"round", "model", "scores"}, ...], "comparisons": [...]}), and prints one table with
every round's accuracy and its paired 95% interval against round 0. Rerun the same command after a
kill: it resumes where it stopped (and more --rounds continue a finished run).
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.data.prompts import PROMPT_SOURCES

    p.add_argument("--model", required=True, help="the start checkpoint (round 0)")
    p.add_argument("--data", required=True, help="prompt records to sample from (any form mmpo sample reads)")
    p.add_argument("--eval-data", default=None,
                   help="benchmark records for every round's eval (default: --data, i.e. the training prompts)")
    p.add_argument("--rounds", type=int, required=True, help="rounds after round 0")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="round r samples with seed + r; training uses the seed")
    p.add_argument("--n", type=int, default=8, help="samples per prompt (default 8)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--max-new-tokens", type=int, default=512, help="sampling (and eval) length limit")
    p.add_argument("--sample-batch-size", type=int, default=4)
    p.add_argument("--prompt-source", choices=PROMPT_SOURCES, default="auto")
    p.add_argument("--limit", type=int, default=None, help="only the first K prompts of --data each round")
    p.add_argument("--max-pairs-per-prompt", type=int, default=15)
    p.add_argument("--train-config", default=None, help="YAML of MPOConfig fields (as mmpo train --config)")
    p.add_argument("--train-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="an MPOConfig field for every round's training (repeatable)")
    p.add_argument("--modes", default="direct,cot", help="eval modes (default direct,cot)")
    p.add_argument("--eval-max-new-tokens", type=int, default=None, help="eval length limit (default: --max-new-tokens)")
    p.add_argument("--eval-batch-size", type=int, default=8)
    p.add_argument("--eval-limit", type=int, default=None, help="only the first K eval records")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the checkpoint's own Python code (only for checkpoints you trust)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from mmpo.errors import MMPOError
    from mmpo.iterate.run import IterateConfig, run_iterate

    options = {}
    for item in args.train_set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MMPOError(f"--train-set expects FIELD=VALUE, got {item!r}")
        options[key.strip().lstrip("-")] = value
    cfg = IterateConfig(model=args.model, data=args.data, eval_data=args.eval_data, rounds=args.rounds, out=args.out,
                        seed=args.seed, n=args.n, temperature=args.temperature, top_k=args.top_k,
                        max_new_tokens=args.max_new_tokens, sample_batch_size=args.sample_batch_size,
                        prompt_source=args.prompt_source, limit=args.limit,
                        max_pairs_per_prompt=args.max_pairs_per_prompt, train_config=args.train_config,
                        train_options=options, modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
                        eval_max_new_tokens=args.eval_max_new_tokens, eval_batch_size=args.eval_batch_size,
                        eval_limit=args.eval_limit, trust_remote_code=args.trust_remote_code,
                        progress=not args.no_progress)
    summary = run_iterate(cfg)
    print(f"wrote {args.out}/rounds.json ({len(summary['rounds'])} rounds)")
    return 0
