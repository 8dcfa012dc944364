"""PairCollator on batches that mix text-only, one-image and two-image pairs, and its image-token checks.

A mixed batch must give each pair the log-probs it gets alone (both preference forwards), and
those must equal the model's own forward on the pair's unpadded prompt + completion.
"""

from __future__ import annotations

import json

import pytest
import torch

from mmpo.data.pairs import Pair, load_pairs
from mmpo.errors import InputError
from mmpo.train.collate import PairCollator, batch_prompts
from mmpo.train.logps import MECHANISMS, preference_logps

MIXED_ARCHS = ["llava", "qwen2_vl", "internvl", "llava_next", "llava_onevision", "qwen2_5_vl", "qwen3_vl",
               "idefics3", "smolvlm", "gemma3", "mistral3", "glm4v"]


def write_mixed(folder, image_file) -> list[Pair]:
    """TRL-style rows: `images: []`, one image, two images (one of them mirrored, so they differ)."""
    from PIL import Image, ImageOps

    mirrored = folder / "mirrored.png"
    ImageOps.mirror(Image.open(image_file)).save(mirrored)
    rows = [
        {"prompt": "What is 7 + 5?", "images": [], "chosen": "7 + 5 = 12 . Final answer: 12",
         "rejected": "Final answer: 13"},
        {"prompt": "<image>\nHow many dark squares?", "images": [image_file.name],
         "chosen": "There are 4 dark squares . Final answer: 4", "rejected": "Final answer: 9 9"},
        {"prompt": "<image>\nFirst picture.\n<image>\nSecond picture. Are they the same?",
         "images": [image_file.name, mirrored.name], "chosen": "No , one is mirrored . Final answer: no",
         "rejected": "Yes"},
        {"prompt": "Sum of 2 and 3?", "images": [], "chosen": "Final answer: 5", "rejected": "It is 6 ."},
    ]
    path = folder / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_pairs(path).pairs


def _naive(model, one: dict, side: str) -> float:
    """The model's own forward on the unpadded prompt + completion of a one-pair batch."""
    prompt, comp = one["prompt_inputs"], one[f"{side}_ids"][0]
    ids = torch.cat([prompt["input_ids"][0], comp])[None]
    extra = {k: v for k, v in prompt.items() if k not in ("input_ids", "attention_mask")}
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in extra:
            extra[key] = torch.cat([extra[key][0], torch.zeros_like(comp)])[None]
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0]
    n = len(comp)
    return torch.log_softmax(logits[-n - 1:-1].float(), -1).gather(-1, comp[:, None]).sum().item()


@pytest.mark.parametrize("arch", MIXED_ARCHS)
def test_mixed_batch_equals_pairs_one_at_a_time(arch, tiny_model, tiny_image_file, tmp_path):
    model, processor = tiny_model(arch)
    pairs = write_mixed(tmp_path, tiny_image_file)
    collate = PairCollator(processor)
    singles = [collate([p]) for p in pairs]
    naive = [{side: _naive(model, one, side) for side in ("chosen", "rejected")} for one in singles]
    # Text-only first (it used to drop every image of the batch), then an image pair first.
    for order in ([0, 1, 2, 3], [2, 0, 1, 3]):
        batch = collate([pairs[i] for i in order])
        n_images = sum(len(pairs[i].images) for i in order)
        assert n_images == 3
        for mechanism in MECHANISMS:
            with torch.no_grad():
                out = preference_logps(model, batch, mechanism=mechanism)
                for row, i in enumerate(order):
                    alone = preference_logps(model, singles[i], mechanism=mechanism)
                    for side in ("chosen", "rejected"):
                        got = out[f"{side}_logps"][row].item()
                        assert got == pytest.approx(alone[f"{side}_logps"][0].item(), abs=1e-5), (mechanism, i, side)
                        assert got == pytest.approx(naive[i][side], abs=1e-4), (mechanism, i, side)


def test_images_stay_with_their_rows_whatever_comes_first(tiny_model, tiny_image_file, tmp_path):
    _, processor = tiny_model("llava")
    pairs = write_mixed(tmp_path, tiny_image_file)
    collate = PairCollator(processor)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    batch = collate([pairs[0], pairs[2], pairs[3]])
    inputs = batch["prompt_inputs"]
    assert inputs["pixel_values"].shape[0] == 2  # the two images of the middle pair, none for the others
    assert (inputs["input_ids"] == image_id).sum(1).tolist() == [0, 32, 0]


def test_prompt_major_inputs_get_zero_rows_for_text_only_prompts(tiny_model, tiny_image_file, tmp_path):
    _, processor = tiny_model("idefics3")
    pairs = write_mixed(tmp_path, tiny_image_file)
    inputs = PairCollator(processor)([pairs[0], pairs[1], pairs[2]])["prompt_inputs"]
    # 64x64 images: 2x2 tiles + the whole image = 5 tiles each; the two-image pair has 10.
    assert tuple(inputs["pixel_values"].shape) == (3, 10, 3, 32, 32)
    assert inputs["pixel_values"][0].abs().sum() == 0 and inputs["pixel_attention_mask"][0].sum() == 0
    assert inputs["pixel_attention_mask"][1, 5:].sum() == 0 and inputs["pixel_attention_mask"][1, :5].all()
    assert inputs["pixel_attention_mask"][2].all()


def test_batch_prompts_pads_tiles_and_pixels_to_the_largest():
    small = {"input_ids": torch.tensor([[5, 6]]), "pixel_values": torch.ones(1, 2, 3, 4, 4),
             "image_sizes": torch.tensor([[4, 4]])}
    large = {"input_ids": torch.tensor([[5, 6, 7]]), "pixel_values": torch.full((2, 3, 3, 4, 6), 2.0),
             "image_sizes": torch.tensor([[4, 6], [4, 6]])}
    out = batch_prompts([small, large], pad_id=0)
    assert out["input_ids"].tolist() == [[5, 6, 0], [5, 6, 7]]
    assert out["attention_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert tuple(out["pixel_values"].shape) == (3, 3, 3, 4, 6)
    assert out["pixel_values"][0, :2, :, :, :4].eq(1).all() and out["pixel_values"][0, 2:].eq(0).all()
    assert out["pixel_values"][0, :, :, :, 4:].eq(0).all() and out["pixel_values"][1:].eq(2).all()
    assert out["image_sizes"].tolist() == [[4, 4], [4, 6], [4, 6]]


def test_image_tokens_in_a_completion_are_an_error_naming_the_pair(tiny_model, tiny_image_file, tmp_path):
    _, processor = tiny_model("llava")
    path = tmp_path / "bad.jsonl"
    rows = [{"image": tiny_image_file.name, "question": "<image>\nHow many?", "chosen": "4", "rejected": "5"},
            {"image": tiny_image_file.name, "question": "<image>\nHow many?", "chosen": "Look: <image> 4",
             "rejected": "5"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_pairs(path).pairs
    with pytest.raises(InputError, match=r"bad.jsonl:2, field 'chosen': contains image token\(s\) \['<image>'\]"):
        PairCollator(processor)(pairs)


def test_placeholders_that_do_not_match_the_images_are_an_error(tiny_model, tiny_image_file):
    _, processor = tiny_model("qwen2_vl")
    two_slots = [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Hi"}]}]
    pair = Pair(two_slots, "a", "b", images=(str(tiny_image_file),), source="p.jsonl", line=3)
    with pytest.raises(InputError, match=r"p.jsonl:3, field 'images': the chat template laid out 2 image "
                                         r"placeholder\(s\) \(<\|image_pad\|>\) for the pair's 1 image\(s\)"):
        PairCollator(processor)([pair])
    no_slot = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    pair = Pair(no_slot, "a", "b", images=(str(tiny_image_file),), source="p.jsonl", line=4)
    with pytest.raises(InputError, match=r"p.jsonl:4, field 'images': the chat template laid out 0"):
        PairCollator(processor)([pair])


def test_a_processor_that_needs_an_image_gives_an_input_error(tiny_model, tmp_path):
    _, processor = tiny_model("paligemma")
    pair = Pair([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "a", "b", source="t.jsonl", line=2)
    with pytest.raises(InputError, match=r"t.jsonl:2, field 'images': the processor cannot encode the prompt with "
                                         r"its 0 image\(s\)"):
        PairCollator(processor)([pair])
