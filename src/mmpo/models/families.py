"""What mmpo knows about each model family, by transformers `model_type`: one place that sampling's
prefill reuse (`mmpo.sample.prefill`) and training's shared-prefix forward (`mmpo.train.logps`) both read.

Every claim here has its test against the model's own forward (docs/shared-prefix.md): prefill reuse
in tests/sample/test_prefill.py, the shared prefix in tests/train/test_logps_families.py.
"""

from __future__ import annotations

# Ordinary rotary positions, one per token; the base model takes a custom 4D mask and explicit positions,
# and its logits are lm_head(hidden) with nothing after it.
ROPE_1D = frozenset({"llava", "llava_next", "llava_onevision", "internvl", "idefics3", "smolvlm", "mistral3",
                     "gemma3", "paligemma"})
# M-RoPE: (3, B, L) positions from the model's own `get_rope_index` (Qwen2-VL's lineage and GLM-4V).
ROPE_MULTIMODAL = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "glm4v"})
# Training's shared-prefix forward is exact for these (elsewhere the plain forward runs, with a log line).
SHARED_PREFIX_TYPES = ROPE_1D | ROPE_MULTIMODAL
# Sampling reuses one prefill for N samples for these (elsewhere generate(num_return_sequences=N) runs):
# their forward takes explicit positions and a DynamicCache as `mmpo.sample.prefill` passes them.
PREFILL_REUSE_TYPES = ROPE_1D | ROPE_MULTIMODAL
# Positions that start at 1 (the model's own default), not 0.
ONE_BASED_POSITIONS = frozenset({"paligemma"})
# Attention that is not purely causal, reproduced in the packed mask from the prompt's token types:
# Gemma 3's tokens of one image see each other (token type 1); PaliGemma's prefix (image and
# prompt, token type 0) sees itself whole, its answer (token type 1) is causal.
BIDIRECTIONAL_IMAGES = frozenset({"gemma3"})
BIDIRECTIONAL_PREFIX = frozenset({"paligemma"})
# The token type of completion tokens, where it is not 0 (text).
COMPLETION_TOKEN_TYPE = {"paligemma": 1}
# Sliding-window layers get their own packed mask (the window measured in positions), passed per
# layer type; the base model takes a {layer type: mask} mapping.
PER_LAYER_TYPE_MASKS = frozenset({"gemma3"})
