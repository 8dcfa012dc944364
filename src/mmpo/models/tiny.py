"""Tiny offline vision-language models of real transformers architectures, random weights.

    from mmpo.models import build_tiny, save_tiny
    model, processor = build_tiny("llava", "unit")          # ~0.3M parameters, for unit tests
    save_tiny("qwen2_vl", "small", "models/tiny-qwen")      # a checkpoint that load_model reads

Archs are transformers `model_type` names (`ARCHS`), built by `mmpo.models.tiny_llava`,
`tiny_qwen`, `tiny_tiles` and `tiny_gemma`. Where the family allows, an arch sees one image token
per 16x16 pixel cell (16 tokens for the default 64x64 image; `image_size=256` gives 256): LLaVA
with CLIP patch 16; Qwen2-VL and its kin with patch 8 and 2x2 merging; InternVL with patch 8 and
its 0.5 pixel-shuffle. Tiling families (LLaVA-NeXT, OneVision, Idefics3, SmolVLM) add tiles;
each module's docstring gives the counts. Nothing is downloaded: configs are written here and the
tokenizer is trained locally (`mmpo.models.tokenizer`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mmpo.data.files import writable_dir
from mmpo.errors import MMPOError
from mmpo.models.portable import make_portable
from mmpo.models.tiny_parts import CELL, DIMS

ARCHS = ("llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl", "idefics3",
         "smolvlm", "gemma3", "mistral3", "glm4v", "paligemma")  # transformers model_type names
SIZES = ("unit", "small", "serve")  # serve: unit with heads vLLM's CPU build takes
# Which module builds each arch (`mmpo.models.tiny_<module>`; each module's docstring says how many
# image tokens its families give an image).
_FAMILY_MODULE = {"llava": "llava", "llava_next": "llava", "llava_onevision": "llava", "mistral3": "llava",
                  "qwen2_vl": "qwen", "qwen2_5_vl": "qwen", "qwen3_vl": "qwen", "glm4v": "qwen",
                  "internvl": "tiles", "idefics3": "tiles", "smolvlm": "tiles", "gemma3": "gemma",
                  "paligemma": "gemma"}


def _check(arch: str, size: str, image_size: int) -> None:
    if arch not in ARCHS:
        raise MMPOError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    if size not in SIZES:
        raise MMPOError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if not isinstance(image_size, int) or image_size < CELL or image_size % CELL:
        raise MMPOError(f"image_size must be a positive multiple of {CELL}, got {image_size!r}")


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
    from mmpo.models import tiny_gemma, tiny_llava, tiny_qwen, tiny_tiles
    from mmpo.models.tokenizer import build_tokenizer

    _check(arch, size, image_size)
    d = DIMS[size]
    tok = build_tokenizer(arch)
    modules = {"llava": tiny_llava, "qwen": tiny_qwen, "tiles": tiny_tiles, "gemma": tiny_gemma}
    builder = getattr(modules[_FAMILY_MODULE[arch]], arch)
    if arch == "llava":
        config, processor = builder(d, tok, image_size, vision=vision, text=text)
    elif (vision, text) != ("clip", "llama"):
        raise MMPOError("the vision and text options apply to arch llava only")
    else:
        config, processor = builder(d, tok, image_size)
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
        if arch == "gemma3":
            from mmpo.models.tiny_gemma import gemma3_weights

            gemma3_weights(model)
    tok = processor.tokenizer
    model.generation_config = GenerationConfig(
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
        do_sample=False)
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
    make_portable(out)  # weight names vLLM loads too (mmpo.models.portable)
    return out
