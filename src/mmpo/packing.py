"""Row layouts for the preference forward: packed `[prompt | chosen | rejected]` and plain two-sequence.

Pure tensor bookkeeping (no model): which token goes where, the attention mask, the positions,
and which hidden state predicts which completion token. Padding of the inputs (left or right)
is removed by their masks; every output row is left-aligned and right-padded, so a row's
positions never depend on how much padding its batch needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PROMPT, CHOSEN, REJECTED, PAD = 0, 1, 2, 3


@dataclass
class Rows:
    """A batch of rows plus where to read the completion log-probs from.

    `read_row[n], read_col[n]` is the hidden state that predicts `target[n]`, which is token
    number `token_index[n]` of completion `slot[n]`: slot i < B is pair i's chosen, B + i its
    rejected.
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


def _check(prompts: list[torch.Tensor], chosen: list[torch.Tensor], rejected: list[torch.Tensor]) -> None:
    for i, (p, c, r) in enumerate(zip(prompts, chosen, rejected)):
        if len(p) == 0:
            raise ValueError(f"pair {i}: empty prompt (the first completion token needs a prompt token before it)")
        if len(c) == 0 or len(r) == 0:
            raise ValueError(f"pair {i}: empty {'chosen' if len(c) == 0 else 'rejected'} completion")


def _reads(prompt_len: list[int], starts: list[tuple[int, int, int]], completions: list[torch.Tensor]):
    """Reading positions for completions; starts[k] = (row, slot, col of the completion's first token)."""
    rows, cols, targets, slots = [], [], [], []
    for (row, slot, col), tokens, p in zip(starts, completions, prompt_len):
        n = len(tokens)
        read = torch.arange(col - 1, col - 1 + n)
        # The first completion token is predicted by the last prompt token, wherever the completion sits.
        read[0] = p - 1
        rows.append(torch.full((n,), row))
        cols.append(read)
        targets.append(tokens)
        slots.append(torch.full((n,), slot))
    return rows, cols, targets, slots


def pack_shared_prefix(prompt_ids, prompt_mask, chosen_ids, chosen_mask, rejected_ids, rejected_mask,
                       *, pad_id: int) -> Rows:
    """One row per pair: `[prompt | chosen | rejected | pad]`, rejected positions restarting at the prompt's end."""
    prompts, chosen, rejected = (_unpad(prompt_ids, prompt_mask), _unpad(chosen_ids, chosen_mask),
                                 _unpad(rejected_ids, rejected_mask))
    _check(prompts, chosen, rejected)
    b, device = len(prompts), prompt_ids.device
    ids, seg, pos = _assemble([[(p, PROMPT), (c, CHOSEN), (r, REJECTED)]
                               for p, c, r in zip(prompts, chosen, rejected)], pad_id, device)
    plen = [len(p) for p in prompts]
    starts = ([(i, i, plen[i]) for i in range(b)]
              + [(i, b + i, plen[i] + len(chosen[i])) for i in range(b)])
    return _rows(ids, seg, pos, plen, starts, chosen + rejected, b)


def pack_two_sequences(prompt_ids, prompt_mask, chosen_ids, chosen_mask, rejected_ids, rejected_mask,
                       *, pad_id: int, rejected_prompt_ids=None, rejected_prompt_mask=None) -> Rows:
    """2B rows, `[prompt | chosen]` for every pair then `[prompt | rejected]`: the plain forward."""
    prompts = _unpad(prompt_ids, prompt_mask)
    rprompts = prompts if rejected_prompt_ids is None else _unpad(rejected_prompt_ids, rejected_prompt_mask)
    chosen, rejected = _unpad(chosen_ids, chosen_mask), _unpad(rejected_ids, rejected_mask)
    _check(prompts, chosen, rejected)
    _check(rprompts, chosen, rejected)
    b = len(prompts)
    ids, seg, pos = _assemble([[(p, PROMPT), (c, CHOSEN)] for p, c in zip(prompts, chosen)]
                              + [[(p, PROMPT), (r, REJECTED)] for p, r in zip(rprompts, rejected)],
                              pad_id, prompt_ids.device)
    plen = [len(p) for p in prompts + rprompts]
    starts = [(k, k, plen[k]) for k in range(2 * b)]
    return _rows(ids, seg, pos, plen, starts, chosen + rejected, b)


def _rows(ids, seg, pos, row_plen, starts, completions, b) -> Rows:
    device = ids.device
    rows, cols, targets, slots = _reads([row_plen[s[0]] for s in starts], starts, completions)
    lens = torch.tensor([len(c) for c in completions], device=device)
    return Rows(
        input_ids=ids, segment=seg, position_ids=pos,
        prompt_len=torch.tensor(row_plen, device=device),
        read_row=torch.cat(rows).to(device), read_col=torch.cat(cols).to(device),
        target=torch.cat(targets).to(device), slot=torch.cat(slots).to(device),
        chosen_tokens=lens[:b], rejected_tokens=lens[b:],
    )


def shared_prefix_mask(segment: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive (R, 1, L, L) mask: causal, no padding keys, and rejected never sees chosen.

    Padding queries keep their causal keys (the prompt at least), so no row of the mask is
    empty: an all-masked row gives NaN in SDPA, and NaN times a zero gradient is still NaN.
    """
    length = segment.shape[1]
    idx = torch.arange(length, device=segment.device)
    causal = (idx[None, :] <= idx[:, None])[None]
    key_ok = (segment != PAD)[:, None, :]
    crossing = (segment == REJECTED)[:, :, None] & (segment == CHOSEN)[:, None, :]
    allowed = causal & key_ok & ~crossing
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment.device)
    return mask.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]
