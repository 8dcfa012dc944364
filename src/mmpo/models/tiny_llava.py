"""Tiny LLaVA-style families: a vision tower, a projector and a language model over a run of image tokens.

    config, processor = llava_next(DIMS["unit"], build_tokenizer("llava_next"), 64)

- llava: CLIP (patch 16, CLS dropped) or SigLIP, Llama or Qwen2: one token per 16x16 cell.
- llava_next: CLIP on 32 px tiles (4 tokens each); anyres picks a grid of tiles from
  `image_grid_pinpoints` per image (`image_sizes`), plus the whole image and a newline per row:
  24 tokens for 64x64.
- llava_onevision: SigLIP on 32 px tiles, Qwen2, anyres_max_9: 24 tokens for 64x64 alone; in a
  prompt with several images each image is one tile (4 tokens), as the family does.
- mistral3: Pixtral (patch 8, 2D rotary), 2x2 patch merging, Mistral: 16 `[IMG]` for 64x64, a
  `[IMG_BREAK]` after each row and `[IMG_END]` last; images keep their aspect ratio (`image_sizes`).
"""

from __future__ import annotations

from typing import Any

from mmpo.errors import MMPOError
from mmpo.models.tiny_parts import CELL, text_settings, token_id

TILE = 32  # LLaVA-NeXT / OneVision tile side in pixels


def _vision(d: dict, image_size: int, patch: int) -> dict:
    return dict(hidden_size=d["v_hidden"], intermediate_size=d["v_inter"], num_hidden_layers=d["v_layers"],
                num_attention_heads=d["v_heads"], image_size=image_size, patch_size=patch)


def llava(d: dict, tok: Any, image_size: int, vision: str = "clip", text: str = "llama"):
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

    vis = _vision(d, image_size, CELL)
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
    config = LlavaConfig(vision_config=vcfg, text_config=tcfg(**text_settings(d, tok, image_size)),
                         image_token_id=token_id(tok, tok.image_token),
                         vision_feature_layer=-1, vision_feature_select_strategy=strategy,
                         image_seq_length=n_img, tie_word_embeddings=False)
    processor = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=CELL,
                               vision_feature_select_strategy=strategy, chat_template=tok.chat_template,
                               image_token=tok.image_token, num_additional_image_tokens=extra)
    return config, processor


def _pinpoints(image_size: int) -> list[list[int]]:
    """Tile grids up to the image size (at least 2x2 tiles, so anyres always has a choice)."""
    top = max(image_size, 2 * TILE) // TILE
    return [[TILE * h, TILE * w] for h in range(1, top + 1) for w in range(1, top + 1)]


def llava_next(d: dict, tok: Any, image_size: int):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    grid = _pinpoints(image_size)
    vcfg = CLIPVisionConfig(**_vision(d, TILE, CELL), projection_dim=d["v_hidden"])
    config = LlavaNextConfig(vision_config=vcfg, text_config=LlamaConfig(**text_settings(d, tok, image_size)),
                             image_token_id=token_id(tok, tok.image_token), vision_feature_layer=-1,
                             vision_feature_select_strategy="default", image_grid_pinpoints=grid,
                             image_seq_length=(TILE // CELL) ** 2, tie_word_embeddings=False)
    ip = LlavaNextImageProcessorPil(size={"shortest_edge": TILE}, crop_size={"height": TILE, "width": TILE},
                                    image_grid_pinpoints=grid)
    processor = LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=CELL,
                                   vision_feature_select_strategy="default", chat_template=tok.chat_template,
                                   image_token=tok.image_token, num_additional_image_tokens=1)
    return config, processor


def llava_onevision(d: dict, tok: Any, image_size: int):
    from transformers import LlavaOnevisionConfig, Qwen2Config, SiglipVisionConfig
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    from mmpo.models.processors import processor_class

    grid = _pinpoints(image_size)
    vcfg = SiglipVisionConfig(**_vision(d, TILE, CELL))
    config = LlavaOnevisionConfig(vision_config=vcfg, text_config=Qwen2Config(**text_settings(d, tok, image_size)),
                                  image_token_id=token_id(tok, tok.image_token),
                                  video_token_id=token_id(tok, tok.video_token), vision_feature_layer=-1,
                                  vision_feature_select_strategy="full", image_grid_pinpoints=grid,
                                  vision_aspect_ratio="anyres_max_9", tie_word_embeddings=False)
    ip = LlavaOnevisionImageProcessorPil(size={"height": TILE, "width": TILE}, image_grid_pinpoints=grid)
    processor = processor_class("LlavaOnevisionProcessor")(
        image_processor=ip, tokenizer=tok, num_image_tokens=(TILE // CELL) ** 2,
        vision_feature_select_strategy="full", chat_template=tok.chat_template, image_token=tok.image_token,
        video_token=tok.video_token, vision_aspect_ratio="anyres_max_9")
    return config, processor


def mistral3(d: dict, tok: Any, image_size: int):
    from transformers import Mistral3Config, MistralConfig, PixtralVisionConfig
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    from mmpo.models.processors import processor_class
    from mmpo.models.tokenizer import PIXTRAL_BREAK, PIXTRAL_END

    patch, merge = CELL // 2, 2
    vcfg = PixtralVisionConfig(**_vision(d, image_size, patch), head_dim=d["v_hidden"] // d["v_heads"])
    config = Mistral3Config(vision_config=vcfg, text_config=MistralConfig(**text_settings(d, tok, image_size),
                                                                          sliding_window=None),
                            image_token_id=token_id(tok, tok.image_token), spatial_merge_size=merge,
                            vision_feature_layer=-1, tie_word_embeddings=False)
    ip = PixtralImageProcessorPil(size={"longest_edge": image_size}, patch_size={"height": patch, "width": patch})
    processor = processor_class("PixtralProcessor")(
        image_processor=ip, tokenizer=tok, patch_size=patch, spatial_merge_size=merge, chat_template=tok.chat_template,
        image_token=tok.image_token, image_break_token=PIXTRAL_BREAK, image_end_token=PIXTRAL_END)
    return config, processor
