"""The preference forward behind one function: summed completion log-probs of chosen and rejected.

    out = preference_logps(model, batch)     # batch from mmpo.pair_data.PairCollator
    out["chosen_logps"], out["rejected_logps"], out["chosen_tokens"], out["rejected_tokens"]   # (B,)

This is the plain two-sequence forward every peer uses: 2B rows `[prompt | chosen]` and
`[prompt | rejected]` (right padded, so default positions are right), one model call, log-probs
read only at completion positions. The shared-prefix forward (DESIGN.md §4) replaces the body
of `preference_logps`; the batch keys match its arguments.
"""

from __future__ import annotations

import torch

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


def preference_logps(model: torch.nn.Module, batch: dict) -> dict:
    """Summed log-probs (fp32) and token counts of chosen and rejected completions, each (B,).

    The SFT term's NLL is `-chosen_logps.sum()` over `chosen_tokens.sum()` tokens.
    """
    inputs, read_row, read_col, target, slot = _rows(batch)
    logits = model(**inputs, use_cache=False).logits
    picked = logits[read_row, read_col].float()  # only completion positions go through log-softmax
    lp = picked.gather(-1, target[:, None]).squeeze(-1) - picked.logsumexp(-1)
    b = batch["chosen_ids"].shape[0]
    sums = torch.zeros(2 * b, dtype=lp.dtype, device=lp.device).index_add(0, slot, lp)
    counts = torch.zeros(2 * b, dtype=torch.long, device=lp.device).index_add(0, slot, torch.ones_like(slot))
    return {"chosen_logps": sums[:b], "rejected_logps": sums[b:],
            "chosen_tokens": counts[:b], "rejected_tokens": counts[b:]}
