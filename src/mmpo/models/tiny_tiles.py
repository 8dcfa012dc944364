"""Tiny tiling families: images cut into fixed-size tiles, each tile's patches pixel-shuffled.

    config, processor = idefics3(DIMS["unit"], build_tokenizer("idefics3"), 64)

- internvl: one 64 px tile per image (no dynamic tiling), patch 8, 0.5 pixel shuffle: one token
  per 16x16 cell, between `<img>` and `</img>`.
- idefics3, smolvlm: images split into 32 px tiles (up to 2x2 for 64 px, `do_image_splitting`)
  plus the whole image scaled down, each tile 4 tokens (patch 8, scale factor 2) framed by
  `<fake_token_around_image>` and `<row_i_col_j>` / `<global-img>`: 20 image tokens for 64x64.
  `pixel_values` are per prompt (prompts x tiles x 3 x 32 x 32, zero tiles as padding) with a
  `pixel_attention_mask`.
"""

from __future__ import annotations

from typing import Any

from mmpo.models.tiny_parts import CELL, text_settings, token_id

TILE, PATCH, SCALE = 32, CELL // 2, 2


def internvl(d: dict, tok: Any, image_size: int):
    from transformers import GotOcr2ImageProcessorPil, InternVLConfig

    from mmpo.models.processors import processor_class

    n_img = (image_size // CELL) ** 2
    text = text_settings(d, tok, image_size)
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


def _splitting(d: dict, tok: Any, image_size: int, family: str):
    import transformers

    prefix = {"idefics3": "Idefics3", "smolvlm": "SmolVLM"}[family]
    vision = dict(hidden_size=d["v_hidden"], intermediate_size=d["v_inter"], num_hidden_layers=d["v_layers"],
                  num_attention_heads=d["v_heads"], image_size=TILE, patch_size=PATCH)
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=vision, text_config=dict(model_type="llama", **text_settings(d, tok, image_size)),
        scale_factor=SCALE, image_token_id=token_id(tok, tok.image_token), pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False)
    module = getattr(transformers.models, family)
    ip_cls = getattr(getattr(module, f"image_processing_pil_{family}"), f"{prefix}ImageProcessorPil")
    ip = ip_cls(do_image_splitting=True, size={"longest_edge": max(image_size, TILE)},
                max_image_size={"longest_edge": TILE})
    return config, ip, (TILE // PATCH // SCALE) ** 2


def idefics3(d: dict, tok: Any, image_size: int):
    from transformers import Idefics3Processor

    config, ip, per_tile = _splitting(d, tok, image_size, "idefics3")
    processor = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=per_tile,
                                  chat_template=tok.chat_template)
    return config, processor


def smolvlm(d: dict, tok: Any, image_size: int):
    from mmpo.models.processors import processor_class

    config, ip, per_tile = _splitting(d, tok, image_size, "smolvlm")
    processor = processor_class("SmolVLMProcessor")(image_processor=ip, tokenizer=tok, image_seq_len=per_tile,
                                                     chat_template=tok.chat_template)
    return config, processor
