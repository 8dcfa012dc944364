"""Responses/s of mmpo's shared-prefix sampler against `generate(num_return_sequences=N)`.

Usage:
    .venv/bin/python bench/sampling.py                      # tiny LLaVA (small), 128x128 images = 64 image tokens
    .venv/bin/python bench/sampling.py --image-size 256 --prompts 16 --n 8 --max-new-tokens 64

Same model, prompts (the paper's CoT prompt on the embedded benchmark), batch of prompts, sampling
settings (temperature 1.0, top-k 50) and threads; the two take turns batch by batch in one run, so
drift in machine load hits both. Every response runs to the same length (`min_new_tokens` for
generate, EOS ignored by ours via an unused stop id), so both produce the same number of tokens.
CPU numbers are ratios only.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="llava", choices=("llava", "qwen2_vl", "internvl"))
    ap.add_argument("--size", default="small", choices=("unit", "small"))
    ap.add_argument("--image-size", type=int, default=128, help="pixels; image tokens = (size / 16)^2")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4, help="prompts per batch (each x N rows)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()

    import torch

    from mmpo.data.chat import chat_prompt, encode, image_token_count
    from mmpo.data.images import load_image
    from mmpo.data.prompts import build_prompt
    from mmpo.data.records import load_records
    from mmpo.models import build_tiny, num_parameters
    from mmpo.sample.prefill import draw_samples
    from mmpo.synth import write_benchmark

    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = build_tiny(args.arch, args.size, image_size=args.image_size)
    model.to(args.device)
    # Never stop early: both paths then make exactly n x max_new_tokens tokens per prompt.
    never = model.get_output_embeddings().weight.shape[0]  # an id no row can draw
    model.generation_config.eos_token_id = [never]
    with tempfile.TemporaryDirectory() as tmp:
        # The benchmark's own images, scaled up to the model's input size.
        data = write_benchmark(tmp, n=args.prompts, seed=0)
        recs = load_records(data)
        images = [load_image(r["image_path"]).resize((args.image_size, args.image_size)) for r in recs]
    texts = [chat_prompt(processor, build_prompt(r, "cot")) for r in recs]
    n_img = image_token_count(processor, images[0])
    lens = [encode(processor, [t], [im])["input_ids"].shape[1] for t, im in zip(texts, images)]
    print(f"model: tiny {args.arch} ({args.size}, {num_parameters(model):,} parameters); {args.prompts} prompts, "
          f"{n_img} image tokens, {min(lens)}-{max(lens)} prompt tokens; N={args.n}, "
          f"{args.max_new_tokens} new tokens, batch {args.batch_size} prompts; {args.device}, "
          f"threads {torch.get_num_threads()}")

    def ours(i, j):
        draw_samples(model, processor, texts[i:j], images[i:j], n=args.n, seeds=list(range(i, j)),
                     temperature=1.0, top_k=50, max_new_tokens=args.max_new_tokens)

    def peer(i, j):
        enc = encode(processor, texts[i:j], images[i:j]).to(args.device)
        with torch.inference_mode():
            model.generate(**enc, do_sample=True, temperature=1.0, top_k=50, num_return_sequences=args.n,
                           max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens,
                           eos_token_id=never, pad_token_id=processor.tokenizer.pad_token_id)

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    ours(0, args.batch_size)
    peer(0, args.batch_size)  # warm-up: the first call of each path pays one-time set-up costs
    spent = {"mmpo": 0.0, "generate": 0.0}
    for k, i in enumerate(range(0, args.prompts, args.batch_size)):
        j = min(args.prompts, i + args.batch_size)
        order = [("mmpo", ours), ("generate", peer)]
        for name, fn in order if k % 2 == 0 else order[::-1]:
            sync()
            t0 = time.perf_counter()
            fn(i, j)
            sync()
            spent[name] += time.perf_counter() - t0
    responses = args.prompts * args.n
    rate = {k: responses / v for k, v in spent.items()}
    print(f"mmpo shared prefix:               {rate['mmpo']:8.1f} responses/s ({spent['mmpo']:.1f} s)")
    print(f"generate(num_return_sequences={args.n}): {rate['generate']:8.1f} responses/s "
          f"({spent['generate']:.1f} s)")
    print(f"ratio: {rate['mmpo'] / rate['generate']:.2f}x")


if __name__ == "__main__":
    main()
