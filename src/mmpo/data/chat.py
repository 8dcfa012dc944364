"""Prompts in the model's chat layout, batches of (prompt, image), and stop tokens: the model-side
text handling that sampling, evaluation and pretraining share.

    text = chat_prompt(processor, "How many red squares?")        # generation prompt on
    batch = encode(processor, [text], [image])                     # input_ids, pixel_values, ...
    stop = eos_ids(model, processor)                               # ids that end a response
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def chat_prompt(processor: Any, user_text: str, *, image: bool = True) -> str:
    """One user turn (an image, then `user_text`) through the processor's chat template."""
    content: list[dict[str, str]] = [{"type": "image"}] if image else []
    content.append({"type": "text", "text": user_text})
    return processor.apply_chat_template([{"role": "user", "content": content}],
                                         tokenize=False, add_generation_prompt=True)


def encode(processor: Any, texts: Sequence[str], images: Sequence[Any] | None = None, *,
           padding_side: str = "left") -> Any:
    """Tokenize prompts and process their images into one padded batch (a BatchFeature of tensors).

    `images[i]` belongs to `texts[i]` and may be None for a text-only prompt. Left padding by
    default, as generation needs. Image tokens are never truncated (no truncation at all).
    """
    texts = list(texts)
    images = [None] * len(texts) if images is None else list(images)
    if len(images) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(images)} images")
    present = [im for im in images if im is not None]
    kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt",
                              "padding_side": padding_side}
    if present:
        # One list per prompt (empty for a text-only one): Gemma 3's and SmolVLM's processors
        # count images per prompt, and every other processor reads this layout too.
        kwargs["images"] = [[] if im is None else [im] for im in images]
    batch = processor(**kwargs)
    batch.pop("labels", None)  # PaliGemma's processor labels the prompt itself; prompts are never targets
    return batch


def image_token_count(processor: Any, image: Any) -> int:
    """How many image tokens the processor expands one image into."""
    text = chat_prompt(processor, "", image=True)
    ids = encode(processor, [text], [image])["input_ids"][0]
    return int((ids == image_token_id(processor)).sum())


def image_token_id(processor: Any) -> int:
    """The id of the tokens that image features replace (Gemma 3's processor names its begin-of-image
    marker `image_token`; its tokenizer names the feature token)."""
    tok = getattr(processor, "tokenizer", processor)
    return tok.convert_tokens_to_ids(getattr(tok, "image_token", None) or processor.image_token)


def eos_ids(model: Any, processor: Any) -> set[int]:
    """Token ids that end a response: the generation config's end-of-sequence ids and the tokenizer's."""
    ids = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
    tok = getattr(processor, "tokenizer", processor)
    if getattr(tok, "eos_token_id", None) is not None:
        ids.add(int(tok.eos_token_id))
    return ids
