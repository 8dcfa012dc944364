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

The sampling, pairs and evaluation flags are those of `mmpo sample`, `mmpo pairs` and `mmpo eval`,
with their defaults; evaluation's own are prefixed (--eval-batch-size, --eval-limit, ...).
"""

from __future__ import annotations

import argparse

# Flags of mmpo sample / mmpo eval that mmpo iterate exposes, under the names it gives them.
SAMPLE_FLAGS = {"n": "--n", "temperature": "--temperature", "top_k": "--top-k", "max_new_tokens": "--max-new-tokens",
                "batch_size": "--sample-batch-size", "prompt_source": "--prompt-source", "limit": "--limit",
                "trust_remote_code": "--trust-remote-code", "progress": "--no-progress",
                "dropout_ntp": "--dropout-ntp", "engine": "--engine", "concurrency": "--concurrency",
                "vllm_bin": "--vllm-bin", "vllm_arg": "--vllm-arg"}
# One engine for every stage of every round (`--engine vllm` serves each round's model in turn).
ENGINE_SHARED = ("engine", "concurrency", "vllm_bin", "vllm_arg")
EVAL_FLAGS = {"modes": "--modes", "max_new_tokens": "--eval-max-new-tokens", "batch_size": "--eval-batch-size",
              "limit": "--eval-limit"}


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.eval.options import EvalOptions
    from mmpo.iterate.run import IterateConfig
    from mmpo.options import add_arguments
    from mmpo.pairs.options import PairOptions
    from mmpo.sample.options import SampleOptions

    add_arguments(p, IterateConfig)
    add_arguments(p.add_argument_group("sampling (as mmpo sample)"), SampleOptions, only=SAMPLE_FLAGS,
                  flags=SAMPLE_FLAGS, dest_prefix="sample.")
    add_arguments(p.add_argument_group("pairs (as mmpo pairs)"), PairOptions, only=["max_pairs_per_prompt"],
                  dest_prefix="pairs.")
    p.add_argument("--train-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="an MPOConfig field for every round's training (repeatable)")
    add_arguments(p.add_argument_group("evaluation (as mmpo eval)"), EvalOptions, only=EVAL_FLAGS,
                  flags=EVAL_FLAGS, defaults={"max_new_tokens": None},
                  notes={"max_new_tokens": "--max-new-tokens"}, dest_prefix="eval.")


def _train_set(items: list[str]) -> dict[str, str]:
    from mmpo.errors import MMPOError

    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MMPOError(f"--train-set expects FIELD=VALUE, got {item!r}")
        options[key.strip().lstrip("-")] = value
    return options


def run(args: argparse.Namespace) -> int:
    from mmpo.eval.options import EvalOptions
    from mmpo.iterate.run import IterateConfig, run_iterate
    from mmpo.options import from_arguments
    from mmpo.pairs.options import PairOptions
    from mmpo.sample.options import SampleOptions

    sample = from_arguments(SampleOptions, args, dest_prefix="sample.")
    # One --prompt-source, --trust-remote-code and --no-progress for every stage of every round; the
    # eval's length limit follows sampling's unless given.
    shared = {"prompt_source": sample.prompt_source, "trust_remote_code": sample.trust_remote_code,
              "progress": sample.progress, **{k: getattr(sample, k) for k in ENGINE_SHARED}}
    eval_opts = from_arguments(EvalOptions, args, dest_prefix="eval.", **shared,
                               max_new_tokens=getattr(args, "eval.max_new_tokens") or sample.max_new_tokens)
    training = {"trust_remote_code": str(sample.trust_remote_code).lower(), **_train_set(args.train_set)}
    if not sample.progress:
        training["disable_tqdm"] = "true"
    pairs = from_arguments(PairOptions, args, dest_prefix="pairs.")
    cfg = from_arguments(IterateConfig, args, sample=sample, pairs=pairs, training=training, eval=eval_opts)
    summary = run_iterate(cfg)
    print(f"wrote {args.out}/rounds.json ({len(summary['rounds'])} rounds)")
    return 0
