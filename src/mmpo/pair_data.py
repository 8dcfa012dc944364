"""Preference pairs in: the MMPR layout, TRL's preference format, single JSONL files; and their batches.

    pairs = load_pairs("pairs/meta.json", seed=0)          # or pairs.jsonl, or a `datasets` folder
    dataset = PairDataset(pairs)                            # items are `Pair`s; images open lazily
    collate = PairCollator(processor, max_length=2048)      # chat template, image placeholders, truncation
    batch = collate([dataset[0], dataset[1]])

Formats (DESIGN.md §2):
- MMPR: `meta.json` maps a subset name to `{root, annotation, data_augment, repeat_time, length}`;
  each annotation JSONL line is `{image, question, chosen, rejected[, answer_gt]}`. `<image>` in
  the question marks where the image goes (else it comes first). Relative paths resolve against
  the folder of meta.json (then the current directory, as the MMPR release is laid out).
  `repeat_time` 2 repeats a subset twice; 0.5 keeps a seeded half.
- TRL: `{prompt, chosen, rejected, images}` (or `image`), strings or conversational messages.
- A single `.jsonl` file of either kind (relative image paths resolve against its folder).

Bad records raise `InputError` naming file, line and field; with `on_error="skip"` they are
counted in `stats` instead. A batch never cuts image tokens: completions are cut from their end
(counted), and a prompt that alone reaches `max_length` is an error naming its record (or a
counted skip).
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.errors import InputError, MMPOError
from mmpo.records import iter_jsonl

IMAGE_MARKER = "<image>"
ON_ERROR = ("raise", "skip")


@dataclass
class Pair:
    """One preference pair. `messages` are the prompt turns with `{"type": "image"}` parts (no payload);
    `images` fill those parts in order: file paths, `{"bytes", "path"}` dicts or PIL images."""

    messages: list[dict[str, Any]]
    chosen: str
    rejected: str
    images: tuple[Any, ...] = ()
    source: str | None = None
    line: int | None = None
    subset: str | None = None


@dataclass
class RefPair:
    """A pair with its dataset index and, when precomputed (`mmpo.ref_cache`), its reference log-probs."""

    pair: Pair
    index: int
    ref_chosen: float | None = None
    ref_rejected: float | None = None


@dataclass
class PairSet:
    pairs: list[Pair]
    stats: Counter = field(default_factory=Counter)


# ---- reading ---------------------------------------------------------------------------------------

def load_pairs(path: str | os.PathLike, *, seed: int = 0, on_error: str = "raise") -> PairSet:
    """Read pairs from an MMPR meta.json (or its folder), a JSONL file, or a `datasets` folder."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    path = Path(path)
    if path.is_dir():
        if (path / "meta.json").is_file():
            return _load_mmpr(path / "meta.json", seed, on_error)
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return _load_hf_dataset(path, on_error)
        raise InputError("a folder of pairs needs a meta.json (MMPR layout) or a saved `datasets` dataset", path=path)
    if not path.exists():
        raise InputError("file does not exist", path=path)
    if path.suffix == ".json":
        return _load_mmpr(path, seed, on_error)
    out = PairSet([])
    _read_jsonl(path, path.parent, out, on_error, subset=None)
    return out


def _load_mmpr(meta_path: Path, seed: int, on_error: str) -> PairSet:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=meta_path, line=exc.lineno) from None
    if not isinstance(meta, dict) or not meta:
        raise InputError("expected an object mapping subset names to {root, annotation, ...}", path=meta_path)
    out = PairSet([])
    for name, spec in meta.items():
        if not isinstance(spec, dict):
            raise InputError(f"subset {name!r}: expected an object", path=meta_path, field=name)
        for key in ("annotation",):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise InputError(f"subset {name!r}: missing or not a string", path=meta_path, field=key)
        repeat = spec.get("repeat_time", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int | float) or not math.isfinite(repeat) or repeat < 0:
            raise InputError(f"subset {name!r}: must be a number >= 0, got {repeat!r}", path=meta_path,
                             field="repeat_time")
        annotation = _resolve(spec["annotation"], meta_path.parent)
        root = _resolve(spec.get("root") or "", meta_path.parent) if spec.get("root") else annotation.parent
        subset = PairSet([])
        _read_jsonl(annotation, root, subset, on_error, subset=name)
        out.stats.update(subset.stats)
        out.pairs.extend(_repeat(subset.pairs, float(repeat), random.Random(f"{seed}:{name}")))
    return out


def _resolve(p: str, base: Path) -> Path:
    path = Path(p)
    if path.is_absolute():
        return path
    # MMPR's own meta.json names paths relative to the folder above the release; try meta's folder first.
    return base / path if (base / path).exists() or not path.exists() else path


def _repeat(pairs: list[Pair], repeat: float, rng: random.Random) -> list[Pair]:
    whole = int(repeat)
    out = pairs * whole
    extra = int(round((repeat - whole) * len(pairs)))
    if extra:
        out += rng.sample(pairs, extra)
    return out


def _read_jsonl(path: Path, image_root: Path, out: PairSet, on_error: str, subset: str | None) -> None:
    def skip(exc: InputError) -> None:
        if on_error == "raise":
            raise exc
        out.stats["skipped_bad_record"] += 1

    for lineno, obj in iter_jsonl(path, on_malformed=skip, missing="annotation file does not exist"):
        try:
            out.pairs.append(parse_pair(obj, source=path, line=lineno, image_root=image_root, subset=subset))
        except InputError as exc:
            skip(exc)


def _load_hf_dataset(path: Path, on_error: str) -> PairSet:
    import datasets

    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if "train" not in ds:
            raise InputError(f"a DatasetDict without a 'train' split (splits: {list(ds)})", path=path)
        ds = ds["train"]
    for col in ("images", "image"):
        # Keep images encoded: they are decoded when their batch is built, not all at once here.
        if col in ds.column_names and isinstance(ds.features[col], datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
        elif col in ds.column_names and isinstance(getattr(ds.features[col], "feature", None), datasets.Image):
            ds = ds.cast_column(col, datasets.Sequence(datasets.Image(decode=False)))
    out = PairSet([])
    for i, row in enumerate(ds):
        try:
            out.pairs.append(parse_pair(row, source=path, line=i + 1, image_root=path))
        except InputError:
            if on_error == "raise":
                raise
            out.stats["skipped_bad_record"] += 1
    return out


def _text(value: Any, *, where: dict, name: str) -> str:
    """A completion as text: a string, or the text of assistant messages (TRL's conversational form)."""
    if isinstance(value, list):
        parts = []
        for msg in value:
            if not isinstance(msg, dict) or "content" not in msg:
                raise InputError("expected a string or a list of {role, content} messages", **where, field=name)
            content = msg["content"]
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            parts.append(str(content))
        value = "".join(parts)
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", **where, field=name)
    if not value.strip():
        raise InputError("is empty", **where, field=name)
    return value


def _image_refs(obj: dict, where: dict, image_root: Path) -> tuple[Any, ...]:
    name = "images" if "images" in obj else "image"
    value = obj.get(name)
    if value is None or value == []:
        return ()
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, str):
            if not item:
                raise InputError("empty image path", **where, field=name)
            path = Path(item) if os.path.isabs(item) else image_root / item
            if not path.is_file():
                raise InputError(f"image {path} does not exist", **where, field=name)
            refs.append(str(path))
        elif isinstance(item, dict) and (item.get("bytes") or item.get("path")):
            if not item.get("bytes"):
                path = Path(item["path"]) if os.path.isabs(item["path"]) else image_root / item["path"]
                if not path.is_file():
                    raise InputError(f"image {path} does not exist", **where, field=name)
            refs.append(item)
        elif hasattr(item, "convert"):  # an already decoded PIL image
            refs.append(item)
        else:
            raise InputError(f"expected an image path, got {type(item).__name__}", **where, field=name)
    return tuple(refs)


def _question_messages(question: str, n_images: int, where: dict, name: str) -> list[dict[str, Any]]:
    pieces = question.split(IMAGE_MARKER)
    markers = len(pieces) - 1
    content: list[dict[str, Any]] = []
    if markers == 0:
        content = [{"type": "image"} for _ in range(n_images)]
        content.append({"type": "text", "text": question})  # as the model saw it when sampling
    elif markers == n_images:
        for i, piece in enumerate(pieces):
            # MMPR writes "<image>\n<question>": the newline belongs to the marker, not the question.
            piece = piece.strip("\n") if i else piece.rstrip("\n")
            if piece:
                content.append({"type": "text", "text": piece})
            if i < markers:
                content.append({"type": "image"})
    else:
        raise InputError(f"has {markers} {IMAGE_MARKER} marker(s) but the record has {n_images} image(s)",
                         **where, field=name)
    return [{"role": "user", "content": content}]


def _prompt_messages(prompt: list, n_images: int, where: dict) -> list[dict[str, Any]]:
    """TRL conversational prompt: images go into `{"type": "image"}` parts, or before the first user text."""
    msgs, placed, placeholders = [], False, 0
    for msg in prompt:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant"):
            raise InputError("expected messages with role system, user or assistant", **where, field="prompt")
        content = msg.get("content")
        if isinstance(content, str):
            parts = [{"type": "text", "text": content}]
            if msg["role"] == "user" and not placed:
                parts = [{"type": "image"} for _ in range(n_images)] + parts
                placed = True
                placeholders += n_images
            content = parts
        elif isinstance(content, list):
            content = [dict(p) for p in content]
            placeholders += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image")
            placed = placed or any(isinstance(p, dict) and p.get("type") == "image" for p in content)
        else:
            raise InputError("message content must be a string or a list of parts", **where, field="prompt")
        msgs.append({"role": msg["role"], "content": content})
    if not msgs or placeholders != n_images:
        raise InputError(f"{placeholders} image placeholder(s) for {n_images} image(s)", **where, field="prompt")
    return msgs


def parse_pair(obj: Any, *, source=None, line: int | None = None, image_root: Path | None = None,
               subset: str | None = None) -> Pair:
    """Validate one record (MMPR line or TRL row) and return a `Pair`; images are checked, not opened."""
    where = {"path": source, "line": line}
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", **where)
    for name in ("chosen", "rejected"):
        if name not in obj:
            raise InputError("missing required field", **where, field=name)
    chosen = _text(obj["chosen"], where=where, name="chosen")
    rejected = _text(obj["rejected"], where=where, name="rejected")
    images = _image_refs(obj, where, image_root or Path("."))
    if "question" in obj:
        if not isinstance(obj["question"], str) or not obj["question"].strip():
            raise InputError("missing or empty", **where, field="question")
        messages = _question_messages(obj["question"], len(images), where, "question")
    elif "prompt" in obj:
        prompt = obj["prompt"]
        if isinstance(prompt, str):
            if not prompt.strip():
                raise InputError("is empty", **where, field="prompt")
            messages = _question_messages(prompt, len(images), where, "prompt")
        elif isinstance(prompt, list):
            messages = _prompt_messages(prompt, len(images), where)
        else:
            raise InputError(f"expected a string or messages, got {type(prompt).__name__}", **where, field="prompt")
    else:
        raise InputError("missing required field (MMPR: question; TRL: prompt)", **where, field="question")
    return Pair(messages, chosen, rejected, images, None if source is None else str(source), line, subset)


# ---- batches ---------------------------------------------------------------------------------------

class PairDataset:
    """A map-style dataset of `Pair`s (torch's DataLoader needs only `__len__` and `__getitem__`)."""

    def __init__(self, pairs: PairSet | list[Pair]):
        self.pairs = pairs.pairs if isinstance(pairs, PairSet) else list(pairs)
        self.stats = pairs.stats if isinstance(pairs, PairSet) else Counter()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> Pair:
        return self.pairs[i]


def _open(ref: Any, pair: Pair) -> Any:
    from mmpo.images import load_image

    if isinstance(ref, str):
        return load_image(ref, source=pair.source, line=pair.line)
    if isinstance(ref, dict):
        if ref.get("bytes"):
            import io

            from PIL import Image

            try:
                return Image.open(io.BytesIO(ref["bytes"])).convert("RGB")
            except OSError as exc:
                raise InputError(f"image bytes cannot be read ({exc})", path=pair.source, line=pair.line,
                                 field="images") from None
        return load_image(ref["path"], source=pair.source, line=pair.line)
    return ref.convert("RGB")


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
    """Pairs -> one batch for `mmpo.forward.preference_logps`.

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
        images = [_open(ref, pair) for ref in pair.images]
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


# Processor outputs with one value per token (the rest are per image).
_PER_TOKEN_KEYS = frozenset({"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids"})


def _pad_prompts(encs: list[Any], pad_id: int) -> dict[str, Any]:
    """Right-pad per-token tensors (ids, mask, token types) and concatenate the image tensors."""
    import torch

    width = max(e["input_ids"].shape[1] for e in encs)
    out: dict[str, Any] = {}
    for key in encs[0].keys():
        values = [e[key] for e in encs]
        if not all(isinstance(v, torch.Tensor) for v in values):
            continue
        if key in _PER_TOKEN_KEYS:
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
