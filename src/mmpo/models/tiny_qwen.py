"""Tiny M-RoPE families: variable image grids, patches merged 2x2, 3-axis rotary positions.

    config, processor = qwen3_vl(DIMS["unit"], build_tokenizer("qwen3_vl"), 64)

Every one sees one image token per 16x16 pixel cell (patch 8, 2x2 merging), and each image keeps
its own size (rounded to 16 px), from 16x16 up to 1024x1024.

- qwen2_vl: Qwen2 text, M-RoPE over (time, height, width) sections.
- qwen2_5_vl: windowed vision attention (one window of 2x2 merged tokens, the last block full).
- qwen3_vl: Qwen3 text (q/k norms), interleaved M-RoPE, deepstack: vision features of an earlier
  vision block added to the first decoder layer's hidden states at the image positions.
- glm4v: GLM-4.1V text (partial rotary, M-RoPE), image tokens between begin/end-of-image markers.
"""

from __future__ import annotations

from typing import Any

from mmpo.models.tiny_parts import CELL, mrope_section, text_settings, token_id

PATCH, MERGE, TEMPORAL = CELL // 2, 2, 2
_PIXELS = {"shortest_edge": CELL * CELL, "longest_edge": 1024 * 1024}


def _ids(tok: Any) -> dict:
    return dict(image_token_id=token_id(tok, tok.image_token), video_token_id=token_id(tok, tok.video_token),
                vision_start_token_id=token_id(tok, tok.vision_start_token),
                vision_end_token_id=token_id(tok, tok.vision_end_token), tie_word_embeddings=False)


def _image_processor():
    from transformers import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=TEMPORAL, size=_PIXELS)


def qwen2_vl(d: dict, tok: Any, image_size: int):
    from transformers import Qwen2VLConfig

    from mmpo.models.processors import processor_class

    text = text_settings(d, tok, image_size)
    text["rope_parameters"] = {"rope_type": "default", "mrope_section": mrope_section(d), "rope_theta": 10000.0}
    vision = dict(depth=d["v_layers"], embed_dim=d["v_hidden"], hidden_size=d["t_hidden"],
                  num_heads=d["v_heads"], mlp_ratio=d["v_inter"] // d["v_hidden"], patch_size=PATCH,
                  spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, **_ids(tok))
    processor = processor_class("Qwen2VLProcessor")(image_processor=_image_processor(), tokenizer=tok,
                                                     chat_template=tok.chat_template)
    return config, processor


def qwen2_5_vl(d: dict, tok: Any, image_size: int):
    from transformers import Qwen2_5_VLConfig

    from mmpo.models.processors import processor_class

    text = text_settings(d, tok, image_size)
    text["rope_parameters"] = {"rope_type": "default", "mrope_section": mrope_section(d), "rope_theta": 10000.0}
    vision = dict(depth=d["v_layers"], hidden_size=d["v_hidden"], intermediate_size=d["v_inter"],
                  num_heads=d["v_heads"], patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL,
                  out_hidden_size=d["t_hidden"], window_size=2 * PATCH * MERGE,
                  fullatt_block_indexes=[d["v_layers"] - 1])
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_ids(tok))
    processor = processor_class("Qwen2_5_VLProcessor")(image_processor=_image_processor(), tokenizer=tok,
                                                        chat_template=tok.chat_template)
    return config, processor


def qwen3_vl(d: dict, tok: Any, image_size: int):
    from transformers import Qwen3VLConfig

    from mmpo.models.processors import processor_class

    head_dim = d["t_hidden"] // d["t_heads"]
    text = text_settings(d, tok, image_size)
    # Interleaved sections must fit the half-dims as t,h,w,t,h,w,...: 16-dim heads take [4, 2, 2].
    half = head_dim // 2
    section = [half - 2 * (half // 4), half // 4, half // 4]
    text.update(head_dim=head_dim, rope_parameters={"rope_type": "default", "mrope_section": section,
                                                    "mrope_interleaved": True, "rope_theta": 10000.0})
    side = max(image_size // PATCH, 4)
    vision = dict(depth=d["v_layers"], hidden_size=d["v_hidden"], intermediate_size=d["v_inter"],
                  num_heads=d["v_heads"], patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL,
                  out_hidden_size=d["t_hidden"], num_position_embeddings=side * side,
                  deepstack_visual_indexes=[0])
    config = Qwen3VLConfig(text_config=text, vision_config=vision, **_ids(tok))
    processor = processor_class("Qwen3VLProcessor")(image_processor=_image_processor(), tokenizer=tok,
                                                     chat_template=tok.chat_template)
    return config, processor


def glm4v(d: dict, tok: Any, image_size: int):
    from transformers import Glm4vConfig
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    from mmpo.models.processors import processor_class
    from mmpo.models.tokenizer import GLM_BOI, GLM_BOV, GLM_EOI, GLM_EOV

    head_dim = d["t_hidden"] // d["t_heads"]
    text = text_settings(d, tok, image_size)
    # GLM-4.1V rotates half of each head (partial_rotary_factor 0.5), split over 3 axes.
    quarter = head_dim // 4
    text["rope_parameters"] = {"rope_type": "default", "partial_rotary_factor": 0.5, "rope_theta": 10000.0,
                               "mrope_section": [quarter - 2 * (quarter // 4), quarter // 4, quarter // 4]}
    vision = dict(depth=d["v_layers"], hidden_size=d["v_hidden"], intermediate_size=d["v_inter"],
                  num_heads=d["v_heads"], patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL,
                  out_hidden_size=d["t_hidden"], image_size=image_size)
    ids = _glm_ids(tok, GLM_BOI, GLM_EOI, GLM_BOV, GLM_EOV)
    config = Glm4vConfig(text_config=text, vision_config=vision, **ids)
    ip = Glm4vImageProcessorPil(patch_size=PATCH, merge_size=MERGE, temporal_patch_size=TEMPORAL, size=_PIXELS)
    processor = processor_class("Glm4vProcessor")(image_processor=ip, tokenizer=tok, chat_template=tok.chat_template)
    return config, processor


def _glm_ids(tok: Any, boi: str, eoi: str, bov: str, eov: str) -> dict:
    return dict(image_token_id=token_id(tok, tok.image_token), video_token_id=token_id(tok, tok.video_token),
                image_start_token_id=token_id(tok, boi), image_end_token_id=token_id(tok, eoi),
                video_start_token_id=token_id(tok, bov), video_end_token_id=token_id(tok, eov),
                tie_word_embeddings=False)
