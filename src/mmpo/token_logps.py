"""Log-probs of chosen tokens from hidden states, without full-vocabulary logits where none are needed.

The caller gathers the hidden states at the positions that predict completion tokens and passes
only those here: image and prompt positions never go through the LM head. With `chunk_size`, the
rows go through the head a chunk at a time under activation checkpointing, so the (rows x vocab)
fp32 logits of only one chunk are alive at once, in the forward and in the backward.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint


def _chunk_logps(lm_head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # fp32 before the normalisation: bf16 logsumexp over a large vocab loses ~1e-2 per token.
    logits = lm_head(hidden).float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)


def token_logps(lm_head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor,
                chunk_size: int | None = None) -> torch.Tensor:
    """log p(targets[i] | hidden[i]) in fp32, shape (N,); `hidden` is (N, H), `targets` (N,)."""
    n = hidden.shape[0]
    if not chunk_size or n <= chunk_size:
        return _chunk_logps(lm_head, hidden, targets)
    if chunk_size < 1:
        raise ValueError(f"logits_chunk_size must be >= 1, got {chunk_size}")
    need_graph = torch.is_grad_enabled() and (hidden.requires_grad
                                              or any(p.requires_grad for p in lm_head.parameters()))
    pieces = []
    for start in range(0, n, chunk_size):
        h, t = hidden[start:start + chunk_size], targets[start:start + chunk_size]
        # Without checkpointing, autograd would keep every chunk's logits until backward anyway.
        pieces.append(checkpoint(_chunk_logps, lm_head, h, t, use_reentrant=False) if need_graph
                      else _chunk_logps(lm_head, h, t))
    return torch.cat(pieces)
