"""Batches of preference pairs for the preference forward (`mmpo.train.logps`).

    dataset = PairDataset(load_pairs("pairs/meta.json"))    # items are `Pair`s; images open lazily
    collate = PairCollator(processor, max_length=2048)      # chat template, image placeholders, truncation
    batch = collate([dataset[0], dataset[1]])

A batch never cuts image tokens: completions are cut from their end (counted in `stats`), and a
prompt that alone reaches `max_length` is an error naming its record (or a counted skip).

A batch may mix text-only, one-image and several-image pairs (TRL rows with `images: []` next to
rows with two): each pair is encoded alone, its image tokens are checked against the images it
carries, and the encodings are merged in the layout each family's model expects (one entry per
image for most; one entry per prompt, zero-padded, for Idefics3 and SmolVLM; tiles, image sizes
and pixel sizes padded to the batch's largest).
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
        # What the chat template writes for each image (the processor expands it), and the ids
        # that image features replace: no completion may contain them.
        self._slot = getattr(processor, "image_token", None) if processor is not self.tokenizer else None
        self._image_ids = _image_token_ids(processor)
        self._batch_major = PROMPT_MAJOR_VISION.get(type(processor).__name__, frozenset())

    def encode(self, pair: Pair) -> dict[str, Any] | None:
        """One pair's token ids and image tensors, truncated to `max_length`; None when skipped."""
        prompt, chosen, rejected = render(self.processor, pair)
        where = {"path": pair.source, "line": pair.line, "record": pair.record}
        try:
            images = [open_image(ref, source=pair.source, line=pair.line, record=pair.record, field="images")
                      for ref in pair.images]
        except InputError as exc:  # a body that decodes wrong behind a good header
            return self._fail(exc, "skipped_bad_image")
        enc = self._encode_prompt(prompt, images, where)
        prompt_len = enc["input_ids"].shape[1]
        comps = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in (chosen, rejected)]
        for name, ids in zip(("chosen", "rejected"), comps):
            found = sorted(self._image_ids & set(ids))
            if found:
                raise InputError(f"contains image token(s) {self.tokenizer.convert_ids_to_tokens(found)}, which "
                                 "the model would fill with image features; remove them from the text",
                                 **where, field=name)
        if self.max_length is not None:
            room = self.max_length - prompt_len
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

    def _encode_prompt(self, prompt: str, images: list[Any], where: dict) -> dict[str, Any]:
        """The processor's output for one prompt and its images, checked to agree with each other."""
        slots = prompt.count(self._slot) if self._slot else None
        if slots is not None and slots != len(images):
            raise InputError(f"the chat template laid out {slots} image placeholder(s) ({self._slot}) for the "
                             f"pair's {len(images)} image(s)", **where, field="images")
        kwargs: dict[str, Any] = {"text": [prompt], "return_tensors": "pt", "add_special_tokens": False}
        if images:
            kwargs["images"] = [images]  # one list per prompt: every processor reads this layout
        try:
            enc = self.processor(**kwargs) if self.processor is not self.tokenizer else self.tokenizer(**kwargs)
        except (ValueError, TypeError, IndexError) as exc:
            raise InputError(f"the processor cannot encode the prompt with its {len(images)} image(s): {exc}",
                             **where, field="images") from None
        enc = {k: v for k, v in enc.items() if k != "labels"}  # PaliGemma's processor adds labels; pairs have their own
        n_tokens = int(sum((enc["input_ids"] == i).sum() for i in self._image_ids))
        vision = sorted(k for k in enc if k not in PER_TOKEN_KEYS)
        if images and (n_tokens == 0 or not vision):
            raise InputError(f"the processor gave {n_tokens} image tokens and no image inputs for the pair's "
                             f"{len(images)} image(s)" if not vision else
                             f"the processor gave no image tokens for the pair's {len(images)} image(s)",
                             **where, field="images")
        if not images and (n_tokens or vision):
            raise InputError(f"a pair without images has {n_tokens} image token(s) in its prompt"
                             + (f" and image inputs {vision}" if vision else ""), **where, field="images")
        return enc

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
        prompt_inputs = batch_prompts([it["enc"] for it in items], self.pad_token_id, self._batch_major)
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


# Processors whose image inputs have one entry per prompt (prompts x images x ...), not one per
# image: a prompt without images takes zeros there, which the model drops as padding images.
PROMPT_MAJOR_VISION = {"Idefics3Processor": frozenset({"pixel_values", "pixel_attention_mask"}),
                       "SmolVLMProcessor": frozenset({"pixel_values", "pixel_attention_mask"})}


def _image_token_ids(processor: Any) -> set[int]:
    """Ids of the tokens that image or video features replace, as far as the processor names them."""
    tok = getattr(processor, "tokenizer", processor)
    names = {getattr(tok, "image_token", None), getattr(processor, "image_token", None),
             getattr(tok, "video_token", None), getattr(processor, "video_token", None)}
    vocab = tok.get_vocab()
    return {vocab[n] for n in names if isinstance(n, str) and n in vocab}


def batch_prompts(encs: list[dict[str, Any]], pad_id: int, prompt_major: frozenset = frozenset()) -> dict[str, Any]:
    """Merge one-prompt encodings into a batch: per-token tensors right-padded, image tensors concatenated.

    Keys are the union over the prompts (a text-only prompt has no image keys). Image tensors are
    concatenated along their first axis in prompt order, every other axis zero-padded to the
    largest (LLaVA-NeXT's tiles, Pixtral's pixels; the models read only the real part, from
    `image_sizes`). `prompt_major` keys have one entry per prompt: prompts without images get zeros.
    """
    import torch

    width = max(e["input_ids"].shape[1] for e in encs)
    keys = list(dict.fromkeys(k for e in encs for k in e))
    out: dict[str, Any] = {}
    for key in keys:
        values = [e.get(key) for e in encs]
        present = [v for v in values if v is not None]
        if not all(isinstance(v, torch.Tensor) for v in present):
            continue
        if key in PER_TOKEN_KEYS:
            fill = pad_id if key == "input_ids" else 0
            padded = torch.full((len(values), width), fill, dtype=present[0].dtype)
            for i, v in enumerate(values):
                if v is not None:
                    padded[i, :v.shape[1]] = v[0]
            out[key] = padded
        elif key in prompt_major:
            template = torch.zeros((1, *_largest(present)[1:]), dtype=present[0].dtype)
            out[key] = torch.cat([_pad_to(template if v is None else v, template.shape) for v in values])
        else:
            shape = _largest(present)
            out[key] = torch.cat([_pad_to(v, (v.shape[0], *shape[1:])) for v in present])
    if "attention_mask" not in out:
        out["attention_mask"] = (torch.arange(width)[None, :] < torch.tensor(
            [e["input_ids"].shape[1] for e in encs])[:, None]).long()
    return out


def _largest(tensors: list[Any]) -> tuple[int, ...]:
    if len({t.dim() for t in tensors}) != 1:
        raise ValueError(f"image inputs of different ranks: {[tuple(t.shape) for t in tensors]}")
    return tuple(max(sizes) for sizes in zip(*(t.shape for t in tensors)))


def _pad_to(t: Any, shape: tuple[int, ...]) -> Any:
    """`t` zero-padded at the end of every axis to `shape`."""
    if tuple(t.shape) == tuple(shape):
        return t
    out = t.new_zeros(shape)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out
