"""What every tiny family builder shares: the sizes, the pixels per image token, the text settings.

    from mmpo.models.tiny_parts import CELL, DIMS, text_settings
    text = text_settings(DIMS["unit"], tokenizer, image_size=64)   # a text config's keyword arguments

The family builders (`tiny_llava`, `tiny_qwen`, `tiny_tiles`, `tiny_gemma`) each return
`(config, processor)` for one transformers architecture; `mmpo.models.tiny` picks one by arch.
"""

from __future__ import annotations

from typing import Any

CELL = 16  # pixels per image token side, where the family lets us choose (see each builder)

# Per size: text hidden/layers/heads/kv-heads/intermediate and vision hidden/layers/heads/intermediate.
# `small` is the size measured to learn on 2 CPU cores (docs/demo.md): CLIP 128 x 2 layers, Llama 192 x 4 layers.
DIMS = {
    "unit": dict(t_hidden=64, t_layers=2, t_heads=4, t_kv=2, t_inter=128,
                 v_hidden=32, v_layers=2, v_heads=2, v_inter=64),
    "small": dict(t_hidden=192, t_layers=4, t_heads=4, t_kv=4, t_inter=512,
                  v_hidden=128, v_layers=2, v_heads=4, v_inter=256),
    # `unit` with 32-dim attention heads, the smallest head size the attention kernels of vLLM's CPU build
    # take (16, unit's, stops its engine at the first request: "Unsupported CPU attention configuration").
    "serve": dict(t_hidden=64, t_layers=2, t_heads=2, t_kv=1, t_inter=128,
                  v_hidden=32, v_layers=2, v_heads=2, v_inter=64),
}


def text_settings(d: dict, tok: Any, image_size: int) -> dict:
    """Keyword arguments every text config takes: sizes, vocabulary, special ids, untied head."""
    return dict(vocab_size=len(tok), hidden_size=d["t_hidden"], num_hidden_layers=d["t_layers"],
                num_attention_heads=d["t_heads"], num_key_value_heads=d["t_kv"],
                intermediate_size=d["t_inter"], max_position_embeddings=2048 + (image_size // CELL) ** 2,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                tie_word_embeddings=False)


def token_id(tok: Any, token: str) -> int:
    return tok.convert_tokens_to_ids(token)


def mrope_section(d: dict) -> list[int]:
    """M-RoPE's split of the rotary half-dims over (time, height, width), as Qwen2-VL's proportions."""
    half = d["t_hidden"] // d["t_heads"] // 2
    return [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]
