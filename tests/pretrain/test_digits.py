"""The base-model recipe, at reduced scale: a model trained from scratch learns to read the digits."""

from collections import Counter

import pytest

from mmpo.pretrain.digits import DigitsConfig, grid_accuracy, train_digits
from mmpo.pretrain.sft import SFTCollator, example
from mmpo.synth import generate_records


def test_examples_and_collator_label_only_the_target(tiny_model):
    model, processor = tiny_model("llava")
    rec = generate_records(1, 0, ["digits"], split="t")[0]
    user, target = example(rec, "cot")
    assert target.endswith(f"Final answer: {rec['answer']}") and "step by step" in user
    assert example(rec, "direct")[1] == rec["answer"]
    from mmpo.synth import render

    batch = SFTCollator(processor)([(user, target, render(rec))])
    labelled = batch["labels"][0][batch["labels"][0] != -100]
    decoded = processor.tokenizer.decode(labelled)
    assert decoded == target + processor.tokenizer.eos_token
    with pytest.raises(ValueError):
        example(rec, "poem")


@pytest.mark.slow
def test_from_scratch_perception_reads_clearly_above_chance(tmp_path):
    import torch

    torch.set_num_threads(2)
    cfg = DigitsConfig(pool=3000, perception_steps=320, mixed_steps=0, warmup_steps=20, batch_size=32)
    model, processor, log = train_digits(cfg, tmp_path / "base")
    assert (tmp_path / "base" / "model.safetensors").exists() and log
    test = generate_records(120, 5, ["digits"], split="probe")
    acc = grid_accuracy(model, processor, test)
    # Chance for a digit cell: always the most frequent digit.
    digits = Counter(g["char"] for r in test for g in r["scene"]["glyphs"])
    chance = max(digits.values()) / sum(digits.values())
    assert acc["digits"] > 2 * chance, (acc, chance)
