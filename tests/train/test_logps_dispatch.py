"""The plain preference forward equals log-probs computed by hand from one unpadded sequence."""

import pytest
import torch

from mmpo.data.pairs import parse_pair
from mmpo.train.collate import PairCollator
from mmpo.train.logps import preference_logps


def _pairs(image_file):
    rows = [{"image": image_file.name, "question": "<image>\nHow many squares?", "chosen": "There are 4 .",
             "rejected": "Final answer: 9 9 9 9 9 9"},
            {"image": image_file.name, "question": "Sum?", "chosen": "1 + 2 = 3 . Final answer: 3",
             "rejected": "3"}]
    return [parse_pair(r, image_root=image_file.parent, source="p", line=i) for i, r in enumerate(rows, 1)]


@pytest.mark.parametrize("mechanism", ["shared_prefix", "plain"])
@pytest.mark.parametrize("arch", ["llava", "qwen2_vl"])
def test_forward_matches_single_sequences(arch, mechanism, tiny_model, tiny_image_file):
    model, processor = tiny_model(arch)
    collate = PairCollator(processor)
    pairs = _pairs(tiny_image_file)
    out = preference_logps(model, collate(pairs), mechanism=mechanism)
    for i, pair in enumerate(pairs):
        one = collate([pair])
        prompt = one["prompt_inputs"]
        for side in ("chosen", "rejected"):
            comp = one[f"{side}_ids"][0]
            ids = torch.cat([prompt["input_ids"][0], comp])[None]
            extra = {k: v for k, v in prompt.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
            if "mm_token_type_ids" in prompt:
                extra["mm_token_type_ids"] = torch.cat([prompt["mm_token_type_ids"][0], torch.zeros_like(comp)])[None]
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0]
            n = len(comp)
            logp = torch.log_softmax(logits[-n - 1:-1].float(), -1).gather(-1, comp[:, None]).sum()
            assert out[f"{side}_logps"][i].item() == pytest.approx(logp.item(), rel=1e-5)
            assert out[f"{side}_tokens"][i].item() == n
