"""Tiny offline vision-language models of real transformers architectures, random weights.

    from mmpo.models import build_tiny, save_tiny
    model, processor = build_tiny("llava", "unit")          # ~0.3M parameters, for unit tests
    save_tiny("qwen2_vl", "small", "models/tiny-qwen")      # a checkpoint that load_model reads

Every arch sees one image token per 16x16 pixel cell (16 tokens for the default 64x64 image):
LLaVA with CLIP patch 16; Qwen2-VL with patch 8 and 2x2 merging; InternVL with patch 8 and its
0.5 pixel-shuffle. `image_size=256` gives 256 tokens. Nothing is downloaded: configs are written
here and the tokenizer is trained locally (`mmpo.models.tokenizer`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mmpo.data.files import writable_dir
from mmpo.errors import MMPOError

ARCHS = ("llava", "qwen2_vl", "internvl")
SIZES = ("unit", "small")

# Per size: text hidden/layers/heads/kv-heads/intermediate and vision hidden/layers/heads/intermediate.
# `small` is the size measured to learn on 2 CPU cores (docs/demo.md): CLIP 128 x 2 layers, Llama 192 x 4 layers.
_DIMS = {
    "unit": dict(t_hidden=64, t_layers=2, t_heads=4, t_kv=2, t_inter=128,
                 v_hidden=32, v_layers=2, v_heads=2, v_inter=64),
    "small": dict(t_hidden=192, t_layers=4, t_heads=4, t_kv=4, t_inter=512,
                  v_hidden=128, v_layers=2, v_heads=4, v_inter=256),
}
CELL = 16  # pixels per image token side, for every arch


def _check(arch: str, size: str, image_size: int) -> None:
    if arch not in ARCHS:
        raise MMPOError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if size not in SIZES:
        raise MMPOError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if not isinstance(image_size, int) or image_size < CELL or image_size % CELL:
        raise MMPOError(f"image_size must be a positive multiple of {CELL}, got {image_size!r}")


def _text_common(d: dict, tok: Any, image_size: int) -> dict:
    return dict(vocab_size=len(tok), hidden_size=d["t_hidden"], num_hidden_layers=d["t_layers"],
                num_attention_heads=d["t_heads"], num_key_value_heads=d["t_kv"],
                intermediate_size=d["t_inter"], max_position_embeddings=2048 + (image_size // CELL) ** 2,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                tie_word_embeddings=False)


def _llava(d: dict, tok: Any, image_size: int, vision: str, text: str):
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaProcessor,
        Qwen2Config,
        SiglipImageProcessorPil,
        SiglipVisionConfig,
    )

    vis = dict(hidden_size=d["v_hidden"], intermediate_size=d["v_inter"], num_hidden_layers=d["v_layers"],
               num_attention_heads=d["v_heads"], image_size=image_size, patch_size=CELL)
    if vision == "clip":
        vcfg = CLIPVisionConfig(**vis, projection_dim=d["v_hidden"])
        # CLIP adds a CLS token; "default" drops it, so the LM sees one token per patch.
        strategy, extra = "default", 1
        ip = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                   crop_size={"height": image_size, "width": image_size})
    elif vision == "siglip":
        vcfg = SiglipVisionConfig(**vis)
        strategy, extra = "full", 0
        ip = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    else:
        raise MMPOError(f"unknown llava vision tower {vision!r}; choose clip or siglip")
    tcfg = {"llama": LlamaConfig, "qwen2": Qwen2Config}.get(text)
    if tcfg is None:
        raise MMPOError(f"unknown llava text model {text!r}; choose llama or qwen2")
    n_img = (image_size // CELL) ** 2
    config = LlavaConfig(vision_config=vcfg, text_config=tcfg(**_text_common(d, tok, image_size)),
                         image_token_id=tok.convert_tokens_to_ids(tok.image_token),
                         vision_feature_layer=-1, vision_feature_select_strategy=strategy,
                         image_seq_length=n_img, tie_word_embeddings=False)
    processor = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=CELL,
                               vision_feature_select_strategy=strategy, chat_template=tok.chat_template,
                               image_token=tok.image_token, num_additional_image_tokens=extra)
    return config, processor


def _qwen2_vl(d: dict, tok: Any, image_size: int):
    from transformers import Qwen2VLConfig, Qwen2VLImageProcessorPil

    from mmpo.models.processors import processor_class

    head_dim = d["t_hidden"] // d["t_heads"]
    half = head_dim // 2  # M-RoPE splits the rotary half-dims over (time, height, width)
    section = [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]
    text = _text_common(d, tok, image_size)
    text["rope_parameters"] = {"rope_type": "default", "mrope_section": section, "rope_theta": 10000.0}
    vision = dict(depth=d["v_layers"], embed_dim=d["v_hidden"], hidden_size=d["t_hidden"],
                  num_heads=d["v_heads"], mlp_ratio=d["v_inter"] // d["v_hidden"], patch_size=CELL // 2,
                  spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(text_config=text, vision_config=vision,
                           image_token_id=tok.convert_tokens_to_ids(tok.image_token),
                           video_token_id=tok.convert_tokens_to_ids(tok.video_token),
                           vision_start_token_id=tok.convert_tokens_to_ids(tok.vision_start_token),
                           vision_end_token_id=tok.convert_tokens_to_ids(tok.vision_end_token),
                           tie_word_embeddings=False)
    # Pixel bounds: images keep their size (rounded to 16) from 16x16 up to 1024x1024.
    ip = Qwen2VLImageProcessorPil(patch_size=CELL // 2, merge_size=2, temporal_patch_size=2,
                                  size={"shortest_edge": CELL * CELL, "longest_edge": 1024 * 1024})
    processor = processor_class("Qwen2VLProcessor")(image_processor=ip, tokenizer=tok,
                                                     chat_template=tok.chat_template)
    return config, processor


def _internvl(d: dict, tok: Any, image_size: int):
    from transformers import GotOcr2ImageProcessorPil, InternVLConfig

    from mmpo.models.processors import processor_class

    n_img = (image_size // CELL) ** 2
    text = _text_common(d, tok, image_size)
    text["model_type"] = "qwen2"  # InternVL 2.5/3 use a Qwen2 language model
    vision = dict(hidden_size=d["v_hidden"], num_hidden_layers=d["v_layers"], num_attention_heads=d["v_heads"],
                  intermediate_size=d["v_inter"], image_size=[image_size, image_size],
                  patch_size=[CELL // 2, CELL // 2])
    config = InternVLConfig(vision_config=vision, text_config=text, downsample_ratio=0.5,
                            image_token_id=tok.context_image_token_id, image_seq_length=n_img,
                            tie_word_embeddings=False)
    # One tile per image (no dynamic tiling): a fixed, small number of tokens.
    ip = GotOcr2ImageProcessorPil(size={"height": image_size, "width": image_size},
                                  crop_to_patches=False, min_patches=1, max_patches=1)
    processor = processor_class("InternVLProcessor")(image_processor=ip, tokenizer=tok, image_seq_length=n_img,
                                                      chat_template=tok.chat_template)
    return config, processor


def _merge(config: Any, overrides: dict[str, Any]) -> None:
    """Apply overrides like {"text_config.num_hidden_layers": 3} onto a config."""
    for key, value in overrides.items():
        target = config
        *parents, leaf = key.split(".")
        for p in parents:
            target = getattr(target, p, None)
            if target is None:
                raise MMPOError(f"config override {key!r}: no sub-config {p!r}")
        if not hasattr(target, leaf):
            raise MMPOError(f"config override {key!r}: the config has no field {leaf!r}")
        setattr(target, leaf, value)


def tiny_config(arch: str, size: str = "unit", *, image_size: int = 64, vision: str = "clip",
                text: str = "llama", overrides: dict[str, Any] | None = None):
    """(config, processor) for a tiny model; `vision`/`text` choose LLaVA's towers."""
    from mmpo.models.tokenizer import build_tokenizer

    _check(arch, size, image_size)
    d = _DIMS[size]
    tok = build_tokenizer(arch)
    if arch == "llava":
        config, processor = _llava(d, tok, image_size, vision, text)
    elif arch == "qwen2_vl":
        config, processor = _qwen2_vl(d, tok, image_size)
    else:
        config, processor = _internvl(d, tok, image_size)
    _merge(config, overrides or {})
    return config, processor


def build_tiny(arch: str, size: str = "unit", seed: int = 0, **options) -> tuple[Any, Any]:
    """A randomly initialised tiny model and its processor; the same seed gives the same weights."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    config, processor = tiny_config(arch, size, **options)
    fork = torch.random.fork_rng(devices=[])  # seed locally, leave the caller's RNG untouched
    with fork:
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(copy.deepcopy(config), dtype=torch.float32)
    tok = processor.tokenizer
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        do_sample=False, max_new_tokens=64)
    model.eval()
    return model, processor


def num_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def save_tiny(arch: str, size: str, out_dir: str | Path, seed: int = 0, **options) -> Path:
    """Build a tiny model and write it (safetensors + processor) to `out_dir`; returns the path."""
    _check(arch, size, options.get("image_size", 64))
    out = Path(out_dir)
    writable_dir(out)  # before building, so a bad --out fails at once
    model, processor = build_tiny(arch, size, seed, **options)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out
