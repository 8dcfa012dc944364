"""The preference forward with the image and prompt computed once per pair (DESIGN.md §4).

    out = shared_prefix_logps(model, prompt_inputs=processor(images=..., text=prompts, ...),
                              chosen_ids=..., chosen_mask=..., rejected_ids=..., rejected_mask=...)
    out["chosen_logps"], out["rejected_logps"]   # (B,) summed completion log-probs, fp32

Mechanism: one packed row per pair, `[prompt | chosen | rejected]`, with a 4D additive mask
that hides chosen from rejected and positions that restart at the prompt's end for rejected
(for Qwen2-VL, M-RoPE positions continuing from the prompt's rope index). Each image goes
through the vision tower once, each prompt token through the decoder once, and the LM head runs
only on the hidden states that predict completion tokens. What the mechanism cannot serve
exactly falls back to `plain_logps` (prompt+chosen and prompt+rejected as two sequences) and
logs why, once per reason.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import torch

from mmpo.packing import (
    CHOSEN,
    PAD,
    REJECTED,
    Rows,
    pack_shared_prefix,
    pack_two_sequences,
    shared_prefix_mask,
)
from mmpo.token_logps import token_logps

logger = logging.getLogger(__name__)

# Architectures whose base model takes a custom 4D mask and explicit positions, and whose logits
# are lm_head(hidden) with nothing after it; each one has an equivalence test.
ROPE_1D = frozenset({"llava", "internvl"})
ROPE_MULTIMODAL = frozenset({"qwen2_vl"})
# Implementations that apply an arbitrary additive mask (flash-attention kernels ignore it).
MASKED_ATTENTION = frozenset({"eager", "sdpa"})
# Prompt-side keys that are token bookkeeping; everything else (pixels, grids, sizes) goes to the vision side.
_TEXT_KEYS = frozenset({"input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids", "position_ids",
                        "labels"})

_logged_reasons: set[str] = set()


def _hf_model(model: torch.nn.Module) -> torch.nn.Module:
    # A PEFT wrapper keeps the adapted HF model one level down; its LoRA layers are patched in place.
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _text_config(hf) -> Any:
    return hf.config.get_text_config() if hasattr(hf.config, "get_text_config") else hf.config


def _same_prompt(a: dict, b: dict) -> bool:
    if a is b:
        return True
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
                    and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def _head_only_reason(hf) -> str | None:
    """Why `lm_head(model.model(...).last_hidden_state)` might not be this model's logits, or None."""
    model_type = getattr(hf.config, "model_type", None)
    if model_type not in ROPE_1D | ROPE_MULTIMODAL:
        return f"architecture {model_type!r} has no shared-prefix support"
    if not hasattr(hf, "model") or hf.get_output_embeddings() is None:
        return f"architecture {model_type!r} has no base model + LM head layout"
    text = _text_config(hf)
    if getattr(text, "final_logit_softcapping", None) or getattr(text, "logit_scale", None):
        return "the model transforms logits after the LM head"
    return None


def unsupported_reason(model: torch.nn.Module, prompt_inputs: dict,
                       rejected_prompt_inputs: dict | None = None) -> str | None:
    """Why the shared-prefix forward would not be exact here, or None when it is."""
    hf = _hf_model(model)
    reason = _head_only_reason(hf)
    if reason is not None:
        return reason
    text = _text_config(hf)
    attn = getattr(text, "_attn_implementation", None) or getattr(hf.config, "_attn_implementation", None)
    if attn not in MASKED_ATTENTION:
        return f"attention implementation {attn!r} ignores custom attention masks"
    if "sliding_attention" in (getattr(text, "layer_types", None) or []):
        return "sliding-window layers would ignore the window under a custom mask"
    if prompt_inputs.get("pixel_values_videos") is not None:
        return "video inputs are not supported by the shared-prefix forward yet"
    if rejected_prompt_inputs is not None and not _same_prompt(prompt_inputs, rejected_prompt_inputs):
        return "chosen and rejected have different images or prompts"
    return None


def _log_once(reason: str) -> None:
    if reason not in _logged_reasons:
        _logged_reasons.add(reason)
        logger.warning("mmpo: plain two-sequence preference forward: %s", reason)


def _pad_id(hf) -> int:
    # A pad id that the model will not mistake for an image placeholder when counting image tokens.
    config, text = hf.config, _text_config(hf)
    reserved = {getattr(config, k, None) for k in ("image_token_id", "video_token_id", "image_token_index")}
    for candidate in (getattr(text, "pad_token_id", None), 0, 1, 2, 3):
        if candidate is not None and candidate not in reserved:
            return int(candidate)
    raise ValueError("no usable pad token id")


def _mm_token_types(hf, input_ids: torch.Tensor) -> torch.Tensor:
    types = torch.zeros_like(input_ids, dtype=torch.int32)
    types[input_ids == hf.config.image_token_id] = 1
    video = getattr(hf.config, "video_token_id", None)
    if video is not None:
        types[input_ids == video] = 2
    return types


def _vision_inputs(prompt_inputs: dict, rejected_prompt_inputs: dict | None = None) -> dict:
    """The vision-side inputs; with `rejected_prompt_inputs`, those of both sides, chosen's first."""
    out = {}
    for key, value in prompt_inputs.items():
        if key in _TEXT_KEYS or value is None:
            continue
        if rejected_prompt_inputs is not None and isinstance(value, torch.Tensor):
            value = torch.cat([value, rejected_prompt_inputs[key]])
        out[key] = value
    return out


def _sum_per_completion(hf, hidden: torch.Tensor, rows: Rows, chunk: int | None) -> dict:
    picked = hidden[rows.read_row, rows.read_col]
    return _totals(token_logps(hf.get_output_embeddings(), picked, rows.target, chunk), rows)


def _totals(lp: torch.Tensor, rows: Rows) -> dict:
    b = rows.chosen_tokens.shape[0]
    sums = torch.zeros(2 * b, dtype=lp.dtype, device=lp.device).index_add(0, rows.slot, lp)
    return {"chosen_logps": sums[:b], "rejected_logps": sums[b:],
            "chosen_tokens": rows.chosen_tokens, "rejected_tokens": rows.rejected_tokens}


def _mrope_positions(hf, rows: Rows, prompt_inputs: dict) -> torch.Tensor:
    """(3, B, L) M-RoPE positions: the prompt's rope index, then text positions after it for each completion."""
    ids, mask = prompt_inputs["input_ids"], prompt_inputs["attention_mask"]
    prompt_pos, _ = hf.model.get_rope_index(
        input_ids=ids, mm_token_type_ids=_mm_token_types(hf, ids),
        image_grid_thw=prompt_inputs.get("image_grid_thw"), attention_mask=mask)
    pos = torch.zeros((3, *rows.input_ids.shape), dtype=torch.long, device=ids.device)
    completion = (rows.segment == CHOSEN) | (rows.segment == REJECTED)
    for i in range(ids.shape[0]):
        own = prompt_pos[:, i, mask[i].bool()]
        p = own.shape[1]
        pos[:, i, :p] = own
        # Text after the prompt continues from one past its largest position, on all three axes.
        shift = own.max() + 1 - rows.prompt_len[i]
        pos[:, i, completion[i]] = rows.position_ids[i, completion[i]] + shift
    return pos


def shared_prefix_logps(model: torch.nn.Module, *, prompt_inputs: dict, chosen_ids: torch.Tensor,
                        chosen_mask: torch.Tensor, rejected_ids: torch.Tensor, rejected_mask: torch.Tensor,
                        rejected_prompt_inputs: dict | None = None,
                        logits_chunk_size: int | None = None) -> dict:
    """Summed completion log-probs of B preference pairs, the prompt and image run once per pair.

    prompt_inputs: the processor's output for the B prompts with their images (`input_ids`,
    `attention_mask`, `pixel_values`, and `image_grid_thw` for Qwen2-VL); left or right padded.
    chosen_ids/rejected_ids (B, T) with masks (1 = real token), any padding side.
    rejected_prompt_inputs: only when rejected has its own prompt/images; if they differ from
    `prompt_inputs`, the plain forward runs instead.
    logits_chunk_size: rows of LM-head logits alive at once (None: all completion tokens).

    Returns `chosen_logps`, `rejected_logps` (B,) fp32 sums over completion tokens,
    `chosen_tokens`, `rejected_tokens` (B,) token counts, and `mechanism` ("shared_prefix" or "plain").
    The SFT term's NLL sum is `-chosen_logps.sum()` over `chosen_tokens.sum()` tokens.
    """
    reason = unsupported_reason(model, prompt_inputs, rejected_prompt_inputs)
    if reason is not None:
        _log_once(reason)
        return plain_logps(model, prompt_inputs=prompt_inputs, chosen_ids=chosen_ids, chosen_mask=chosen_mask,
                           rejected_ids=rejected_ids, rejected_mask=rejected_mask,
                           rejected_prompt_inputs=rejected_prompt_inputs, logits_chunk_size=logits_chunk_size)
    hf = _hf_model(model)
    rows = pack_shared_prefix(prompt_inputs["input_ids"], prompt_inputs["attention_mask"], chosen_ids, chosen_mask,
                              rejected_ids, rejected_mask, pad_id=_pad_id(hf))
    if hf.config.model_type in ROPE_MULTIMODAL:
        positions = _mrope_positions(hf, rows, prompt_inputs)
    else:
        positions = rows.position_ids
    mask = shared_prefix_mask(rows.segment, hf.get_output_embeddings().weight.dtype)
    out = hf.model(input_ids=rows.input_ids, attention_mask=mask, position_ids=positions, use_cache=False,
                   **_vision_inputs(prompt_inputs))
    result = _sum_per_completion(hf, out.last_hidden_state, rows, logits_chunk_size)
    result["mechanism"] = "shared_prefix"
    return result


def plain_logps(model: torch.nn.Module, *, prompt_inputs: dict, chosen_ids: torch.Tensor, chosen_mask: torch.Tensor,
                rejected_ids: torch.Tensor, rejected_mask: torch.Tensor, rejected_prompt_inputs: dict | None = None,
                logits_chunk_size: int | None = None) -> dict:
    """The same outputs as `shared_prefix_logps`, from 2B rows `[prompt | chosen]`, `[prompt | rejected]`.

    What every peer does: each image and prompt is encoded twice. Works for any model with a
    base model + LM head; rows are right-padded so default positions are right.
    """
    hf = _hf_model(model)
    rprompt = prompt_inputs if rejected_prompt_inputs is None else rejected_prompt_inputs
    rows = pack_two_sequences(prompt_inputs["input_ids"], prompt_inputs["attention_mask"], chosen_ids, chosen_mask,
                              rejected_ids, rejected_mask, pad_id=_pad_id(hf),
                              rejected_prompt_ids=rprompt["input_ids"],
                              rejected_prompt_mask=rprompt["attention_mask"])
    inputs = {"input_ids": rows.input_ids, "attention_mask": (rows.segment != PAD).long(), "use_cache": False,
              **_vision_inputs(prompt_inputs, rprompt)}
    if "mm_token_type_ids" in inspect.signature(getattr(hf, "model", hf).forward).parameters:
        # Qwen-VL models in transformers 5.x need the token types to build their M-RoPE positions.
        inputs["mm_token_type_ids"] = _mm_token_types(hf, rows.input_ids)
    if _head_only_reason(hf) is None:
        result = _sum_per_completion(hf, hf.model(**inputs).last_hidden_state, rows, logits_chunk_size)
    else:
        # An architecture we do not know: its own full forward defines its logits.
        logits = model(**inputs).logits[rows.read_row, rows.read_col].float()
        lp = logits.gather(-1, rows.target[:, None]).squeeze(-1) - logits.logsumexp(-1)
        result = _totals(lp, rows)
    result["mechanism"] = "plain"
    return result
