"""Tiny Gemma families: SigLIP vision, a Gemma language model, attention that is not purely causal.

    config, processor = gemma3(DIMS["unit"], build_tokenizer("gemma3"), 64)

- gemma3: SigLIP (patch 8 on 64 px), features pooled 2x2 to 16 tokens per image between
  `<start_of_image>` and `<end_of_image>`; image tokens attend to each other bidirectionally
  (`token_type_ids` 1); Gemma 3 text with alternating sliding-window (16 tokens) and full layers,
  tied embeddings; the image projection is random (`gemma3_weights`), not zeros as the family
  initialises it.
- paligemma: SigLIP (patch 16 on 64 px): 16 image tokens first, then `<bos>`, the prompt and a
  newline (the processor's layout); the image and the prompt form a prefix that attends
  bidirectionally (`token_type_ids` 0), the answer is causal (1). Gemma text, positions from 1,
  tied embeddings.
"""

from __future__ import annotations

from typing import Any

from mmpo.models.tiny_parts import CELL, text_settings, token_id

SLIDING_WINDOW = 16  # short, so the unit tests' prompts cross the window


def _gemma_text(d: dict, tok: Any, image_size: int) -> dict:
    head_dim = d["t_hidden"] // d["t_heads"]
    text = text_settings(d, tok, image_size)
    text.update(head_dim=head_dim, tie_word_embeddings=True)
    return text


def gemma3(d: dict, tok: Any, image_size: int):
    from transformers import Gemma3Config, Gemma3Processor, SiglipVisionConfig
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    text = _gemma_text(d, tok, image_size)
    layers = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(d["t_layers"])]
    text.update(query_pre_attn_scalar=text["head_dim"], sliding_window=SLIDING_WINDOW, layer_types=layers,
                rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                 "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}})
    vision = SiglipVisionConfig(hidden_size=d["v_hidden"], intermediate_size=d["v_inter"],
                                num_hidden_layers=d["v_layers"], num_attention_heads=d["v_heads"],
                                image_size=image_size, patch_size=CELL // 2, vision_use_head=False)
    n_img = (image_size // CELL) ** 2
    config = Gemma3Config(text_config=dict(model_type="gemma3_text", **text), vision_config=vision,
                          mm_tokens_per_image=n_img, boi_token_index=token_id(tok, tok.boi_token),
                          eoi_token_index=token_id(tok, tok.eoi_token),
                          image_token_index=token_id(tok, tok.image_token), tie_word_embeddings=True)
    ip = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    processor = Gemma3Processor(image_processor=ip, tokenizer=tok, chat_template=tok.chat_template,
                                image_seq_length=n_img)
    return config, processor


def gemma3_weights(model: Any) -> None:
    """Gemma 3 initialises its image projection to zeros (pretrained weights replace it), so a
    random model would see every image as zeros; a random projection makes images matter."""
    import torch

    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.02)


def paligemma(d: dict, tok: Any, image_size: int):
    from transformers import PaliGemmaConfig, PaliGemmaProcessor, SiglipImageProcessorPil, SiglipVisionConfig

    n_img = (image_size // CELL) ** 2
    ip = SiglipImageProcessorPil(size={"height": image_size, "width": image_size})
    ip.image_seq_length = n_img
    # The processor adds PaliGemma's location and segmentation tokens to the tokenizer: build it first.
    processor = PaliGemmaProcessor(image_processor=ip, tokenizer=tok, chat_template=tok.chat_template)
    text = _gemma_text(d, tok, image_size)
    text["vocab_size"] = len(tok)
    vision = SiglipVisionConfig(hidden_size=d["v_hidden"], intermediate_size=d["v_inter"],
                                num_hidden_layers=d["v_layers"], num_attention_heads=d["v_heads"],
                                image_size=image_size, patch_size=CELL, projection_dim=d["t_hidden"],
                                vision_use_head=False)
    config = PaliGemmaConfig(text_config=dict(model_type="gemma", **text), vision_config=vision,
                             image_token_id=token_id(tok, tok.image_token), projection_dim=d["t_hidden"],
                             hidden_size=d["t_hidden"], vocab_size=len(tok), tie_word_embeddings=True)
    return config, processor
