"""N samples per prompt from one prefill: the image and prompt are encoded once, then N continue.

    from mmpo.sample.prefill import draw_samples
    outs = draw_samples(model, processor, texts, images, n=8, seeds=[11, 12], temperature=1.0, top_k=50,
                       max_new_tokens=64)
    outs[i][j].tokens, outs[i][j].truncated     # prompt i, sample j

Why: `generate(num_return_sequences=N)` copies each prompt N times before the prefill, so the
vision tower and the whole prompt (often hundreds of image tokens) run N times. Here one prefill
per prompt fills a KV cache, the cache is repeated N times along the batch, and decoding proceeds
token by token with temperature and top-k, dropping finished rows as they end.

Positions are passed explicitly, so left padding never shifts them: `cumsum(mask) - 1` for
ordinary rotary models; for M-RoPE models (Qwen2-VL family) the model's own `get_rope_index`
for the prefill and `delta + count of real tokens` while decoding (what its generate does).

Randomness: one `torch.Generator` per prompt, seeded by the caller, so a prompt's samples do
not depend on which other prompts share its batch (the numerics of a batch still do, slightly;
`mmpo.sample.run` keeps batches fixed for that reason).

Architectures outside `PREFILL_REUSE_TYPES` use `generate(num_return_sequences=N)`, with one log line.
(Training has its own once-per-pair mechanism, the shared-prefix forward of `mmpo.train.logps`.)
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

from mmpo.data.chat import encode, eos_ids
from mmpo.models.families import ONE_BASED_POSITIONS, PREFILL_REUSE_TYPES, ROPE_MULTIMODAL

log = logging.getLogger(__name__)


@dataclass
class Completion:
    tokens: list[int]
    truncated: bool  # stopped by max_new_tokens before an end-of-sequence token
    logprobs: Any = None  # (steps, vocab) next-token log-probabilities before temperature/top-k, if asked


def supports_prefill_reuse(model: Any) -> bool:
    return getattr(model.config, "model_type", None) in PREFILL_REUSE_TYPES


def _stop_ids(model: Any, processor: Any) -> set[int]:
    ids = eos_ids(model, processor)
    if not ids:
        raise ValueError("the model has no end-of-sequence token (generation_config.eos_token_id)")
    return ids


def _filter_logits(logits, temperature: float, top_k: int):
    import torch

    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


def _next_tokens(logits, temperature: float, top_k: int, gens: list, counts: list[int]) -> Any:
    """One token per active row: argmax when temperature == 0, else a draw from the generator of the
    row's prompt. Rows are grouped by prompt, in order; `counts[p]` rows belong to prompt p."""
    import torch

    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(_filter_logits(logits.float(), temperature, top_k), dim=-1)
    parts = [torch.multinomial(chunk, 1, generator=gens[p]).squeeze(1)
             for p, chunk in zip(_nonzero(counts), probs.split([c for c in counts if c]))]
    return torch.cat(parts)


def _nonzero(counts: list[int]) -> list[int]:
    return [p for p, c in enumerate(counts) if c]


def draw_samples(model: Any, processor: Any, texts: list[str], images: list[Any] | None, *, n: int,
                 seeds: list[int], temperature: float, top_k: int, max_new_tokens: int,
                 reuse_prefill: bool = True, return_logprobs: bool = False) -> list[list[Completion]]:
    """n completions for each of the prompts `texts` (chat-formatted, with image placeholders when
    `images` is given; one image per text). Greedy when temperature == 0."""
    if len(seeds) != len(texts):
        raise ValueError(f"need one seed per prompt: {len(seeds)} seeds for {len(texts)} prompts")
    if images is not None and len(images) != len(texts):
        raise ValueError(f"need one image per prompt: {len(images)} images for {len(texts)} prompts")
    if n < 1 or max_new_tokens < 1 or temperature < 0:
        raise ValueError("n and max_new_tokens must be >= 1 and temperature >= 0")
    if reuse_prefill and not supports_prefill_reuse(model):
        log.warning("mmpo: sampling with generate(num_return_sequences): prefill reuse is not verified for model "
                    "type %r", getattr(model.config, "model_type", None))
        reuse_prefill = False
    if not reuse_prefill:
        return _draw_plain(model, processor, texts, images, n=n, seeds=seeds, temperature=temperature,
                           top_k=top_k, max_new_tokens=max_new_tokens)
    return _draw_reusing_prefill(model, processor, texts, images, n=n, seeds=seeds, temperature=temperature,
                        top_k=top_k, max_new_tokens=max_new_tokens, return_logprobs=return_logprobs)


def _draw_reusing_prefill(model, processor, texts, images, *, n, seeds, temperature, top_k, max_new_tokens,
                 return_logprobs):
    import torch
    from transformers import DynamicCache

    device = model.device
    enc = encode(processor, texts, images, padding_side="left")
    enc = {k: v.to(device) if hasattr(v, "to") else v for k, v in enc.items()}
    stop = torch.tensor(sorted(_stop_ids(model, processor)), device=device)
    ids, mask = enc["input_ids"], enc["attention_mask"].long()
    mrope = model.config.model_type in ROPE_MULTIMODAL
    b, width = ids.shape
    pos, delta = _prefill_positions(model, enc, ids, mask, mrope)
    extra = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
    cache = DynamicCache(config=model.config.get_text_config())
    # transformers 5.24 names the cache argument `cache`; earlier 5.x releases `past_key_values`.
    ckw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    rows_total = b * n
    # Bookkeeping stays in tensors (one host sync per step, for the early exit).
    buf = torch.zeros(rows_total, max_new_tokens, dtype=torch.long, device=device)
    ended_at = torch.full((rows_total,), -1, dtype=torch.long, device=device)
    logps: list[tuple[Any, Any]] = []
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                    **{ckw: cache}, **extra)
        # The one shared prefill, now repeated for the n samples of each prompt (row r -> prompt r // n).
        cache.batch_repeat_interleave(n)
        logits = out.logits[:, -1].repeat_interleave(n, dim=0)
        full_mask = torch.cat([mask.repeat_interleave(n, dim=0),
                               torch.ones(rows_total, max_new_tokens, dtype=mask.dtype, device=device)], dim=1)
        n_real = full_mask[:, :width].sum(-1)  # real tokens so far = the next token's text position
        delta = delta.repeat_interleave(n, dim=0)
        rows = torch.arange(rows_total, device=device)
        gens = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        counts = [n] * b
        steps = 0
        for step in range(max_new_tokens):
            if return_logprobs:
                logps.append((rows, torch.log_softmax(logits.float(), dim=-1)))
            nxt = _next_tokens(logits, temperature, top_k, gens, counts)
            buf[rows, step] = nxt
            ended = torch.isin(nxt, stop)
            ended_at[rows] = torch.where(ended, step, ended_at[rows])
            steps = step + 1
            if steps == max_new_tokens:
                break
            if bool(ended.any()):  # the one host sync per step
                keep = (~ended).nonzero(as_tuple=True)[0]
                if keep.numel() == 0:
                    break
                # Finished rows leave the batch: the rest decode with less work.
                cache.batch_select_indices(keep)
                rows, nxt, full_mask, n_real, delta = (rows[keep], nxt[keep], full_mask[keep], n_real[keep],
                                                       delta[keep])
                counts = torch.bincount(rows // n, minlength=b).tolist()
            step_pos = (n_real + delta).view(-1, 1)
            if mrope:
                step_pos = step_pos.unsqueeze(0).expand(3, -1, -1)
            out = model(input_ids=nxt.view(-1, 1), attention_mask=full_mask[:, : width + steps],
                        position_ids=step_pos, use_cache=True, logits_to_keep=1, **{ckw: cache})
            logits = out.logits[:, -1]
            n_real = n_real + 1
    return _completions(buf.cpu(), ended_at.tolist(), steps, b, n, logps if return_logprobs else None)


def _prefill_positions(model, enc, ids, mask, mrope: bool):
    """Explicit positions of the left-padded prefill, and each row's offset for the decoding steps."""
    import torch

    b = ids.shape[0]
    if mrope:
        mm = enc.get("mm_token_type_ids")
        if mm is None:
            mm = torch.zeros_like(ids)
        pos, delta = model.model.get_rope_index(ids, image_grid_thw=enc.get("image_grid_thw"),
                                                attention_mask=mask, mm_token_type_ids=mm)
        return pos, delta.view(b).to(ids.device)
    first = 1 if model.config.model_type in ONE_BASED_POSITIONS else 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0) + first
    return pos, torch.full((b,), first, dtype=torch.long, device=ids.device)


def _completions(buf, ended_at: list[int], steps: int, b: int, n: int, logps) -> list[list[Completion]]:
    """Per prompt, its n completions: tokens up to (not including) the stop token, truncation, log-probs."""
    import torch

    result = []
    for i in range(b):
        group = []
        for r in range(i * n, (i + 1) * n):
            length = ended_at[r] if ended_at[r] >= 0 else steps
            lp = None
            if logps is not None:
                lp = torch.stack([x[(rw == r).nonzero(as_tuple=True)[0][0]].cpu() for rw, x in logps
                                  if bool((rw == r).any())])
            group.append(Completion(buf[r, :length].tolist(), truncated=ended_at[r] < 0, logprobs=lp))
        result.append(group)
    return result


def _draw_plain(model, processor, texts, images, *, n, seeds, temperature, top_k, max_new_tokens):
    """The reference path: one prompt at a time through generate(num_return_sequences=n)."""
    import torch

    stop = _stop_ids(model, processor)
    result = []
    for i, text in enumerate(texts):
        enc = encode(processor, [text], None if images is None else [images[i]], padding_side="left")
        enc = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in enc.items()}
        width = enc["input_ids"].shape[1]
        sampling = {"do_sample": True, "temperature": temperature, "top_k": top_k} if temperature > 0 else {
            "do_sample": False}
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(int(seeds[i]))
            out = model.generate(**enc, num_return_sequences=n, max_new_tokens=max_new_tokens,
                                 eos_token_id=sorted(stop), pad_token_id=processor.tokenizer.pad_token_id,
                                 **sampling)
        group = []
        for row in out[:, width:].tolist():
            cut = next((j for j, t in enumerate(row) if t in stop), None)
            group.append(Completion(row if cut is None else row[:cut], truncated=cut is None))
        result.append(group)
    return result


def decode(processor: Any, completion: Completion) -> str:
    tok = getattr(processor, "tokenizer", processor)
    return tok.decode(completion.tokens, skip_special_tokens=True)
