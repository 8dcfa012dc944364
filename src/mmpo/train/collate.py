"""Batches of preference pairs for the preference forward (`mmpo.train.logps`).

    dataset = PairDataset(load_pairs("pairs/meta.json"))    # items are `Pair`s; images open lazily
    collate = PairCollator(processor, max_length=2048)      # chat template, image placeholders, truncation
    batch = collate([dataset[0], dataset[1]])

A batch never cuts image tokens: completions are cut from their end (counted in `stats`), and a
prompt that alone reaches `max_length` is an error naming its record (or a counted skip).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mmpo.data.images import open_image
from mmpo.data.pairs import Pair, PairSet
from mmpo.errors import ON_ERROR, InputError, MMPOError
from mmpo.train.logps import PER_TOKEN_KEYS


@dataclass
class RefPair:
    """A pair with its dataset index and, when precomputed (`mmpo.train.reference`), its reference log-probs."""

    pair: Pair
    index: int
    ref_chosen: float | None = None
    ref_rejected: float | None = None



def check_pair_images(pairs: PairSet, *, on_error: str = "raise") -> None:
    """Check every image's header before training (a corrupt or oversized image fails now, naming its
    pair, not at the batch that holds it); with on_error="skip" its pairs are left out and counted."""
    from mmpo.data.images import check_image

    bad: dict[int, InputError] = {}
    checked: dict[Any, InputError | None] = {}
    for i, pair in enumerate(pairs.pairs):
        for ref in pair.images:
            key = ref if isinstance(ref, str) else id(ref)
            if key not in checked:
                try:
                    check_image(ref, source=pair.source, line=pair.line, record=pair.record, field="image")
                    checked[key] = None
                except InputError as exc:
                    checked[key] = exc
            if checked[key] is not None:
                bad.setdefault(i, checked[key])
    if not bad:
        return
    if on_error != "skip":
        first = min(bad)
        err, pair = bad[first], pairs.pairs[first]
        raise InputError(err.reason, path=pair.source, line=pair.line, record=pair.record, field=err.field)
    pairs.pairs = [p for i, p in enumerate(pairs.pairs) if i not in bad]
    pairs.stats["skipped_bad_image"] += len(bad)


class PairDataset:
    """A map-style dataset of `Pair`s (torch's DataLoader needs only `__len__` and `__getitem__`)."""

    def __init__(self, pairs: PairSet | list[Pair]):
        self.pairs = pairs.pairs if isinstance(pairs, PairSet) else list(pairs)
        self.stats = pairs.stats if isinstance(pairs, PairSet) else Counter()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Pair:
        return self.pairs[i]


def render(processor: Any, pair: Pair) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) as text in the model's chat layout.

    Like TRL: render prompt alone (with the generation prompt) and prompt + each answer, take
    their common prefix as the prompt and the rest as the completions, so the completions end
    with the template's end-of-turn tokens.
    """
    if getattr(processor, "chat_template", None) is None:
        raise MMPOError("the model's processor has no chat template; add one to its checkpoint "
                        "(chat_template.jinja) so prompts are laid out as the model expects")
    def apply(msgs, **kw):
        return processor.apply_chat_template(msgs, tokenize=False, **kw)

    prompt = apply(pair.messages, add_generation_prompt=True)
    full = [apply(pair.messages + [{"role": "assistant", "content": [{"type": "text", "text": text}]}])
            for text in (pair.chosen, pair.rejected)]
    n = len(prompt)
    for other in full:
        n = min(n, len(os.path.commonprefix([prompt, other])))
    return prompt[:n], full[0][n:], full[1][n:]


class PairCollator:
    """Pairs -> one batch for `mmpo.train.logps.preference_logps`.

    Output: `prompt_inputs` (the processor's output for the B prompts and their images, right
    padded), `chosen_ids`/`chosen_mask`, `rejected_ids`/`rejected_mask` (B, T) right padded, and
    `pad_token_id`. Pairs skipped under `on_error="skip"` are left out (counted in `stats`).
    Items may be `RefPair`s: then `pair_index` (B,), and with precomputed values
    `ref_chosen_logps`/`ref_rejected_logps` (B,) fp32, follow the kept pairs.
    """

    def __init__(self, processor: Any, *, max_length: int | None = None, truncate_completions: bool = True,
                 on_error: str = "raise", stats: Counter | None = None):
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.max_length = max_length
        self.truncate_completions = truncate_completions
        self.on_error = on_error
        self.stats = Counter() if stats is None else stats
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id

    def encode(self, pair: Pair) -> dict[str, Any] | None:
        """One pair's token ids and image tensors, truncated to `max_length`; None when skipped."""
        prompt, chosen, rejected = render(self.processor, pair)
        try:
            images = [open_image(ref, source=pair.source, line=pair.line, record=pair.record, field="images")
                      for ref in pair.images]
        except InputError as exc:  # a body that decodes wrong behind a good header
            return self._fail(exc, "skipped_bad_image")
        kwargs = {"text": [prompt], "return_tensors": "pt", "add_special_tokens": False}
        if images:
            kwargs["images"] = images
        enc = self.processor(**kwargs) if self.processor is not self.tokenizer else self.tokenizer(**kwargs)
        prompt_len = enc["input_ids"].shape[1]
        comps = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in (chosen, rejected)]
        if self.max_length is not None:
            room = self.max_length - prompt_len
            where = {"path": pair.source, "line": pair.line}
            if room < 1:
                return self._fail(InputError(
                    f"the prompt alone is {prompt_len} tokens (image tokens included), leaving no room for a "
                    f"completion within max_length={self.max_length}", **where), "skipped_prompt_too_long")
            for name, ids in zip(("chosen", "rejected"), comps):
                if len(ids) > room:
                    if not self.truncate_completions:
                        return self._fail(InputError(
                            f"prompt + {name} is {prompt_len + len(ids)} tokens, over max_length="
                            f"{self.max_length} (truncate_completions is off)", **where, field=name),
                            "skipped_too_long")
                    self.stats[f"truncated_{name}"] += 1
            comps = [ids[:room] for ids in comps]
        return {"enc": enc, "chosen": comps[0], "rejected": comps[1]}

    def _fail(self, err: InputError, counter: str) -> None:
        if self.on_error == "raise":
            raise err
        self.stats[counter] += 1
        return None

    def __call__(self, pairs: list[Pair]) -> dict[str, Any]:
        import torch

        kept = [(p, it) for p, it in ((p, self.encode(p.pair if isinstance(p, RefPair) else p)) for p in pairs)
                if it is not None]
        if not kept:
            return {"num_pairs": 0}
        items = [it for _, it in kept]
        prompt_inputs = _pad_prompts([it["enc"] for it in items], self.pad_token_id)
        out: dict[str, Any] = {"prompt_inputs": prompt_inputs}
        for name in ("chosen", "rejected"):
            seqs = [it[name] for it in items]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
                mask[i, :len(s)] = 1
            out[f"{name}_ids"], out[f"{name}_mask"] = ids, mask
        out["pad_token_id"] = self.pad_token_id
        refs = [p for p, _ in kept if isinstance(p, RefPair)]
        if refs:
            out["pair_index"] = torch.tensor([p.index for p in refs], dtype=torch.long)
            if refs[0].ref_chosen is not None:
                values = torch.tensor([[p.ref_chosen, p.ref_rejected] for p in refs], dtype=torch.float32)
                bad = [p.index for p, ok in zip(refs, torch.isfinite(values).all(1).tolist()) if not ok]
                if bad:
                    # The cache marks the pairs its own pass skipped; training must skip the same ones.
                    raise MMPOError(f"pair(s) {bad} of the dataset have no precomputed reference log-probs "
                                    "(skipped when the cache was built); delete the ref_logps cache and rerun")
                out["ref_chosen_logps"], out["ref_rejected_logps"] = values[:, 0], values[:, 1]
        return out


def _pad_prompts(encs: list[Any], pad_id: int) -> dict[str, Any]:
    """Right-pad per-token tensors (ids, mask, token types) and concatenate the image tensors."""
    import torch

    width = max(e["input_ids"].shape[1] for e in encs)
    out: dict[str, Any] = {}
    for key in encs[0].keys():
        values = [e[key] for e in encs]
        if not all(isinstance(v, torch.Tensor) for v in values):
            continue
        if key in PER_TOKEN_KEYS:
            fill = pad_id if key == "input_ids" else 0
            padded = torch.full((len(values), width), fill, dtype=values[0].dtype)
            for i, v in enumerate(values):
                padded[i, :v.shape[1]] = v[0]
            out[key] = padded
        else:
            # pixel_values, image_grid_thw, image_sizes: one entry per image, in prompt order.
            out[key] = torch.cat(values, dim=0)
    if "attention_mask" not in out:
        out["attention_mask"] = (torch.arange(width)[None, :] < torch.tensor(
            [e["input_ids"].shape[1] for e in encs])[:, None]).long()
    return out
