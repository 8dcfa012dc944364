"""The preference forward behind one function: summed completion log-probs of chosen and rejected.

    out = preference_logps(model, batch)     # batch from mmpo.pair_data.PairCollator
    out["chosen_logps"], out["rejected_logps"], out["chosen_tokens"], out["rejected_tokens"]   # (B,)

`mechanism="shared_prefix"` (the default) runs each prompt and image once per pair
(`mmpo.fast_forward`, DESIGN.md §4), which itself falls back to the plain forward, with one log
line, where it does not apply. `mechanism="plain"` forces the two-sequence forward every peer uses.
A model wrapped for data parallelism (DDP, FSDP, DeepSpeed) must see its own forward call, so it
gets the plain forward through the wrapper (`_wrapped_plain`), also with one log line.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)
MECHANISMS = ("shared_prefix", "plain")
_COMPLETION_KEYS = ("prompt_inputs", "chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask")
_warned: set[str] = set()

# Processor outputs that have one value per prompt token; everything else is per image.
_PER_TOKEN_KEYS = ("attention_mask", "token_type_ids", "mm_token_type_ids")


def _rows(batch: dict) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Model inputs for the 2B rows, and (row, col, target, slot) of every completion token."""
    prompt = batch["prompt_inputs"]
    ids, mask = prompt["input_ids"], prompt["attention_mask"].bool()
    b = ids.shape[0]
    token_keys = [k for k in _PER_TOKEN_KEYS[1:] if k in prompt]
    rows, extras, reads = [], {k: [] for k in token_keys}, []
    for side, slot0 in (("chosen", 0), ("rejected", b)):
        comp_ids, comp_mask = batch[f"{side}_ids"], batch[f"{side}_mask"].bool()
        for i in range(b):
            p, c = ids[i][mask[i]], comp_ids[i][comp_mask[i]]
            r = len(rows)
            rows.append(torch.cat([p, c]))
            for k in token_keys:  # token types: the prompt's, then 0 (text) for the completion
                extras[k].append(torch.cat([prompt[k][i][mask[i]], torch.zeros_like(c)]))
            # Position len(p) + j - 1 predicts completion token j.
            cols = torch.arange(len(p) - 1, len(p) + len(c) - 1, device=ids.device)
            reads.append((torch.full_like(cols, r), cols, c, torch.full_like(cols, slot0 + i)))
    width = max(len(r) for r in rows)
    pad = int(batch.get("pad_token_id", 0))
    inputs = {"input_ids": torch.full((2 * b, width), pad, dtype=ids.dtype, device=ids.device),
              "attention_mask": torch.zeros((2 * b, width), dtype=torch.long, device=ids.device)}
    for k in token_keys:
        inputs[k] = torch.zeros((2 * b, width), dtype=prompt[k].dtype, device=ids.device)
    for r, row in enumerate(rows):
        inputs["input_ids"][r, :len(row)] = row
        inputs["attention_mask"][r, :len(row)] = 1
        for k in token_keys:
            inputs[k][r, :len(row)] = extras[k][r]
    for key, value in prompt.items():
        if key != "input_ids" and key not in _PER_TOKEN_KEYS and isinstance(value, torch.Tensor):
            inputs[key] = torch.cat([value, value])  # the chosen rows' images, then the rejected rows'
    read_row, read_col, target, slot = (torch.cat(x) for x in zip(*reads))
    return inputs, read_row, read_col, target, slot


def _is_wrapped(model: torch.nn.Module) -> bool:
    """True for data-parallel wrappers (DDP, FSDP, DeepSpeed), whose forward hooks sync gradients."""
    return hasattr(model, "module") and isinstance(model.module, torch.nn.Module)


def preference_logps(model: torch.nn.Module, batch: dict, *, mechanism: str = "shared_prefix") -> dict:
    """Summed log-probs (fp32) and token counts of chosen and rejected completions, each (B,).

    The SFT term's NLL is `-chosen_logps.sum()` over `chosen_tokens.sum()` tokens.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    if _is_wrapped(model):
        if mechanism == "shared_prefix" and "wrapped" not in _warned:
            _warned.add("wrapped")
            logger.warning("mmpo: plain two-sequence preference forward: the model is wrapped for data "
                           "parallelism (%s)", type(model).__name__)
        return _wrapped_plain(model, batch)
    from mmpo.fast_forward import plain_logps, shared_prefix_logps

    fn = shared_prefix_logps if mechanism == "shared_prefix" else plain_logps
    return fn(model, **{k: batch[k] for k in _COMPLETION_KEYS})


def _wrapped_plain(model: torch.nn.Module, batch: dict) -> dict:
    """The plain forward through the model's own call (so a DDP wrapper sees it)."""
    inputs, read_row, read_col, target, slot = _rows(batch)
    logits = model(**inputs, use_cache=False).logits
    picked = logits[read_row, read_col].float()  # only completion positions go through log-softmax
    lp = picked.gather(-1, target[:, None]).squeeze(-1) - picked.logsumexp(-1)
    b = batch["chosen_ids"].shape[0]
    sums = torch.zeros(2 * b, dtype=lp.dtype, device=lp.device).index_add(0, slot, lp)
    counts = torch.zeros(2 * b, dtype=torch.long, device=lp.device).index_add(0, slot, torch.ones_like(slot))
    return {"chosen_logps": sums[:b], "rejected_logps": sums[b:],
            "chosen_tokens": counts[:b], "rejected_tokens": counts[b:]}
