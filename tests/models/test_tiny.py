"""Tiny offline models: build, forward + backward, generate, save/load round trip, image tokens."""

from __future__ import annotations

import pytest
import torch

from mmpo.data.chat import chat_prompt, encode, image_token_count
from mmpo.errors import MMPOError
from mmpo.models import ARCHS, build_tiny, load_model, num_parameters, save_tiny

# Image tokens for a 64x64 image, as each family module's docstring says (mmpo.models.tiny_*).
IMAGE_TOKENS_64 = {"llava": 16, "llava_next": 24, "llava_onevision": 24, "qwen2_vl": 16, "qwen2_5_vl": 16,
                   "qwen3_vl": 16, "internvl": 16, "idefics3": 20, "smolvlm": 20, "gemma3": 16, "mistral3": 16,
                   "glm4v": 16, "paligemma": 16}


def _batch(processor, image):
    texts = [chat_prompt(processor, "How many dark squares are there?"),
             chat_prompt(processor, "What is 7 + 5?", image=False)]
    return encode(processor, texts, [image, None])


@pytest.mark.parametrize("arch", ARCHS)
def test_unit_model_trains_generates_and_round_trips(arch, tiny_model_dir, tiny_image):
    path = tiny_model_dir(arch, "unit")
    model, processor = load_model(path)
    assert 100_000 < num_parameters(model) < 400_000
    batch = _batch(processor, tiny_image)

    # forward + backward on labels: a finite loss and gradients reaching the vision tower
    model.train()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    out = model(**batch, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    vision_grads = [p.grad for n, p in model.named_parameters() if ("vision" in n or "visual" in n) and p.grad is not None]
    assert vision_grads and any(g.abs().sum() > 0 for g in vision_grads)
    model.zero_grad()
    model.eval()

    gen = model.generate(**batch, max_new_tokens=4, do_sample=False)
    prompt_len = batch["input_ids"].shape[1]
    assert gen.shape[0] == 2 and prompt_len < gen.shape[1] <= prompt_len + 4
    assert torch.equal(gen[:, :prompt_len], batch["input_ids"])

    # the saved checkpoint gives the same logits as a freshly built model with the same seed
    fresh, fresh_proc = build_tiny(arch, "unit", seed=0)
    fresh_batch = _batch(fresh_proc, tiny_image)
    for key in batch:
        assert torch.equal(batch[key], fresh_batch[key]), key
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, fresh(**fresh_batch).logits, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_processor_gives_each_family_its_image_tokens(arch, tiny_model_dir, tiny_image):
    _, processor = load_model(tiny_model_dir(arch, "unit"))
    assert image_token_count(processor, tiny_image) == IMAGE_TOKENS_64[arch]
    if arch == "paligemma":
        return  # its processor needs an image in every prompt
    # a text-only prompt carries no image token
    ids = encode(processor, [chat_prompt(processor, "hi", image=False)])["input_ids"][0]
    assert int((ids == processor.tokenizer.convert_tokens_to_ids(processor.image_token)).sum()) == 0


def test_different_seeds_give_different_weights():
    a, _ = build_tiny("llava", "unit", seed=0)
    b, _ = build_tiny("llava", "unit", seed=1)
    name, pa = next(iter(a.named_parameters()))
    assert not torch.equal(pa, dict(b.named_parameters())[name])


def test_chat_template_layout(tiny_model_dir):
    _, processor = load_model(tiny_model_dir("llava", "unit"))
    text = chat_prompt(processor, "What is 3 + 4?")
    assert text == "<|im_start|>user\n<image>\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"
    assert chat_prompt(processor, "x", image=False) == "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"


def test_load_model_errors(tmp_path):
    with pytest.raises(MMPOError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(MMPOError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MMPOError, match="no processor"):
        load_model(tmp_path)


def test_save_tiny_rejects_unknown_arch_and_size(tmp_path):
    with pytest.raises(MMPOError, match="unknown arch"):
        save_tiny("gpt5", "unit", tmp_path)
    with pytest.raises(MMPOError, match="unknown size"):
        save_tiny("llava", "huge", tmp_path)
