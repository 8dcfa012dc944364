"""A small byte-level BPE tokenizer trained offline on the benchmark's text, with a chat template.

Byte-level, so any text encodes (no unknown token) and decodes back exactly. The corpus repeats
the numbers 0-99 (with and without a leading space) so that they become single tokens; the vocab
stays under ~1000 so a tiny model's embedding table is small. Training takes well under a second
and is deterministic; the result is cached per process (callers get a fresh wrapper each time).
"""

from __future__ import annotations

import functools
from typing import Any

VOCAB_SIZE = 1024

# Every special token any tiny arch needs, in one vocabulary so ids never depend on the arch.
PAD, BOS, EOS = "<|pad|>", "<s>", "<|im_end|>"
IM_START = "<|im_start|>"
LLAVA_IMAGE = "<image>"
QWEN_VISION_START, QWEN_VISION_END, QWEN_IMAGE, QWEN_VIDEO = (
    "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
INTERNVL_START, INTERNVL_END, INTERNVL_CONTEXT, INTERNVL_VIDEO = "<img>", "</img>", "<IMG_CONTEXT>", "<video>"
SPECIAL_TOKENS = [PAD, BOS, "</s>", IM_START, EOS, LLAVA_IMAGE, QWEN_VISION_START, QWEN_VISION_END,
                  QWEN_IMAGE, QWEN_VIDEO, INTERNVL_START, INTERNVL_END, INTERNVL_CONTEXT, INTERNVL_VIDEO]

# What the user turn shows for one image, per arch; each processor expands it to N image tokens.
IMAGE_PLACEHOLDER = {
    "llava": LLAVA_IMAGE,
    "qwen2_vl": QWEN_VISION_START + QWEN_IMAGE + QWEN_VISION_END,
    "internvl": INTERNVL_CONTEXT,
}

# ChatML, the layout Qwen2-VL and InternVL use; HF's messages format with content parts or a string.
_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '@IMAGE@' + '\\n' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>' + '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


def chat_template(arch: str) -> str:
    return _CHAT_TEMPLATE.replace("@IMAGE@", IMAGE_PLACEHOLDER[arch])


def _fallback_corpus() -> list[str]:
    """Question-and-answer text shaped like the embedded benchmark's, for when mmpo.synth is absent."""
    colors = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "gray"]
    shapes = ["circle", "square", "triangle", "bar", "cell", "shape", "number", "digit"]
    out = []
    for i in range(200):
        a, b, c = i % 10, (i * 7) % 10, (i * 3) % 10
        col, shp = colors[i % len(colors)], shapes[i % len(shapes)]
        out.append(f"How many {col} {shp}s are in the image? There are {a} {col} {shp}s. Final answer: {a}")
        out.append(f"What is the sum of the numbers in the image? The numbers are {a} , {b} , {c} . "
                   f"{a} + {b} = {a + b} . {a + b} + {c} = {a + b + c} . Final answer: {a + b + c}")
        out.append(f"Which bar is the tallest? The {col} bar has height {b}, which is the largest. "
                   f"The angle is {a * 10 + b} degrees. Final answer: ({'ABCD'[i % 4]})")
        out.append(f"Describe each cell . x x {a} x {b} x x {c}")
    return out


def _corpus() -> list[str]:
    from mmpo.data import prompts

    try:  # the benchmark's own text, when that module is present
        from mmpo.synth import corpus_texts
        texts = list(corpus_texts(400, 0))
    except ImportError:
        texts = _fallback_corpus()
    fixed = [prompts.COT_INSTRUCTION, prompts.BOXED_INSTRUCTION, prompts.DIRECT_FREE_FORM,
             prompts.DIRECT_MULTI_CHOICE, "Question:", "Choices:", "(A) (B) (C) (D) (E)",
             "user assistant system", "Final answer:", "step by step . , ? ! : ; ( ) + - * / = % ^"]
    # Repeated so every number 0-99 wins its merges, with and without a leading space.
    numbers = [" ".join(str(n) for n in range(100)), "".join(f"{n}," for n in range(100))]
    return texts + fixed * 20 + numbers * 50


@functools.lru_cache(maxsize=1)
def _trained_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok.to_str()


def build_tokenizer(arch: str) -> Any:
    """A transformers fast tokenizer for `arch` (special tokens named as its processor expects)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    extra: dict[str, str] = {}
    if arch == "llava":
        extra = {"image_token": LLAVA_IMAGE}
    elif arch == "qwen2_vl":
        extra = {"image_token": QWEN_IMAGE, "video_token": QWEN_VIDEO,
                 "vision_start_token": QWEN_VISION_START, "vision_end_token": QWEN_VISION_END}
    elif arch == "internvl":
        extra = {"start_image_token": INTERNVL_START, "end_image_token": INTERNVL_END,
                 "context_image_token": INTERNVL_CONTEXT, "video_token": INTERNVL_VIDEO}
    else:
        raise ValueError(f"unknown arch {arch!r}")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_json()),
        pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=None,
        extra_special_tokens=extra, padding_side="left", model_max_length=4096,
    )
    tok.chat_template = chat_template(arch)
    return tok
