"""The shared-prefix forward on every family mmpo builds: values and gradients equal the model's own
forward, one pair and one side at a time (fp32, 1e-5), under eager and sdpa attention.

The pairs come from real files through PairCollator: text-only, one-image and two-image prompts in
one batch (PaliGemma, whose processor needs an image, gets image pairs only). The decoder's
query/key weights are scaled up so attention depends sharply on positions and masks; negative
controls then show that each family quirk reproduced in the packed rows (Gemma 3's bidirectional
image tokens and sliding windows, PaliGemma's bidirectional prefix, M-RoPE positions, Qwen3-VL's
deepstack) moves the log-probs far beyond the tolerance when it is left out.
"""

from __future__ import annotations

import json

import pytest
import torch

from mmpo.data.pairs import load_pairs
from mmpo.models import ARCHS, load_model
from mmpo.models.families import SHARED_PREFIX_TYPES
from mmpo.train import logps as logps_module
from mmpo.train.collate import PairCollator
from mmpo.train.logps import plain_logps, preference_logps, shared_prefix_logps

CLAIMED = [a for a in ARCHS if a in SHARED_PREFIX_TYPES]
WEIGHTS = torch.tensor([0.7, -1.3, 0.4, 1.1, -0.6, 0.9, 0.5, -0.8])


def _sharpen(model) -> None:
    text = getattr(model.model, "language_model", None) or model.model.text_model
    with torch.no_grad():
        for name, p in text.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.mul_(4.0)


def _pairs(folder, image_file, arch):
    from PIL import Image, ImageOps

    mirrored = folder / "mirrored.png"
    ImageOps.mirror(Image.open(image_file)).save(mirrored)
    # Short completions (1-2 tokens plus the end of turn): a sum of log-probs is then under 32
    # nats, where fp32 resolves 2e-6, so 1e-5 is a real tolerance and not a few rounding steps.
    rows = [
        {"prompt": "What is 7 + 5?", "images": [], "chosen": "12", "rejected": "1 3"},
        {"prompt": "<image>\nHow many dark squares?", "images": [image_file.name], "chosen": "4 .",
         "rejected": "9"},
        {"prompt": "<image>\nFirst.\n<image>\nSecond. Same?", "images": [image_file.name, mirrored.name],
         "chosen": "No", "rejected": "Yes ."},
        {"prompt": "<image>\nWhat is the sum of the numbers?", "images": [mirrored.name], "chosen": "3",
         "rejected": "3 3"},
    ]
    if arch == "paligemma":
        rows[0] = dict(rows[0], prompt="<image>\nWhat is 7 + 5?", images=[image_file.name])
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_pairs(path).pairs


def _naive(model, collate, pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair and side: the model's own forward on the unpadded prompt + completion."""
    paligemma = model.config.model_type == "paligemma"
    sides = {"chosen": [], "rejected": []}
    for pair in pairs:
        one = collate([pair])
        prompt = one["prompt_inputs"]
        for side in sides:
            comp = one[f"{side}_ids"][0]
            ids = torch.cat([prompt["input_ids"][0], comp])[None]
            extra = {k: v for k, v in prompt.items() if k not in ("input_ids", "attention_mask")}
            for key in ("mm_token_type_ids", "token_type_ids"):
                if key in extra:
                    kind = 1 if key == "token_type_ids" and paligemma else 0
                    extra[key] = torch.cat([extra[key][0], torch.full_like(comp, kind)])[None]
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0]
            n = len(comp)
            sides[side].append(torch.log_softmax(logits[-n - 1:-1].float(), -1).gather(-1, comp[:, None]).sum())
    return torch.stack(sides["chosen"]), torch.stack(sides["rejected"])


def _grads(model, chosen, rejected) -> dict[str, torch.Tensor]:
    model.zero_grad()
    (WEIGHTS[:4] @ chosen + WEIGHTS[4:] @ rejected).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _setup(arch, attn, tiny_model_dir, tiny_image_file, tmp_path):
    model, processor = load_model(tiny_model_dir(arch), attn_implementation=attn)
    _sharpen(model)
    collate = PairCollator(processor)
    pairs = _pairs(tmp_path, tiny_image_file, arch)
    return model, collate, pairs, collate(pairs)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("arch", CLAIMED)
def test_shared_prefix_equals_the_models_own_forward(arch, attn, tiny_model_dir, tiny_image_file, tmp_path):
    model, collate, pairs, batch = _setup(arch, attn, tiny_model_dir, tiny_image_file, tmp_path)
    ref_c, ref_r = _naive(model, collate, pairs)
    ref_grads = _grads(model, ref_c, ref_r)
    assert len(ref_grads) > 10 and any("vision" in n or "visual" in n for n in ref_grads)
    for fn, mechanism in ((shared_prefix_logps, "shared_prefix"), (plain_logps, "plain")):
        out = fn(model, **{k: batch[k] for k in ("prompt_inputs", "chosen_ids", "chosen_mask", "rejected_ids",
                                                 "rejected_mask")})
        assert out["mechanism"] == mechanism
        torch.testing.assert_close(out["chosen_logps"], ref_c.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(out["rejected_logps"], ref_r.detach(), atol=1e-5, rtol=0)
        grads = _grads(model, out["chosen_logps"], out["rejected_logps"])
        assert grads.keys() == ref_grads.keys()
        for name, g in grads.items():
            torch.testing.assert_close(g, ref_grads[name], atol=1e-5, rtol=1e-5, msg=f"{mechanism} {name}")


def _moved(model, batch, ref) -> float:
    with torch.no_grad():
        out = preference_logps(model, batch, mechanism="shared_prefix")
    assert out["mechanism"] == "shared_prefix"
    return max((out["chosen_logps"] - ref[0]).abs().max().item(), (out["rejected_logps"] - ref[1]).abs().max().item())


def _full_for_sliding(original):
    def masks(*args):
        out = original(*args)
        return {"full_attention": out["full_attention"], "sliding_attention": out["full_attention"]}
    return masks


def _one_axis_positions(hf, rows, prompt_inputs):
    return rows.position_ids[None].expand(3, -1, -1)


@pytest.mark.parametrize("arch, quirk", [
    ("gemma3", "bidirectional images"), ("gemma3", "sliding windows"), ("paligemma", "bidirectional prefix"),
    ("qwen2_5_vl", "M-RoPE"), ("qwen3_vl", "M-RoPE"), ("glm4v", "M-RoPE"),
])
def test_each_reproduced_quirk_matters(arch, quirk, tiny_model_dir, tiny_image_file, tmp_path, monkeypatch):
    model, collate, pairs, batch = _setup(arch, "sdpa", tiny_model_dir, tiny_image_file, tmp_path)
    with torch.no_grad():
        ref = _naive(model, collate, pairs)
    assert _moved(model, batch, ref) < 1e-5
    if quirk == "bidirectional images":
        monkeypatch.setattr(logps_module, "BIDIRECTIONAL_IMAGES", frozenset())
    elif quirk == "bidirectional prefix":
        monkeypatch.setattr(logps_module, "BIDIRECTIONAL_PREFIX", frozenset())
    elif quirk == "sliding windows":
        monkeypatch.setattr(logps_module, "_packed_mask", _full_for_sliding(logps_module._packed_mask))
    else:
        monkeypatch.setattr(logps_module, "_mrope_positions", _one_axis_positions)
    assert _moved(model, batch, ref) > 1e-3


def test_qwen3_vl_deepstack_features_are_live(tiny_model_dir, tiny_image_file, tmp_path, monkeypatch):
    """The equivalence above covers deepstack only if the tiny model's deepstack changes its outputs."""
    model, collate, pairs, batch = _setup("qwen3_vl", "sdpa", tiny_model_dir, tiny_image_file, tmp_path)
    with torch.no_grad():
        ref = _naive(model, collate, pairs)
        monkeypatch.setattr(type(model.model.language_model), "_deepstack_process",
                            lambda self, hidden, masks, embeds: hidden)
        without = _naive(model, collate, pairs)
    assert max((a - b).abs().max().item() for a, b in zip(ref, without)) > 1e-3


@pytest.mark.parametrize("arch, override, reason", [
    ("mistral3", {"text_config.sliding_window": 8}, "sliding-window layers would ignore the window"),
    ("gemma3", {"text_config.final_logit_softcapping": 30.0}, "transforms logits after the LM head"),
])
def test_variants_outside_the_claims_fall_back_with_a_reason(arch, override, reason, tiny_model, tiny_image_file,
                                                             tmp_path):
    """Mistral with sliding windows, Gemma with soft-capped logits (PaliGemma 2's text model, Gemma 2, has both)."""
    model, processor = tiny_model(arch, overrides=override)
    batch = PairCollator(processor)(_pairs(tmp_path, tiny_image_file, arch))
    assert reason in logps_module.unsupported_reason(model, batch["prompt_inputs"])
    assert preference_logps(model, batch)["mechanism"] == "plain"
