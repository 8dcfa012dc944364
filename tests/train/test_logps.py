"""The preference log-probs (`mmpo.train.logps`): the shared-prefix forward equals one-pair-at-a-time full forwards, values and gradients.

The reference is the most naive computation there is: for each pair and side, the model's own
`forward(...).logits` on the unpadded `prompt + completion`, log_softmax, gather, sum. The tiny
models are built from configs (random weights, 128-token vocab); prompts are random token ids
around the image placeholders, left-padded, completions of different lengths padded on either side.
"""

from __future__ import annotations

import logging

import pytest
import torch
import transformers

from mmpo.train import logps as logps_module
from mmpo.train.logps import (
    CHOSEN,
    PAD,
    PROMPT,
    REJECTED,
    _pack_shared_prefix,
    _shared_prefix_mask,
    plain_logps,
    shared_prefix_logps,
    token_logps,
    unsupported_reason,
)

VOCAB = 128
IMAGE, VIDEO, VSTART, VEND = VOCAB - 1, VOCAB - 2, VOCAB - 3, VOCAB - 4
TEXT = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0)
# Image tokens per image: LLaVA 32/8 squared patches; InternVL the same after a 0.5 pixel shuffle;
# Qwen2-VL a 4x4 patch grid merged 2x2.
IMAGE_TOKENS = {"llava": 16, "internvl": 4, "qwen2_vl": 4}
QWEN_PATCHES, QWEN_PATCH_DIM = 16, 3 * 2 * 4 * 4


def tiny(arch: str, attn: str = "sdpa") -> torch.nn.Module:
    if arch == "llava":
        config = transformers.LlavaConfig(
            vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64,
                               num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8),
            text_config=dict(model_type="llama", **TEXT), image_token_id=IMAGE, vision_feature_layer=-1)
        cls = transformers.LlavaForConditionalGeneration
    elif arch == "internvl":
        config = transformers.InternVLConfig(
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                               image_size=[32, 32], patch_size=[8, 8]),
            text_config=dict(model_type="qwen2", **TEXT), image_token_id=IMAGE, downsample_ratio=0.5)
        cls = transformers.InternVLForConditionalGeneration
    elif arch == "qwen2_vl":
        config = transformers.Qwen2VLConfig(
            vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=4, mlp_ratio=2, patch_size=4,
                               spatial_merge_size=2, temporal_patch_size=2),
            # head_dim 8: 4 rotary frequencies split over the temporal, height and width axes.
            text_config=dict(**TEXT, rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}),
            image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VSTART, vision_end_token_id=VEND)
        cls = transformers.Qwen2VLForConditionalGeneration
    else:
        raise ValueError(arch)
    config._attn_implementation = attn
    torch.manual_seed(0)
    return cls(config).eval()


def _pad(seqs: list[torch.Tensor], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        span = slice(width - len(s), width) if left else slice(0, len(s))
        ids[i, span], mask[i, span] = s, 1
    return ids, mask


def batch(arch: str, pairs: int = 3, seed: int = 0) -> dict:
    """Prompts (text, image, text) of different lengths, left-padded; chosen right-, rejected left-padded."""
    g = torch.Generator().manual_seed(seed)

    def text(n: int) -> torch.Tensor:
        return torch.randint(3, VOCAB - 8, (n,), generator=g)

    image = torch.full((IMAGE_TOKENS[arch],), IMAGE)
    if arch == "qwen2_vl":
        image = torch.cat([torch.tensor([VSTART]), image, torch.tensor([VEND])])
    prompts = [torch.cat([text(2 + i), image, text(3 + 2 * i)]) for i in range(pairs)]
    chosen = [text(4 + 3 * i) for i in range(pairs)]
    rejected = [text(6 - i) for i in range(pairs)]
    ids, mask = _pad(prompts, left=True)
    prompt_inputs = {"input_ids": ids, "attention_mask": mask}
    if arch == "qwen2_vl":
        prompt_inputs["pixel_values"] = torch.randn(pairs * QWEN_PATCHES, QWEN_PATCH_DIM, generator=g)
        prompt_inputs["image_grid_thw"] = torch.tensor([[1, 4, 4]] * pairs)
    else:
        prompt_inputs["pixel_values"] = torch.randn(pairs, 3, 32, 32, generator=g)
    chosen_ids, chosen_mask = _pad(chosen, left=False)
    rejected_ids, rejected_mask = _pad(rejected, left=True)
    return {"prompt_inputs": prompt_inputs, "chosen_ids": chosen_ids, "chosen_mask": chosen_mask,
            "rejected_ids": rejected_ids, "rejected_mask": rejected_mask,
            "raw": (prompts, chosen, rejected)}


def pixels_of(arch: str, prompt_inputs: dict, i: int) -> dict:
    if arch == "qwen2_vl":
        return {"pixel_values": prompt_inputs["pixel_values"][QWEN_PATCHES * i:QWEN_PATCHES * (i + 1)],
                "image_grid_thw": prompt_inputs["image_grid_thw"][i:i + 1]}
    return {"pixel_values": prompt_inputs["pixel_values"][i:i + 1]}


def naive_logps(model, arch: str, b: dict, rejected_prompt_inputs: dict | None = None) -> list[torch.Tensor]:
    prompts, chosen, rejected = b["raw"]
    sides = []
    for completions, inputs in ((chosen, b["prompt_inputs"]), (rejected, rejected_prompt_inputs or b["prompt_inputs"])):
        totals = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions)):
            ids = torch.cat([prompt, completion])[None]
            extra = {"mm_token_type_ids": (ids == IMAGE).int()} if arch == "qwen2_vl" else {}
            logps = model(input_ids=ids, **pixels_of(arch, inputs, i), **extra).logits[0].float().log_softmax(-1)
            totals.append(logps[len(prompt) - 1:-1].gather(-1, completion[:, None]).sum())
        sides.append(torch.stack(totals))
    return sides


def call(fn, model, b: dict, **kw) -> dict:
    return fn(model, prompt_inputs=b["prompt_inputs"], chosen_ids=b["chosen_ids"], chosen_mask=b["chosen_mask"],
              rejected_ids=b["rejected_ids"], rejected_mask=b["rejected_mask"], **kw)


def grads_of(model, chosen: torch.Tensor, rejected: torch.Tensor) -> dict[str, torch.Tensor]:
    # Distinct weights per pair and side, so a gradient routed to the wrong pair or side shows.
    weights = torch.tensor([0.7, -1.3, 0.4, 1.1, -0.6, 0.9])
    model.zero_grad()
    (weights[:3] @ chosen + weights[3:] @ rejected).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("arch", ["llava", "qwen2_vl", "internvl"])
def test_shared_prefix_and_plain_equal_naive_forward_values_and_gradients(arch, attn):
    model, b = tiny(arch, attn), batch(arch)
    ref_c, ref_r = naive_logps(model, arch, b)
    ref_grads = grads_of(model, ref_c, ref_r)
    assert len(ref_grads) > 10  # vision tower, projector, decoder and head all receive gradient

    for fn, mechanism in ((shared_prefix_logps, "shared_prefix"), (plain_logps, "plain")):
        out = call(fn, model, b)
        assert out["mechanism"] == mechanism
        assert out["chosen_tokens"].tolist() == [4, 7, 10] and out["rejected_tokens"].tolist() == [6, 5, 4]
        torch.testing.assert_close(out["chosen_logps"], ref_c.detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(out["rejected_logps"], ref_r.detach(), atol=1e-5, rtol=0)
        grads = grads_of(model, out["chosen_logps"], out["rejected_logps"])
        assert grads.keys() == ref_grads.keys()
        for name, g in grads.items():
            # Gradients reach ~20 in size; fp32 sums over a different reduction order differ by ~1e-6 there.
            torch.testing.assert_close(g, ref_grads[name], atol=1e-5, rtol=1e-5, msg=f"{mechanism} {name}")


def test_the_mask_is_what_makes_rejected_exact(monkeypatch):
    """Negative control: letting rejected see chosen moves its log-probs far beyond the tolerance."""
    model, b = tiny("llava"), batch("llava")
    _, ref_r = naive_logps(model, "llava", b)

    causal_allowed = logps_module._causal_allowed

    def leaky(segment):
        return causal_allowed(segment.masked_fill(segment == CHOSEN, PROMPT))

    monkeypatch.setattr(logps_module, "_causal_allowed", leaky)
    out = call(shared_prefix_logps, model, b)
    assert (out["rejected_logps"] - ref_r).abs().max() > 1e-3


def test_chunked_lm_head_gives_the_same_values_and_gradients():
    model, b = tiny("qwen2_vl"), batch("qwen2_vl")
    whole = call(shared_prefix_logps, model, b)
    whole_grads = grads_of(model, whole["chosen_logps"], whole["rejected_logps"])
    chunked = call(shared_prefix_logps, model, b, logits_chunk_size=4)
    torch.testing.assert_close(chunked["chosen_logps"], whole["chosen_logps"], atol=1e-6, rtol=0)
    torch.testing.assert_close(chunked["rejected_logps"], whole["rejected_logps"], atol=1e-6, rtol=0)
    for name, g in grads_of(model, chunked["chosen_logps"], chunked["rejected_logps"]).items():
        torch.testing.assert_close(g, whole_grads[name], atol=1e-6, rtol=0)


def test_token_logps_is_log_softmax_gather_in_fp32():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 11, bias=False).to(torch.bfloat16)
    hidden, targets = torch.randn(5, 8, dtype=torch.bfloat16), torch.tensor([0, 3, 10, 3, 7])
    expected = head(hidden).float().log_softmax(-1)[torch.arange(5), targets]
    for chunk in (None, 2):
        got = token_logps(head, hidden, targets, chunk)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_packed_layout_mask_and_reading_positions_by_hand():
    # Pair 0: prompt [5 6] chosen [7 8] rejected [9]; pair 1: prompt [5 6 4] (left-padded),
    # chosen [7], rejected [9 3] (left-padded).
    rows = _pack_shared_prefix(torch.tensor([[0, 5, 6], [5, 6, 4]]), torch.tensor([[0, 1, 1], [1, 1, 1]]),
                              torch.tensor([[7, 8], [7, 0]]), torch.tensor([[1, 1], [1, 0]]),
                              torch.tensor([[0, 9], [9, 3]]), torch.tensor([[0, 1], [1, 1]]), pad_id=0)
    P, C, R, X = PROMPT, CHOSEN, REJECTED, PAD
    assert rows.input_ids.tolist() == [[5, 6, 7, 8, 9, 0], [5, 6, 4, 7, 9, 3]]
    assert rows.segment.tolist() == [[P, P, C, C, R, X], [P, P, P, C, R, R]]
    assert rows.position_ids.tolist() == [[0, 1, 2, 3, 2, 0], [0, 1, 2, 3, 3, 4]]
    # Pair 0 chosen 7, 8 read at 1, 2; pair 1 chosen 7 at 2; pair 0 rejected 9 at the prompt's end (1);
    # pair 1 rejected 9 at the prompt's end (2), then 3 at 4 (the 9 before it).
    assert rows.read_row.tolist() == [0, 0, 1, 0, 1, 1]
    assert rows.read_col.tolist() == [1, 2, 2, 1, 2, 4]
    assert rows.target.tolist() == [7, 8, 7, 9, 9, 3]
    assert rows.slot.tolist() == [0, 0, 1, 2, 3, 3]
    allowed = (_shared_prefix_mask(rows.segment, torch.float32) == 0)[0, 0].int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 0, 0],
        [1, 1, 0, 0, 1, 0],  # rejected: the prompt and itself, never chosen
        [1, 1, 1, 1, 1, 0],  # padding query: causal over real keys, so the row is never empty
    ]


def test_unknown_architecture_falls_back_to_its_own_full_forward(caplog):
    config = transformers.LlamaConfig(**TEXT)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    b = batch("llava")
    prompts = [p[p != IMAGE] for p in b["raw"][0]]  # text-only prompts for a text-only model
    ids, mask = _pad(prompts, left=True)
    b["prompt_inputs"], b["raw"] = {"input_ids": ids, "attention_mask": mask}, (prompts, *b["raw"][1:])
    ref_c, ref_r = [], []
    for i, p in enumerate(prompts):
        for completion, acc in ((b["raw"][1][i], ref_c), (b["raw"][2][i], ref_r)):
            logps = model(input_ids=torch.cat([p, completion])[None]).logits[0].log_softmax(-1)
            acc.append(logps[len(p) - 1:-1].gather(-1, completion[:, None]).sum())
    logps_module._logged_reasons.clear()
    with caplog.at_level(logging.WARNING, logger="mmpo.train.logps"):
        out = call(shared_prefix_logps, model, b)
    assert out["mechanism"] == "plain"
    torch.testing.assert_close(out["chosen_logps"], torch.stack(ref_c).detach(), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["rejected_logps"], torch.stack(ref_r).detach(), atol=1e-5, rtol=0)
    assert len(caplog.records) == 1 and "architecture 'llama'" in caplog.records[0].getMessage()


def test_attention_that_ignores_custom_masks_is_refused():
    model, b = tiny("llava"), batch("llava")
    assert unsupported_reason(model, b["prompt_inputs"]) is None
    model.config.get_text_config()._attn_implementation = "flash_attention_2"
    assert "ignores custom attention masks" in unsupported_reason(model, b["prompt_inputs"])


@pytest.mark.parametrize("arch", ["llava", "internvl", "qwen2_vl"])
def test_the_engine_path_equals_the_head_path(arch, monkeypatch):
    """Under an engine the packed rows go through the model's own forward with a boolean logits_to_keep;
    values and gradients equal the base-model + LM-head path."""
    model, b = tiny(arch), batch(arch)
    head = call(shared_prefix_logps, model, b)
    head_grads = grads_of(model, head["chosen_logps"], head["rejected_logps"])
    monkeypatch.setattr(logps_module, "under_engine", lambda m: True)
    for fn in (shared_prefix_logps, plain_logps):
        own = call(fn, model, b)
        torch.testing.assert_close(own["chosen_logps"], head["chosen_logps"].detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(own["rejected_logps"], head["rejected_logps"].detach(), atol=1e-5, rtol=0)
        for name, g in grads_of(model, own["chosen_logps"], own["rejected_logps"]).items():
            torch.testing.assert_close(g, head_grads[name], atol=1e-5, rtol=1e-5, msg=f"{fn.__name__} {name}")
