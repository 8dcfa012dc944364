"""Preference log-probs: the summed completion log-probs of chosen and rejected, for B pairs.

    out = preference_logps(model, batch)        # batch from mmpo.train.collate.PairCollator
    out["chosen_logps"], out["rejected_logps"]  # (B,) fp32 sums over completion tokens
    out["chosen_tokens"], out["rejected_tokens"], out["mechanism"]

This module owns every way the trainer, the reference pass and the benchmarks get those numbers
(docs/shared-prefix.md):

- `shared_prefix` (default): one packed row per pair, `[prompt | chosen | rejected]`, with a 4D
  additive mask that hides chosen from rejected and positions that restart at the prompt's end
  for rejected (M-RoPE models: positions continuing from the prompt's rope index). The mask
  keeps the family's own attention pattern: Gemma 3's bidirectional image tokens and
  sliding-window layers, PaliGemma's bidirectional prefix. Each image goes through the vision
  tower once and each prompt token through the decoder once.
- `plain`: 2B rows `[prompt | chosen]`, `[prompt | rejected]`, what every peer runs.

Where the shared prefix would not be exact (an architecture without an equivalence test, an
attention kernel that ignores custom masks, different images for chosen and rejected), the plain
forward runs and the reason is logged once.

Logits are computed only where a completion token is predicted. A bare Hugging Face model: the
base model's hidden states are gathered at those positions and only they go through the LM head
(optionally a chunk at a time under activation checkpointing). A model under a distributed engine
(DDP or DeepSpeed wrappers, FSDP2-sharded modules): the packed rows go through the model's own
forward call, so the engine's hooks sync gradients and gather parameters as it expects, with
`logits_to_keep` a boolean mask of the read positions, so the LM head still runs only there.
Each call's result says which mechanism ran (`mechanism`) and why it fell back (`fallback_reason`).
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from mmpo.models.families import (
    BIDIRECTIONAL_IMAGES,
    BIDIRECTIONAL_PREFIX,
    COMPLETION_TOKEN_TYPE,
    ONE_BASED_POSITIONS,
    PER_LAYER_TYPE_MASKS,
    ROPE_MULTIMODAL,
    SHARED_PREFIX_TYPES,
)

logger = logging.getLogger(__name__)

MECHANISMS = ("shared_prefix", "plain")
# Attention implementations that apply an arbitrary additive mask (flash-attention kernels ignore it).
MASKED_ATTENTION = frozenset({"eager", "sdpa"})
# Processor outputs with one value per prompt token; everything else (pixels, grids, sizes) is per image.
PER_TOKEN_KEYS = frozenset({"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids"})
_NOT_VISION = PER_TOKEN_KEYS | {"position_ids", "labels"}
_BATCH_KEYS = ("prompt_inputs", "chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask")

_logged_reasons: set[str] = set()  # each fallback reason is logged once per process


def preference_logps(model: torch.nn.Module, batch: dict, *, mechanism: str = "shared_prefix",
                     logits_chunk_size: int | None = None) -> dict:
    """Summed log-probs (fp32) and token counts of chosen and rejected completions, each (B,).

    `batch`: `prompt_inputs` (the processor's output for the B prompts and their images),
    `chosen_ids`/`chosen_mask`, `rejected_ids`/`rejected_mask` (B, T); chosen and rejected share the
    prompt and its images. The SFT term's NLL is `-chosen_logps.sum()` over `chosen_tokens.sum()`.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    inputs = {k: batch[k] for k in _BATCH_KEYS}
    fn = shared_prefix_logps if mechanism == "shared_prefix" else plain_logps
    return fn(model, **inputs, logits_chunk_size=logits_chunk_size)


def shared_prefix_logps(model: torch.nn.Module, *, prompt_inputs: dict, chosen_ids: torch.Tensor,
                        chosen_mask: torch.Tensor, rejected_ids: torch.Tensor, rejected_mask: torch.Tensor,
                        logits_chunk_size: int | None = None) -> dict:
    """The packed forward; falls back to `plain_logps` (logging why, once) where it is not exact.

    prompt_inputs: left or right padded; chosen/rejected ids (B, T) with masks (1 = real token).
    logits_chunk_size: rows of LM-head logits alive at once (None: all completion tokens).
    """
    reason = unsupported_reason(model, prompt_inputs)
    if reason is not None:
        if reason not in _logged_reasons:
            _logged_reasons.add(reason)
            logger.warning("mmpo: plain two-sequence preference forward: %s", reason)
        result = plain_logps(model, prompt_inputs=prompt_inputs, chosen_ids=chosen_ids, chosen_mask=chosen_mask,
                             rejected_ids=rejected_ids, rejected_mask=rejected_mask,
                             logits_chunk_size=logits_chunk_size)
        result["fallback_reason"] = reason
        return result
    hf = _hf_model(model)
    rows = _pack_shared_prefix(prompt_inputs["input_ids"], prompt_inputs["attention_mask"], chosen_ids,
                               chosen_mask, rejected_ids, rejected_mask, pad_id=_pad_id(hf))
    model_type = hf.config.model_type
    if model_type in ROPE_MULTIMODAL:
        positions = _mrope_positions(hf, rows, prompt_inputs)
    else:
        positions = rows.position_ids + (1 if model_type in ONE_BASED_POSITIONS else 0)
    mask = _packed_mask(hf, rows, prompt_inputs, hf.get_output_embeddings().weight.dtype)
    inputs = {"input_ids": rows.input_ids, "attention_mask": mask, "position_ids": positions, "use_cache": False,
              **_vision_inputs(prompt_inputs)}
    if under_engine(model):
        lp = _own_forward_logps(model, inputs, rows)
    else:
        lp = _head_logps(hf, hf.model(**inputs).last_hidden_state, rows, logits_chunk_size)
    result = _totals(lp, rows)
    result["mechanism"] = "shared_prefix"
    return result


def plain_logps(model: torch.nn.Module, *, prompt_inputs: dict, chosen_ids: torch.Tensor, chosen_mask: torch.Tensor,
                rejected_ids: torch.Tensor, rejected_mask: torch.Tensor,
                logits_chunk_size: int | None = None) -> dict:
    """The same outputs from 2B right-padded rows `[prompt | chosen]`, `[prompt | rejected]`.

    Each image and prompt is encoded twice. Rows are right-padded, so default positions are right.
    """
    hf = _hf_model(model)
    rows = _pack_two_sequences(prompt_inputs["input_ids"], prompt_inputs["attention_mask"], chosen_ids,
                               chosen_mask, rejected_ids, rejected_mask, pad_id=_pad_id(hf))
    inputs = {"input_ids": rows.input_ids, "attention_mask": (rows.segment != PAD).long(), "use_cache": False,
              **_token_features(prompt_inputs, rows, hf.config.model_type),
              **_vision_inputs(prompt_inputs, twice=True)}
    if "mm_token_type_ids" not in inputs and "mm_token_type_ids" in inspect.signature(
            getattr(hf, "model", hf).forward).parameters:
        # Qwen-VL models in transformers 5.x need the token types to build their M-RoPE positions.
        inputs["mm_token_type_ids"] = _mm_token_types(hf, rows.input_ids)
    if _head_only_reason(hf) is not None:
        # An architecture we do not know: its own full forward defines its logits.
        lp = _gather_logps(model(**inputs).logits[rows.read_row, rows.read_col], rows.target)
    elif under_engine(model):
        lp = _own_forward_logps(model, inputs, rows)
    else:
        lp = _head_logps(hf, hf.model(**inputs).last_hidden_state, rows, logits_chunk_size)
    result = _totals(lp, rows)
    result["mechanism"] = "plain"
    return result


def unsupported_reason(model: torch.nn.Module, prompt_inputs: dict) -> str | None:
    """Why the shared-prefix forward would not be exact here, or None when it is."""
    hf = _hf_model(model)
    reason = _head_only_reason(hf)
    if reason is not None:
        return reason
    text = _text_config(hf)
    attn = getattr(text, "_attn_implementation", None) or getattr(hf.config, "_attn_implementation", None)
    if attn not in MASKED_ATTENTION:
        return f"attention implementation {attn!r} ignores custom attention masks"
    layer_types = getattr(text, "layer_types", None)
    sliding = ("sliding_attention" in layer_types if layer_types is not None
               else getattr(text, "sliding_window", None) is not None)
    if sliding and hf.config.model_type not in PER_LAYER_TYPE_MASKS:
        return "sliding-window layers would ignore the window under a custom mask"
    if prompt_inputs.get("pixel_values_videos") is not None:
        return "video inputs are not supported by the shared-prefix forward yet"
    return None


def token_logps(lm_head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor,
                chunk_size: int | None = None) -> torch.Tensor:
    """log p(targets[i] | hidden[i]) in fp32, (N,), from hidden states (N, H) gathered at read positions.

    With `chunk_size`, rows go through the head a chunk at a time under activation checkpointing,
    so the (rows x vocab) fp32 logits of only one chunk are alive at once, forward and backward.
    """
    n = hidden.shape[0]
    if not chunk_size or n <= chunk_size:
        return _gather_logps(lm_head(hidden), targets)
    if chunk_size < 1:
        raise ValueError(f"logits_chunk_size must be >= 1, got {chunk_size}")
    need_graph = torch.is_grad_enabled() and (hidden.requires_grad
                                              or any(p.requires_grad for p in lm_head.parameters()))
    pieces = []
    for start in range(0, n, chunk_size):
        h, t = hidden[start:start + chunk_size], targets[start:start + chunk_size]
        # Without checkpointing, autograd would keep every chunk's logits until backward anyway.
        pieces.append(checkpoint(_head_chunk, lm_head, h, t, use_reentrant=False) if need_graph
                      else _head_chunk(lm_head, h, t))
    return torch.cat(pieces)


# ---- logits to log-probs ---------------------------------------------------------------------------

def _gather_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The one log-softmax-and-gather: log p(target) per row of (N, V) logits, in fp32.

    fp32 before the normalisation: bf16 logsumexp over a large vocabulary loses ~1e-2 per token.
    """
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)


def _own_forward_logps(model: torch.nn.Module, inputs: dict, rows: _Rows) -> torch.Tensor:
    """Log-probs of the read positions from the model's own forward call (what an engine's hooks need).

    `logits_to_keep` as a boolean (rows, length) mask makes the model apply its LM head only at the
    read positions, returned flattened in row-major order; each read finds its position there.
    """
    length = rows.input_ids.shape[1]
    keep = torch.zeros(rows.input_ids.shape, dtype=torch.bool, device=rows.input_ids.device)
    keep[rows.read_row, rows.read_col] = True
    kept = keep.flatten().nonzero().squeeze(1)  # sorted flat positions of the kept logits
    index = torch.searchsorted(kept, rows.read_row * length + rows.read_col)
    logits = model(**inputs, logits_to_keep=keep).logits
    return _gather_logps(logits.reshape(-1, logits.shape[-1])[index], rows.target)


def _head_chunk(lm_head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _gather_logps(lm_head(hidden), targets)


def _head_logps(hf, hidden: torch.Tensor, rows: _Rows, chunk: int | None) -> torch.Tensor:
    return token_logps(hf.get_output_embeddings(), hidden[rows.read_row, rows.read_col], rows.target, chunk)


def _totals(lp: torch.Tensor, rows: _Rows) -> dict:
    b = rows.chosen_tokens.shape[0]
    sums = torch.zeros(2 * b, dtype=lp.dtype, device=lp.device).index_add(0, rows.slot, lp)
    return {"chosen_logps": sums[:b], "rejected_logps": sums[b:],
            "chosen_tokens": rows.chosen_tokens, "rejected_tokens": rows.rejected_tokens}


# ---- the model -------------------------------------------------------------------------------------

def _is_wrapped(model: torch.nn.Module) -> bool:
    """True for engine wrappers that hold the model as `.module` (DDP, DeepSpeed, FSDP1)."""
    return hasattr(model, "module") and isinstance(model.module, torch.nn.Module)


def under_engine(model: torch.nn.Module) -> bool:
    """True when a distributed engine owns the forward: a wrapper, or FSDP2-sharded modules (whose
    hooks gather parameters; calling a submodule directly would skip the root's)."""
    if _is_wrapped(model):
        return True
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch without FSDP2
        return False
    return isinstance(model, FSDPModule) or isinstance(_hf_model(model), FSDPModule)


def _hf_model(model: torch.nn.Module) -> torch.nn.Module:
    """The Hugging Face model under a data-parallel wrapper and a PEFT wrapper (LoRA layers are patched in place)."""
    while _is_wrapped(model):
        model = model.module
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _text_config(hf) -> Any:
    return hf.config.get_text_config() if hasattr(hf.config, "get_text_config") else hf.config


def _head_only_reason(hf) -> str | None:
    """Why `lm_head(model.model(...).last_hidden_state)` might not be this model's logits, or None."""
    model_type = getattr(hf.config, "model_type", None)
    if model_type not in SHARED_PREFIX_TYPES:
        return f"architecture {model_type!r} has no shared-prefix support"
    if not hasattr(hf, "model") or hf.get_output_embeddings() is None:
        return f"architecture {model_type!r} has no base model + LM head layout"
    text = _text_config(hf)
    if getattr(text, "final_logit_softcapping", None) or getattr(text, "logit_scale", None):
        return "the model transforms logits after the LM head"
    return None


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


def _vision_inputs(prompt_inputs: dict, *, twice: bool = False) -> dict:
    """The vision-side inputs; `twice`: for the plain rows, chosen's then rejected's (the same images)."""
    out = {}
    for key, value in prompt_inputs.items():
        if key in _NOT_VISION or value is None:
            continue
        if twice and isinstance(value, torch.Tensor):
            value = torch.cat([value, value])
        out[key] = value
    return out


def _token_features(prompt_inputs: dict, rows: _Rows, model_type: str) -> dict:
    """Per-token prompt features other than ids and mask (token types), laid out on the rows.

    Each row's prompt positions take its prompt's values; completion positions take
    `COMPLETION_TOKEN_TYPE` (0, text, but for PaliGemma's causal suffix), padding 0.
    """
    out = {}
    fill = COMPLETION_TOKEN_TYPE.get(model_type, 0)
    for key in ("token_type_ids", "mm_token_type_ids"):
        if key not in prompt_inputs:
            continue
        feats, mask = prompt_inputs[key], prompt_inputs["attention_mask"]
        b = feats.shape[0]
        values = torch.zeros(rows.input_ids.shape, dtype=prompt_inputs[key].dtype, device=rows.input_ids.device)
        if key == "token_type_ids" and fill:
            values[(rows.segment == CHOSEN) | (rows.segment == REJECTED)] = fill
        for r in range(rows.input_ids.shape[0]):  # row r (and b + r) holds pair r's prompt
            own = feats[r % b][mask[r % b].bool()]
            values[r, :len(own)] = own
        out[key] = values
    return out


def _mrope_positions(hf, rows: _Rows, prompt_inputs: dict) -> torch.Tensor:
    """(3, B, L) M-RoPE positions: the prompt's rope index, then text positions after it for each completion."""
    ids, mask = prompt_inputs["input_ids"], prompt_inputs["attention_mask"]
    types = prompt_inputs.get("mm_token_type_ids")
    prompt_pos, _ = hf.model.get_rope_index(
        input_ids=ids, mm_token_type_ids=_mm_token_types(hf, ids) if types is None else types,
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


# ---- row layouts (pure tensor bookkeeping) ---------------------------------------------------------
# Padding of the inputs (left or right) is removed by their masks; every output row is left-aligned
# and right-padded, so a row's positions never depend on how much padding its batch needed.

PROMPT, CHOSEN, REJECTED, PAD = 0, 1, 2, 3


@dataclass
class _Rows:
    """A batch of rows plus where to read the completion log-probs from.

    `read_row[n], read_col[n]` is the hidden state that predicts `target[n]`, a token of
    completion `slot[n]`: slot i < B is pair i's chosen, B + i its rejected.
    """

    input_ids: torch.Tensor        # (R, L)
    segment: torch.Tensor          # (R, L): PROMPT, CHOSEN, REJECTED or PAD
    position_ids: torch.Tensor     # (R, L): 1D positions; PAD positions are 0
    prompt_len: torch.Tensor       # (R,)
    read_row: torch.Tensor         # (N,)
    read_col: torch.Tensor         # (N,)
    target: torch.Tensor           # (N,)
    slot: torch.Tensor             # (N,)
    chosen_tokens: torch.Tensor    # (B,)
    rejected_tokens: torch.Tensor  # (B,)


def _unpad(ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    return [row[m.bool()] for row, m in zip(ids, mask)]


def _assemble(pieces: list[list[tuple[torch.Tensor, int]]], pad_id: int, device) -> tuple[torch.Tensor, ...]:
    # pieces[row] = [(token ids, segment kind), ...] in order; returns ids, segments, 1D positions.
    length = max(sum(len(t) for t, _ in row) for row in pieces)
    ids = torch.full((len(pieces), length), pad_id, dtype=torch.long, device=device)
    seg = torch.full_like(ids, PAD)
    pos = torch.zeros_like(ids)
    for r, row in enumerate(pieces):
        col = 0
        prompt_len = len(row[0][0])
        for tokens, kind in row:
            n = len(tokens)
            ids[r, col:col + n] = tokens
            seg[r, col:col + n] = kind
            # Each completion continues from the prompt's end, as if it were alone after it.
            start = 0 if kind == PROMPT else prompt_len
            pos[r, col:col + n] = torch.arange(start, start + n, device=device)
            col += n
    return ids, seg, pos


def _check_lengths(prompts: list[torch.Tensor], chosen: list[torch.Tensor], rejected: list[torch.Tensor]) -> None:
    for i, (p, c, r) in enumerate(zip(prompts, chosen, rejected)):
        if len(p) == 0:
            raise ValueError(f"pair {i}: empty prompt (the first completion token needs a prompt token before it)")
        if len(c) == 0 or len(r) == 0:
            raise ValueError(f"pair {i}: empty {'chosen' if len(c) == 0 else 'rejected'} completion")


def _pack_shared_prefix(prompt_ids, prompt_mask, chosen_ids, chosen_mask, rejected_ids, rejected_mask,
                        *, pad_id: int) -> _Rows:
    """One row per pair: `[prompt | chosen | rejected | pad]`, rejected positions restarting at the prompt's end."""
    prompts, chosen, rejected = (_unpad(prompt_ids, prompt_mask), _unpad(chosen_ids, chosen_mask),
                                 _unpad(rejected_ids, rejected_mask))
    _check_lengths(prompts, chosen, rejected)
    b, device = len(prompts), prompt_ids.device
    ids, seg, pos = _assemble([[(p, PROMPT), (c, CHOSEN), (r, REJECTED)]
                               for p, c, r in zip(prompts, chosen, rejected)], pad_id, device)
    plen = [len(p) for p in prompts]
    starts = ([(i, i, plen[i]) for i in range(b)]
              + [(i, b + i, plen[i] + len(chosen[i])) for i in range(b)])
    return _reads(ids, seg, pos, plen, starts, chosen + rejected, b)


def _pack_two_sequences(prompt_ids, prompt_mask, chosen_ids, chosen_mask, rejected_ids, rejected_mask,
                        *, pad_id: int) -> _Rows:
    """2B rows, `[prompt | chosen]` for every pair then `[prompt | rejected]`: the plain forward."""
    prompts = _unpad(prompt_ids, prompt_mask)
    chosen, rejected = _unpad(chosen_ids, chosen_mask), _unpad(rejected_ids, rejected_mask)
    _check_lengths(prompts, chosen, rejected)
    b = len(prompts)
    ids, seg, pos = _assemble([[(p, PROMPT), (c, CHOSEN)] for p, c in zip(prompts, chosen)]
                              + [[(p, PROMPT), (r, REJECTED)] for p, r in zip(prompts, rejected)],
                              pad_id, prompt_ids.device)
    plen = [len(p) for p in prompts + prompts]
    starts = [(k, k, plen[k]) for k in range(2 * b)]
    return _reads(ids, seg, pos, plen, starts, chosen + rejected, b)


def _reads(ids, seg, pos, row_plen, starts, completions, b) -> _Rows:
    """Rows plus reading positions; starts[k] = (row, slot, column of completion k's first token)."""
    device = ids.device
    rows, cols, targets, slots = [], [], [], []
    for (row, slot, col), tokens in zip(starts, completions):
        n = len(tokens)
        read = torch.arange(col - 1, col - 1 + n)
        # The first completion token is predicted by the last prompt token, wherever the completion sits.
        read[0] = row_plen[row] - 1
        rows.append(torch.full((n,), row))
        cols.append(read)
        targets.append(tokens)
        slots.append(torch.full((n,), slot))
    lens = torch.tensor([len(c) for c in completions], device=device)
    return _Rows(
        input_ids=ids, segment=seg, position_ids=pos,
        prompt_len=torch.tensor(row_plen, device=device),
        read_row=torch.cat(rows).to(device), read_col=torch.cat(cols).to(device),
        target=torch.cat(targets).to(device), slot=torch.cat(slots).to(device),
        chosen_tokens=lens[:b], rejected_tokens=lens[b:],
    )


def _shared_prefix_mask(segment: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive (R, 1, L, L) mask: causal, no padding keys, and rejected never sees chosen."""
    return _additive(_causal_allowed(segment), dtype)


def _causal_allowed(segment: torch.Tensor) -> torch.Tensor:
    """(R, L, L) bool, query x key: causal, no padding keys, and rejected never sees chosen.

    Padding queries keep their causal keys (the prompt at least), so no row of the mask is
    empty: an all-masked row gives NaN in SDPA, and NaN times a zero gradient is still NaN.
    """
    length = segment.shape[1]
    idx = torch.arange(length, device=segment.device)
    causal = (idx[None, :] <= idx[:, None])[None]
    key_ok = (segment != PAD)[:, None, :]
    crossing = (segment == REJECTED)[:, :, None] & (segment == CHOSEN)[:, None, :]
    return causal & key_ok & ~crossing


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mask = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]


def _packed_mask(hf, rows: _Rows, prompt_inputs: dict, dtype: torch.dtype) -> torch.Tensor | dict:
    """The packed rows' mask with the family's own attention pattern (docs/shared-prefix.md).

    Gemma 3: tokens of one image (a run of token type 1) also see each other, later ones
    included; its sliding-window layers get a mask of their own that also drops keys a window
    or more positions back (positions, not columns: rejected sits after chosen in the row).
    PaliGemma: the prompt (token type 0: image, bos, text) also sees all of itself.
    Each mirrors what the model builds from `token_type_ids` in the plain forward, so without
    them in the prompt inputs the plain causal mask is what both use.
    """
    model_type = hf.config.model_type
    allowed = _causal_allowed(rows.segment)
    types = _prompt_token_types(prompt_inputs, rows)
    if types is not None and model_type in BIDIRECTIONAL_IMAGES:
        image = types == 1
        starts = image & ~torch.nn.functional.pad(image, (1, 0))[:, :-1]
        block = torch.where(image, starts.long().cumsum(1), 0)  # 1, 2, ... per image; 0 elsewhere
        allowed = allowed | ((block[:, :, None] == block[:, None, :]) & image[:, :, None])
    if types is not None and model_type in BIDIRECTIONAL_PREFIX:
        prefix = (rows.segment == PROMPT) & (types == 0)
        allowed = allowed | (prefix[:, :, None] & prefix[:, None, :])
    if model_type not in PER_LAYER_TYPE_MASKS:
        return _additive(allowed, dtype)
    window = _text_config(hf).sliding_window
    pos = rows.position_ids
    near = (pos[:, :, None] - pos[:, None, :]) < window
    return {"full_attention": _additive(allowed, dtype), "sliding_attention": _additive(allowed & near, dtype)}


def _prompt_token_types(prompt_inputs: dict, rows: _Rows) -> torch.Tensor | None:
    """The prompt's `token_type_ids` laid out on the packed rows (-1 outside the prompt), or None."""
    types = prompt_inputs.get("token_type_ids")
    if types is None:
        return None
    out = torch.full(rows.input_ids.shape, -1, dtype=torch.long, device=rows.input_ids.device)
    for r, (t, m) in enumerate(zip(types, prompt_inputs["attention_mask"])):
        own = t[m.bool()]
        out[r, :len(own)] = own
    return out
