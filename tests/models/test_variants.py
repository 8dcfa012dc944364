"""Tiny model variants and sizes: small models, LLaVA's towers, image sizes, variable Qwen2-VL grids."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from mmpo.data.chat import chat_prompt, encode, image_token_count
from mmpo.models import build_tiny, load_model, num_parameters


@pytest.mark.parametrize("arch", ["llava", "qwen2_vl", "internvl"])
def test_small_model_loads_and_runs_one_forward(arch, tiny_model_dir, tiny_image):
    model, processor = load_model(tiny_model_dir(arch, "small"))
    assert 1_500_000 < num_parameters(model) < 5_000_000
    batch = encode(processor, [chat_prompt(processor, "Describe each cell .")], [tiny_image])
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], len(processor.tokenizer))
    assert torch.isfinite(logits).all()


def test_small_llava_follows_the_demo_notes_shape(tiny_model_dir):
    cfg = json.loads((tiny_model_dir("llava", "small") / "config.json").read_text())
    assert cfg["vision_config"]["hidden_size"] == 128 and cfg["vision_config"]["patch_size"] == 16
    assert cfg["text_config"]["hidden_size"] == 192 and cfg["text_config"]["num_hidden_layers"] == 4
    assert cfg["vision_feature_layer"] == -1 and cfg["vision_feature_select_strategy"] == "default"


@pytest.mark.parametrize("options", [{"vision": "siglip"}, {"text": "qwen2"}])
def test_llava_variants_round_trip(options, tiny_model_dir, tiny_image):
    path = tiny_model_dir("llava", "unit", **options)
    model, processor = load_model(path)
    cfg = model.config
    if "vision" in options:
        assert cfg.vision_config.model_type == "siglip_vision_model"
    else:
        assert cfg.text_config.model_type == "qwen2"
    fresh, _ = build_tiny("llava", "unit", **options)
    batch = encode(processor, [chat_prompt(processor, "What is 3 + 4?")], [tiny_image])
    assert image_token_count(processor, tiny_image) == 16
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, fresh(**batch).logits, atol=1e-6)


def test_image_size_option_scales_image_tokens():
    _, processor = build_tiny("llava", "unit", image_size=256)
    assert image_token_count(processor, Image.new("RGB", (256, 256))) == 256


def test_qwen2_vl_keeps_each_images_own_grid(tiny_model, tiny_image):
    model, processor = tiny_model("qwen2_vl")
    wide = Image.new("RGB", (96, 64), (200, 30, 30))
    assert image_token_count(processor, wide) == 24  # (96/16) x (64/16)
    texts = [chat_prompt(processor, "Which is larger?")] * 2
    batch = encode(processor, texts, [tiny_image, wide])
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 12]]
    # left padding: the shorter prompt (fewer image tokens) is padded at the start
    assert batch["attention_mask"][0, :8].sum() == 0 and batch["attention_mask"][1].all()
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2


def test_config_overrides_apply_and_bad_keys_fail():
    from mmpo.errors import MMPOError

    model, _ = build_tiny("internvl", "unit", overrides={"text_config.num_hidden_layers": 1})
    assert model.config.text_config.num_hidden_layers == 1
    with pytest.raises(MMPOError, match="no field 'nope'"):
        build_tiny("internvl", "unit", overrides={"text_config.nope": 1})
