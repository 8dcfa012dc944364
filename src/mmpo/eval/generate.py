"""Batched greedy generation for (prompt text, image) pairs, left-padded, in input order.

    from mmpo.eval.generate import greedy_generate
    outs = greedy_generate(model, processor, [(text, image), ...], max_new_tokens=256, batch_size=8)
    outs[i].text, outs[i].num_tokens, outs[i].truncated

Prompts are sorted by length before batching so each batch carries little padding; results come back in
the order given. `truncated` marks a response cut by `max_new_tokens` before an end-of-sequence token
(the eval reports how many, never hides them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Generation:
    text: str
    num_tokens: int  # new tokens before the end-of-sequence token
    truncated: bool  # stopped by max_new_tokens, not by an end-of-sequence token


def greedy_generate(model: Any, processor: Any, items: Sequence[tuple[str, Any]], *, max_new_tokens: int,
                    batch_size: int = 8, apply_chat: bool = True, progress: Any = None) -> list[Generation]:
    """Greedy continuations of each (user text, image or None).

    `apply_chat`: wrap each text as one user turn with the processor's chat template (`mmpo.data.chat`);
    False when the texts are already full prompts. `progress`: anything with `.update(n)` (a tqdm bar).
    """
    import torch

    from mmpo.data.chat import chat_prompt, encode, eos_ids

    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    tok = getattr(processor, "tokenizer", processor)
    eos = eos_ids(model, processor)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (min(eos) if eos else 0)
    texts = [chat_prompt(processor, t, image=im is not None) if apply_chat else t for t, im in items]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    results: list[Generation | None] = [None] * len(texts)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = encode(processor, [texts[i] for i in idx], [items[i][1] for i in idx], padding_side="left")
        # Floating inputs (pixel values) follow the model's dtype; ids and masks keep theirs.
        batch = {k: (v.to(device=device, dtype=dtype) if torch.is_floating_point(v) else v.to(device))
                 if hasattr(v, "to") else v for k, v in batch.items()}
        with torch.inference_mode():
            out = model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad_id,
                                 eos_token_id=sorted(eos) or None, temperature=None, top_p=None, top_k=None)
        new = out[:, batch["input_ids"].shape[1]:].tolist()
        for row, i in zip(new, idx):
            stop = next((k for k, t in enumerate(row) if t in eos), None)
            kept = row if stop is None else row[:stop]
            text = tok.decode(kept, skip_special_tokens=True).strip()
            results[i] = Generation(text=text, num_tokens=len(kept), truncated=stop is None)
        if progress is not None:
            progress.update(len(idx))
    return results  # type: ignore[return-value]
