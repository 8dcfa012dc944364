"""Sample N chains of thought per prompt; one JSON line per prompt, resumable and shardable.

Usage:
    mmpo sample --model models/tiny --data data/train.jsonl --n 8 --out samples.jsonl
    mmpo sample ... --shard 0/4 --out samples.0.jsonl     # four processes, then: mmpo pairs samples.*.jsonl
    mmpo sample ... --dropout-ntp                          # answer-less records: DropoutNTP continuations

Paper defaults: the CoT prompt ("... please use the format "Final answer: .."), temperature 1.0,
top-k 50. The image and prompt are encoded once per prompt and the N samples drawn from that one
prefill. Rerun the same command after a crash: it resumes FILE and ends with the same lines as an
uninterrupted run. A summary goes to FILE.stats.json.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mmpo.data.prompts import PROMPT_SOURCES
    from mmpo.errors import ON_ERROR
    from mmpo.sample.run import SAMPLE_STYLES  # light: no torch until a model loads

    parser.add_argument("--model", required=True, help="model directory (Hugging Face layout)")
    parser.add_argument("--data", required=True, help="prompt records: .jsonl, .json, .parquet or a `datasets` "
                                                      "folder (MathVista, M3CoT, ScienceQA, MathVerse shapes), or "
                                                      "plain JSONL with image, question[, answer]")
    parser.add_argument("--n", type=int, required=True, help="samples per prompt (paper: up to 32)")
    parser.add_argument("--out", required=True, help="output JSONL (resumed if it exists)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; each prompt's seed derives from (seed, pid)")
    parser.add_argument("--shard", default="0/1", help="i/n: take every n-th prompt starting at i (default 0/1)")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=50, help="0 = no top-k filter")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4, help="prompts per prefill (each gets N rows)")
    parser.add_argument("--prompt-style", choices=SAMPLE_STYLES, default="cot",
                        help="cot: the paper's \"Final answer: ..\" prompt; boxed: the answer in \\boxed{}")
    parser.add_argument("--prompt-source", choices=PROMPT_SOURCES, default="auto",
                        help="auto: the record's official query when it has one (MathVista's), else mmpo's layout "
                             "of question, unit and options; query: require it; mmpo: always mmpo's layout")
    parser.add_argument("--dropout-ntp", action="store_true",
                        help="for records without an answer, continue part of each response without the image")
    parser.add_argument("--dropout-ratio", type=float, default=0.5, help="share of words kept for DropoutNTP")
    parser.add_argument("--on-error", choices=ON_ERROR, default="raise",
                        help="a bad record stops the run (raise) or is counted in FILE.stats.json (skip)")
    parser.add_argument("--limit", type=int, default=None, help="only the first K records of --data")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="run the checkpoint's own Python code (only for checkpoints you trust)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from mmpo.sample.run import SampleOptions, run_sampling

    opts = SampleOptions(model=args.model, data=args.data, n=args.n, out=args.out, seed=args.seed,
                         shard=args.shard, temperature=args.temperature, top_k=args.top_k,
                         max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                         prompt_style=args.prompt_style, prompt_source=args.prompt_source,
                         dropout_ntp=args.dropout_ntp,
                         dropout_ratio=args.dropout_ratio, on_error=args.on_error, limit=args.limit,
                         progress=not args.no_progress, trust_remote_code=args.trust_remote_code)
    s = run_sampling(opts)
    rate = f", {s['responses_per_s']} responses/s" if s["responses_per_s"] else ""
    print(f"{s['out']}: {s['written']} prompts written, {s['already_done']} already there "
          f"({s['prompts_in_shard']} in this shard), {s['responses']} responses in {s['seconds']} s{rate}; "
          f"skipped {s['skips']['count']}")
    for item in s["skips"]["items"][:10]:
        field = f" field '{item['field']}'" if item.get("field") else ""
        where = f":{item['line']}" if item.get("line") is not None else (
            f", record {item['record']}" if item.get("record") is not None else "")
        print(f"  skipped {item['file']}{where}{field}: {item['reason']}")
    return 0
