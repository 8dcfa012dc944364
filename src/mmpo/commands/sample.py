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
    from mmpo.options import add_arguments
    from mmpo.sample.options import SampleOptions  # light: no torch until a model loads

    add_arguments(parser, SampleOptions)


def run(args: argparse.Namespace) -> int:
    from mmpo.options import from_arguments
    from mmpo.sample.options import SampleOptions
    from mmpo.sample.run import run_sampling

    s = run_sampling(from_arguments(SampleOptions, args))
    rate = f", {s['responses_per_s']} responses/s" if s["responses_per_s"] else ""
    print(f"{s['out']}: {s['written']} prompts written, {s['already_done']} reused, "
          f"{s['recomputed']} of them again as their record changed ({s['prompts_in_shard']} in this shard), {s['responses']} responses in {s['seconds']} s{rate}; "
          f"skipped {s['skips']['count']}")
    for item in s["skips"]["items"][:10]:
        field = f" field '{item['field']}'" if item.get("field") else ""
        where = f":{item['line']}" if item.get("line") is not None else (
            f", record {item['record']}" if item.get("record") is not None else "")
        print(f"  skipped {item['file']}{where}{field}: {item['reason']}")
    return 0
