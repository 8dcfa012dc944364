"""Time one MPO training step: mmpo's shared-prefix forward against the plain forward and TRL's DPOTrainer.

    .venv/bin/python bench/train_step.py                       # CPU, fp32, ~20M-parameter LLaVA-style model
    .venv/bin/python bench/train_step.py --device cuda --dtype bf16 --image-tokens 1024 \\
        --hidden 1024 --layers 12 --vocab 32000                 # a GPU, a ~200M-parameter model

One step = policy forward, reference log-probs, loss 0.8 sigmoid + 0.2 bco_pair + 1.0 sft, backward,
AdamW step, on the same model weights, tokens and images for every variant:

  a  mmpo: shared-prefix forward, reference log-probs precomputed (mmpo.train.reference: a no-grad pass, the
     on-disk cache, Reference("precomputed"); no reference model at train time)
  b  mmpo: shared-prefix forward, reference model run each step (shared-prefix, no grad)
  c  mmpo: plain two-sequence forward for policy and reference (what every peer does)
  d  TRL DPOTrainer.compute_loss with loss_type=[sigmoid, bco_pair, sft], loss_weights=[0.8, 0.2, 1.0]

Timing alternates the variants in one process (the order rotates every repetition) and reports the
median step. Peak memory comes from one fresh subprocess per variant holding only what that variant
needs (policy, AdamW state, a reference model unless precomputed): on CUDA the allocator's peak; on
CPU the process's peak RSS (VmHWM, reset after setup) minus its RSS after imports. CPU numbers are
meaningful as ratios only.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

VARIANTS = {
    "a": "mmpo shared-prefix + precomputed ref",
    "b": "mmpo shared-prefix + ref forward",
    "c": "mmpo plain two-sequence",
    "d": "TRL DPOTrainer",
}
BETA, WEIGHTS = 0.1, (0.8, 0.2, 1.0)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa")
    p.add_argument("--threads", type=int, default=2, help="torch threads on CPU, the same for every variant")
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--image-tokens", type=int, default=256, help="a square number; 16x16 pixels per token")
    p.add_argument("--prompt-tokens", type=int, default=40, help="text tokens of the prompt besides the image")
    p.add_argument("--completion-tokens", type=int, default=100, help="mean length of chosen and rejected")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--vision-hidden", type=int, default=256)
    p.add_argument("--vision-layers", type=int, default=4)
    p.add_argument("--vocab", type=int, default=None, help="LM vocabulary size (default: the tiny tokenizer's)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--variants", default="abcd")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant memory subprocesses")
    p.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)  # internal: one variant's memory run
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


def _torch_dtype(args):
    import torch

    return torch.bfloat16 if args.dtype == "bf16" else torch.float32


def build_model(args):
    """A LLaVA-style model (CLIP tower, Llama decoder) from mmpo's tiny builder, resized by the flags."""
    from mmpo.models import build_tiny

    side = math.isqrt(args.image_tokens)
    if side * side != args.image_tokens:
        raise SystemExit(f"--image-tokens must be a square number, got {args.image_tokens}")
    heads, vheads = max(1, args.hidden // 64), max(1, args.vision_hidden // 64)
    overrides = {
        "text_config.hidden_size": args.hidden, "text_config.num_hidden_layers": args.layers,
        "text_config.intermediate_size": args.hidden * 8 // 3, "text_config.num_attention_heads": heads,
        "text_config.num_key_value_heads": heads, "text_config.head_dim": args.hidden // heads,
        "vision_config.hidden_size": args.vision_hidden, "vision_config.num_hidden_layers": args.vision_layers,
        "vision_config.intermediate_size": args.vision_hidden * 4, "vision_config.num_attention_heads": vheads,
        "vision_config.projection_dim": args.vision_hidden,
    }
    if args.vocab:
        overrides["text_config.vocab_size"] = args.vocab
    model, processor = build_tiny("llava", "small", seed=args.seed, image_size=16 * side, overrides=overrides)
    model.config._attn_implementation = args.attn
    model.config.get_text_config()._attn_implementation = args.attn
    return model.to(device=args.device, dtype=_torch_dtype(args)), processor


def make_examples(args, processor) -> list[dict]:
    """TRL-format pairs: one random image, a prompt of numbers, chosen/rejected of ~N number tokens each.

    The tiny tokenizer encodes " 0" ... " 99" as one token each, so token counts are exact.
    """
    import numpy as np
    from PIL import Image

    rng = random.Random(args.seed)
    side = 16 * math.isqrt(args.image_tokens)
    tok = processor.tokenizer

    def numbers(n: int) -> str:
        return "".join(f" {rng.randrange(100)}" for _ in range(n))

    examples = []
    for i in range(args.pairs):
        pixels = np.random.default_rng(args.seed + i).integers(0, 256, (side, side, 3), dtype=np.uint8)
        spread = args.completion_tokens // 10
        examples.append({
            "images": [Image.fromarray(pixels)],
            "prompt": tok.image_token + numbers(args.prompt_tokens - 1),
            "chosen": numbers(args.completion_tokens + rng.randint(-spread, spread) - 1) + tok.eos_token,
            "rejected": numbers(args.completion_tokens + rng.randint(-spread, spread) - 1) + tok.eos_token,
        })
    return examples


def mmpo_inputs(args, processor, examples) -> dict:
    """The processor's prompt inputs and the completions, tokenized the way TRL's vision collator does."""
    tok = processor.tokenizer
    prompt = processor(images=[e["images"] for e in examples], text=[e["prompt"] for e in examples],
                       padding=True, padding_side="left", return_tensors="pt", add_special_tokens=False)
    out = {"prompt_inputs": {k: v.to(args.device) for k, v in prompt.items()}}
    for side in ("chosen", "rejected"):
        enc = tok([e[side] for e in examples], padding=True, padding_side="right", return_tensors="pt",
                  add_special_tokens=False)
        out[f"{side}_ids"], out[f"{side}_mask"] = enc["input_ids"].to(args.device), enc["attention_mask"].to(
            args.device)
    out["prompt_inputs"]["pixel_values"] = out["prompt_inputs"]["pixel_values"].to(_torch_dtype(args))
    return out


def mpo_loss(policy: dict, ref_chosen, ref_rejected, shift):
    """0.8 DPO + 0.2 BCO (running-mean shift) + 1.0 SFT, from mmpo.train.losses (DESIGN.md §3)."""
    import torch

    from mmpo.train.losses import bco_pair_loss, sft_loss, sigmoid_loss

    hc, hr = policy["chosen_logps"] - ref_chosen, policy["rejected_logps"] - ref_rejected
    delta = shift.update(BETA * torch.cat([hc, hr]).detach().mean())
    return (WEIGHTS[0] * sigmoid_loss(hc, hr, BETA).mean() + WEIGHTS[1] * bco_pair_loss(hc, hr, BETA, delta).mean()
            + WEIGHTS[2] * sft_loss(policy["chosen_logps"], policy["chosen_tokens"].sum()))


def _optimizer(model):
    import torch

    return torch.optim.AdamW(model.parameters(), lr=1e-6, betas=(0.9, 0.999), weight_decay=0.05)


def make_mmpo_step(variant: str, policy, reference, inputs):
    """A closure running one training step of variant a, b or c; the policy is its own copy."""
    import torch

    from mmpo.train.logps import plain_logps, shared_prefix_logps
    from mmpo.train.losses import RewardShift

    forward = plain_logps if variant == "c" else shared_prefix_logps
    opt, shift = _optimizer(policy), RewardShift("running_mean")
    cached = None
    if variant == "a":
        # mmpo's precomputed path without the Trainer: the no-grad pass over the start model (the
        # reference), the on-disk cache (mmpo.train.reference), and Reference("precomputed") reading the
        # values from the batch, as MPOTrainer.compute_loss does. No reference model is kept.
        from pathlib import Path

        from mmpo.train.reference import Reference, model_digest, read_cache, write_cache

        policy.eval()
        with torch.no_grad():
            out = shared_prefix_logps(policy, **inputs)
        policy.train()
        parts = {"model": model_digest(policy), "data": "bench", "settings": "bench"}
        path = Path(tempfile.mkdtemp()) / "train.safetensors"
        write_cache(path, torch.stack([out["chosen_logps"], out["rejected_logps"]]).float().cpu(), parts)
        values, why = read_cache(path, parts)
        assert values is not None, why
        device = inputs["chosen_ids"].device
        cached = {"ref_chosen_logps": values[0].to(device), "ref_rejected_logps": values[1].to(device)}
        precomputed = Reference("precomputed")

    def step() -> float:
        out = forward(policy, **inputs)
        if cached is not None:
            ref = precomputed.logps(policy, cached)
            ref_c, ref_r = ref["chosen_logps"], ref["rejected_logps"]
        else:
            with torch.no_grad():
                ref = forward(reference, **inputs)
            ref_c, ref_r = ref["chosen_logps"], ref["rejected_logps"]
        loss = mpo_loss(out, ref_c, ref_r, shift)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def make_trl_step(args, policy, reference, processor, examples, workdir):
    """TRL's own loss on its own collated batch: DPOTrainer.compute_loss + backward + the same AdamW."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    config = DPOConfig(
        output_dir=workdir, loss_type=["sigmoid", "bco_pair", "sft"], loss_weights=list(WEIGHTS), beta=BETA,
        per_device_train_batch_size=args.pairs, max_length=None, report_to=[], bf16=False, fp16=False,
        gradient_checkpointing=False,  # mmpo does not recompute activations either
        use_cpu=args.device == "cpu", disable_dropout=True, remove_unused_columns=False, save_strategy="no",
        logging_steps=10**6)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=config, processing_class=processor,
                         train_dataset=datasets.Dataset.from_list(examples))
    trainer.model.train()
    batch = trainer._prepare_inputs(trainer.data_collator([dict(e) for e in examples]))
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_torch_dtype(args))
    opt = _optimizer(trainer.model)

    def step() -> float:
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    step.trainer = trainer
    step.tokens = int(batch["completion_mask"].sum())
    return step


def _sync(args) -> None:
    import torch

    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def _setup(args, variants: str):
    """Models, inputs and step closures for the given variants (each policy a fresh copy of one init)."""
    import copy

    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    base, processor = build_model(args)
    examples = make_examples(args, processor)
    inputs = mmpo_inputs(args, processor, examples)
    needs_ref = any(v in "bcd" for v in variants)
    reference = copy.deepcopy(base).eval().requires_grad_(False) if needs_ref else None
    steps, keep = {}, [base]
    for v in variants:
        policy = copy.deepcopy(base).train() if v != variants[-1] else base.train()
        if v == "d":
            steps[v] = make_trl_step(args, policy, reference, processor, examples, tempfile.mkdtemp())
        else:
            steps[v] = make_mmpo_step(v, policy, reference, inputs)
        keep.append(policy)
    return base, inputs, steps


def memory_of(args) -> None:
    """One variant in this fresh process: print its peak memory as JSON on the last line."""
    import torch  # noqa: F401  imported before the baseline so that the baseline includes it
    import trl  # noqa: F401  every variant pays the same imports

    baseline = _rss_bytes()
    base, inputs, steps = _setup(args, args.memory_of)
    step = steps[args.memory_of]
    step()  # the first step allocates AdamW's state, which every later step holds
    gc.collect()
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak_rss()
    for _ in range(2):
        step()
    _sync(args)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _peak_rss_bytes() - baseline
    print(json.dumps({"variant": args.memory_of, "peak_bytes": peak}))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so the peak covers the measured steps only.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _memory_subprocess(argv: list[str], variant: str) -> int | None:
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--memory-of", variant, "--no-memory"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if run.returncode != 0:
        print(f"memory run of {variant} failed:\n{run.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])["peak_bytes"]


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # TRL and transformers deprecation notices say nothing about the measurement.
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*requires_grad=True to a scalar.*")
    if args.memory_of:
        memory_of(args)
        return
    import torch

    import mmpo.train.logps

    variants = "".join(v for v in "abcd" if v in args.variants)
    base, inputs, steps = _setup(args, variants)
    n_params = sum(p.numel() for p in base.parameters())
    prompt_len = int(inputs["prompt_inputs"]["attention_mask"].sum(1).float().mean())
    comp = int(inputs["chosen_mask"].sum() + inputs["rejected_mask"].sum())
    print(f"model: LLaVA-style, {n_params / 1e6:.1f}M parameters, {args.dtype}, {args.attn}, device {args.device}"
          + (f", {torch.get_num_threads()} threads" if args.device == "cpu" else ""))
    print(f"batch: {args.pairs} pairs, {args.image_tokens} image tokens + {args.prompt_tokens} text tokens per prompt "
          f"(mean prompt {prompt_len} tokens), {comp} completion tokens (chosen + rejected)")
    if "d" in steps:
        if steps["d"].tokens != comp:
            raise SystemExit(f"TRL's batch has {steps['d'].tokens} completion tokens, mmpo's {comp}: not the same data")
    # The same first loss for every variant: the same model, data and loss (TRL's bco has no running shift,
    # which at step 0 changes nothing: every reward is 0).
    first = {v: steps[v]() for v in variants}
    print("first loss: " + ", ".join(f"{v} {first[v]:.6f}" for v in variants))
    assert mmpo.train.logps.unsupported_reason(base, inputs["prompt_inputs"]) is None

    times = {v: [] for v in variants}
    for rep in range(args.reps):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for v in order:
            _sync(args)
            t0 = time.perf_counter()
            steps[v]()
            _sync(args)
            times[v].append(time.perf_counter() - t0)
        print(f"rep {rep}: " + ", ".join(f"{v} {times[v][-1]:.3f}s" for v in variants), flush=True)

    memory = {}
    if not args.no_memory:
        del steps, base
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        memory = {v: _memory_subprocess(argv, v) for v in variants}

    median = {v: statistics.median(times[v]) for v in variants}
    rate = {v: args.pairs / median[v] for v in variants}
    unit = "GPU peak allocated" if args.device.startswith("cuda") else "peak RSS above imports"
    print(f"\n| variant | step s (median of {args.reps}) | pairs/s | vs TRL | {unit} MiB | vs TRL |")
    print("|---|---|---|---|---|---|")
    for v in variants:
        vs = f"{rate[v] / rate['d']:.2f}x" if "d" in rate else "-"
        mem = memory.get(v)
        mem_s = f"{mem / 2**20:.0f}" if mem else "-"
        mem_vs = f"{mem / memory['d']:.2f}x" if mem and memory.get("d") else "-"
        print(f"| {v}: {VARIANTS[v]} | {median[v]:.3f} | {rate[v]:.2f} | {vs} | {mem_s} | {mem_vs} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "parameters": n_params, "times": times, "pairs_per_s": rate,
                       "peak_bytes": memory, "first_loss": first}, f, indent=1)


if __name__ == "__main__":
    main()
