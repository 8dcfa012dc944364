"""`mmpo sample --engine hf` against `--engine vllm` on the same model, prompts, N and token budget, one run.

Usage:
    PYTHONPATH=src .venv/bin/python bench/engine_sampling.py                     # tiny Qwen2-VL (serve size)
    PYTHONPATH=src .venv/bin/python bench/engine_sampling.py --model smol --prompts 32 --max-new-tokens 128 \
        --temperature 0.6 --top-k 20                                               # the SmolLM2 backbone

Both go through `mmpo.sample.run.run_sampling` (the whole stage: images, prompts, verdicts, the file):
HF first, then vLLM (.venv-vllm, `make vllm`) started once and timed apart from its start-up. Prints
responses/s of each, the ratio, and the pass rate of each with a paired bootstrap interval of the
difference per prompt. Responses end at EOS or the token budget, so token counts are printed too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _pass_rates(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        verdicts = [r["verdict"] for r in obj["responses"]]
        out[obj["pid"]] = sum(v == "correct" for v in verdicts) / len(verdicts)
    return out


def _interval(diffs: list[float], reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(reps))
    return means[int(0.025 * reps)], means[int(0.975 * reps) - 1]


def _model(kind: str, folder: Path) -> Path:
    if kind == "smol":
        from mmpo.pretrain.smol_align import save_aligned_smol

        save_aligned_smol(folder, 0)
        return folder
    from mmpo.models import save_tiny

    return save_tiny(kind, "serve", folder, seed=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen2_vl", help="a tiny arch (serve size) or smol (the aligned SmolLM2)")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8, help="HF engine: prompts per prefill")
    ap.add_argument("--concurrency", type=int, default=16, help="vLLM engine: requests in flight")
    args = ap.parse_args()

    from mmpo.engines.server import VLLMServer
    from mmpo.sample.options import SampleOptions
    from mmpo.sample.run import run_sampling
    from mmpo.synth import write_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = _model(args.model, tmp / "model")
        data = write_benchmark(tmp / "data", args.prompts, seed=0, families=["digits"], split_name="train")
        common = dict(model=str(model), data=str(data), n=args.n, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, top_k=args.top_k, prompt_source="mmpo", progress=False)
        hf = run_sampling(SampleOptions(**common, out=str(tmp / "hf.jsonl"), batch_size=args.batch_size))
        t0 = time.perf_counter()
        with VLLMServer(model, extra_args=["--enforce-eager"]) as server:
            start = time.perf_counter() - t0
            vl = run_sampling(SampleOptions(**common, out=str(tmp / "vllm.jsonl"), engine="openai",
                                            base_url=(server.base_url,), concurrency=args.concurrency))
        tokens = {}
        for name in ("hf", "vllm"):
            lines = [json.loads(x) for x in (tmp / f"{name}.jsonl").read_text().splitlines()]
            tokens[name] = sum(r["truncated"] for x in lines for r in x["responses"])
        a, b = _pass_rates(tmp / "hf.jsonl"), _pass_rates(tmp / "vllm.jsonl")
    diffs = [b[p] - a[p] for p in a]
    lo, hi = _interval(diffs)
    print(f"model {args.model}; {args.prompts} prompts x N={args.n}, <= {args.max_new_tokens} new tokens, "
          f"temperature {args.temperature}, top-k {args.top_k}")
    print(f"hf engine:   {hf['responses_per_s']:8.1f} responses/s ({hf['seconds']:.1f} s; "
          f"{tokens['hf']} responses hit the budget)")
    print(f"vllm engine: {vl['responses_per_s']:8.1f} responses/s ({vl['seconds']:.1f} s, after {start:.0f} s "
          f"start-up; {tokens['vllm']} responses hit the budget)")
    print(f"ratio vllm/hf: {vl['responses_per_s'] / hf['responses_per_s']:.2f}x")
    print(f"pass rate: hf {100 * sum(a.values()) / len(a):.1f}%, vllm {100 * sum(b.values()) / len(b):.1f}%, "
          f"vllm - hf {100 * sum(diffs) / len(diffs):+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] "
          "(paired bootstrap over prompts)")


if __name__ == "__main__":
    main()
