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

# Tokens of the families added later (LLaVA-NeXT and on), appended after the trained vocabulary
# in this order for all of them, so the first three families' tokenizers (and the shipped base
# model's) stay byte-identical and the later families share ids among themselves.
IDEFICS_FAKE, IDEFICS_GLOBAL, END_OF_UTTERANCE = "<fake_token_around_image>", "<global-img>", "<end_of_utterance>"
IDEFICS_TILES = [f"<row_{r}_col_{c}>" for r in range(1, 5) for c in range(1, 5)]
GEMMA_BOI, GEMMA_EOI, GEMMA_IMAGE = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
PIXTRAL_IMAGE, PIXTRAL_BREAK, PIXTRAL_END = "[IMG]", "[IMG_BREAK]", "[IMG_END]"
GLM_BOI, GLM_EOI, GLM_IMAGE, GLM_BOV, GLM_EOV, GLM_VIDEO = (
    "<|begin_of_image|>", "<|end_of_image|>", "<|image|>", "<|begin_of_video|>", "<|end_of_video|>", "<|video|>")
LATER_SPECIAL_TOKENS = [IDEFICS_FAKE, IDEFICS_GLOBAL, END_OF_UTTERANCE, *IDEFICS_TILES, GEMMA_BOI, GEMMA_EOI,
                        GEMMA_IMAGE, PIXTRAL_IMAGE, PIXTRAL_BREAK, PIXTRAL_END, GLM_BOI, GLM_EOI, GLM_IMAGE, GLM_BOV,
                        GLM_EOV, GLM_VIDEO]
FIRST_ARCHS = ("llava", "qwen2_vl", "internvl")
# Runs of newlines as whole tokens, for the Gemma families only (appended last, so no other id moves):
# Gemma's SentencePiece vocabulary has them, and vLLM's Gemma 3 and PaliGemma processors look them up by
# text (`vocab["\n"]` ... `vocab["\n\n\n\n"]`) to merge the newlines around image tokens as the
# tokenizer would; a byte-level vocabulary spells a newline "Ċ", so vLLM failed with KeyError: '\n'.
# Added tokens match longest first, so "\n\n\n" is one token here as there.
NEWLINE_TOKENS = ["\n", "\n\n", "\n\n\n", "\n\n\n\n"]
NEWLINE_ARCHS = ("gemma3", "paligemma")

_QWEN = QWEN_VISION_START + QWEN_IMAGE + QWEN_VISION_END
# What the user turn shows for one image, per arch; each processor expands it to the image's tokens.
IMAGE_PLACEHOLDER = {
    "llava": LLAVA_IMAGE, "llava_next": LLAVA_IMAGE, "llava_onevision": LLAVA_IMAGE,
    "qwen2_vl": _QWEN, "qwen2_5_vl": _QWEN, "qwen3_vl": _QWEN,
    "internvl": INTERNVL_CONTEXT,
    "idefics3": LLAVA_IMAGE, "smolvlm": LLAVA_IMAGE,
    "gemma3": GEMMA_BOI,
    "mistral3": PIXTRAL_IMAGE,
    "glm4v": GLM_BOI + GLM_IMAGE + GLM_EOI,
    "paligemma": LLAVA_IMAGE,
}
_QWEN_NAMES = {"image_token": QWEN_IMAGE, "video_token": QWEN_VIDEO, "vision_start_token": QWEN_VISION_START,
               "vision_end_token": QWEN_VISION_END}
_IDEFICS_NAMES = {"image_token": LLAVA_IMAGE, "fake_image_token": IDEFICS_FAKE, "global_image_token": IDEFICS_GLOBAL,
                  "end_of_utterance_token": END_OF_UTTERANCE}
# The named special tokens each arch's processor reads from its tokenizer (`tok.image_token`, ...).
NAMED_TOKENS = {
    "llava": {"image_token": LLAVA_IMAGE},
    "llava_next": {"image_token": LLAVA_IMAGE},
    "llava_onevision": {"image_token": LLAVA_IMAGE, "video_token": INTERNVL_VIDEO},
    "qwen2_vl": _QWEN_NAMES, "qwen2_5_vl": _QWEN_NAMES, "qwen3_vl": _QWEN_NAMES,
    "internvl": {"start_image_token": INTERNVL_START, "end_image_token": INTERNVL_END,
                 "context_image_token": INTERNVL_CONTEXT, "video_token": INTERNVL_VIDEO},
    "idefics3": _IDEFICS_NAMES,
    "smolvlm": {**_IDEFICS_NAMES, "video_token": INTERNVL_VIDEO},
    "gemma3": {"boi_token": GEMMA_BOI, "eoi_token": GEMMA_EOI, "image_token": GEMMA_IMAGE},
    "mistral3": {"image_token": PIXTRAL_IMAGE},
    "glm4v": {"image_token": GLM_IMAGE, "video_token": GLM_VIDEO},
    "paligemma": {"image_token": LLAVA_IMAGE},
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


def _corpus() -> list[str]:
    from mmpo.data import prompts
    from mmpo.synth import corpus_texts

    texts = list(corpus_texts(400, 0))  # the embedded benchmark's own text
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
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    if arch not in NAMED_TOKENS:
        raise ValueError(f"unknown arch {arch!r}")
    backend = Tokenizer.from_str(_trained_json())
    if arch not in FIRST_ARCHS:
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LATER_SPECIAL_TOKENS])
    if arch in NEWLINE_ARCHS:  # plain text, not special: decoding keeps them
        backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in NEWLINE_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=None,
        extra_special_tokens=dict(NAMED_TOKENS[arch]), padding_side="left", model_max_length=4096,
    )
    tok.chat_template = chat_template(arch)
    return tok
