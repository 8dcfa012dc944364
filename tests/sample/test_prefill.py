"""The shared-prefix sampler against the plain path: same next-token probabilities, same greedy output."""

import logging

import pytest
import torch

from mmpo.data.chat import chat_prompt, encode
from mmpo.models import ARCHS as ALL_ARCHS
from mmpo.models.families import PREFILL_REUSE_TYPES
from mmpo.sample.prefill import draw_samples, supports_prefill_reuse

ARCHS = [a for a in ALL_ARCHS if a in PREFILL_REUSE_TYPES]  # every claim has its test here
QUESTIONS = ["What is 2 + 3?", "How many dark squares are in the picture? Think step by step."]


def _sharpen(model):
    """Random tiny models attend almost uniformly and predict almost uniformly, so a position or
    cache mistake would move probabilities by less than 1e-5. Larger query/key and output weights
    make attention position-sensitive and predictions peaked, so such mistakes show."""
    text = getattr(model.model, "language_model", None) or model.model.text_model
    with torch.no_grad():
        for name, p in text.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                p.mul_(8.0)
        if model.get_output_embeddings().weight is model.get_input_embeddings().weight:
            # Gemma's tied head: untie it and sharpen less (its hidden states are larger).
            model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight * 3.0)
        else:
            model.get_output_embeddings().weight.mul_(20.0)
    return model


def _prompts(processor, image):
    # Different lengths, so the batch is left-padded.
    texts = [chat_prompt(processor, q) for q in QUESTIONS]
    from PIL import ImageOps

    return texts, [image, ImageOps.mirror(image)]


def _plain_probs(model, processor, text, image, tokens):
    """Next-token probabilities from one unpadded forward over prompt + tokens (no cache, no batch)."""
    enc = encode(processor, [text], [image])
    n_prompt = enc["input_ids"].shape[1]
    extra = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}
    ids = torch.cat([enc["input_ids"], torch.tensor([tokens], dtype=torch.long)], dim=1)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in extra:
            # Generated tokens are text (0), except in PaliGemma, where they are its causal suffix (1).
            kind = 1 if key == "token_type_ids" and model.config.model_type == "paligemma" else 0
            extra[key] = torch.cat([extra[key], torch.full((1, len(tokens)), kind, dtype=torch.long)], dim=1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **extra).logits[0]
    return torch.log_softmax(logits[n_prompt - 1: n_prompt + len(tokens)].float(), dim=-1)


@pytest.mark.parametrize("arch", ARCHS)
def test_step_probabilities_match_plain_forward(arch, tiny_model, tiny_image):
    model, processor = tiny_model(arch)
    _sharpen(model)
    assert supports_prefill_reuse(model)
    vocab = model.get_output_embeddings().weight.shape[0]
    # Many stop tokens, so rows end at different steps and leave the batch mid-way.
    model.generation_config.eos_token_id = [i for i in range(vocab) if i % 9 == 4]
    texts, images = _prompts(processor, tiny_image)
    outs = draw_samples(model, processor, texts, images, n=3, seeds=[5, 6], temperature=1.0, top_k=20,
                        max_new_tokens=14, return_logprobs=True)
    lengths = [len(c.tokens) for group in outs for c in group]
    assert len(set(lengths)) > 1, lengths  # rows really did stop at different times
    stops = set(model.generation_config.eos_token_id)
    for text, image, group in zip(texts, images, outs):
        for c in group:
            ref = _plain_probs(model, processor, text, image, c.tokens)
            assert c.logprobs.shape[0] == len(c.tokens) + (0 if c.truncated else 1)
            ref = ref[: c.logprobs.shape[0]]
            assert (c.logprobs.exp() - ref.exp()).abs().max().item() < 1e-5
            # Log-probabilities too: relative agreement also for unlikely tokens.
            assert (c.logprobs - ref).abs().max().item() < 1e-4
            assert c.truncated == (len(c.tokens) == 14)
            assert not stops & set(c.tokens)
            # Every drawn token is inside the top 20 of its step.
            for step, tok in enumerate(c.tokens):
                assert tok in torch.topk(c.logprobs[step], 20).indices.tolist()


@pytest.mark.parametrize("arch, quirk", [("gemma3", "bidirectional images"), ("paligemma", "bidirectional prefix"),
                                         ("qwen2_5_vl", "M-RoPE"), ("qwen3_vl", "M-RoPE"), ("glm4v", "M-RoPE")])
def test_each_reproduced_quirk_matters(arch, quirk, tiny_model, tiny_image, monkeypatch):
    """Negative controls: the prefill without the token types that make attention bidirectional,
    or with 1D positions for an M-RoPE model, moves the step log-probabilities far beyond 1e-4."""
    import mmpo.sample.prefill as sampling

    model, processor = tiny_model(arch)
    _sharpen(model)
    texts, images = _prompts(processor, tiny_image)

    def worst() -> float:  # the largest log-probability error over every step of every sample
        outs = draw_samples(model, processor, texts, images, n=2, seeds=[5, 6], temperature=1.0, top_k=20,
                            max_new_tokens=6, return_logprobs=True)
        return max((c.logprobs - _plain_probs(model, processor, t, im, c.tokens)[: c.logprobs.shape[0]])
                   .abs().max().item() for t, im, g in zip(texts, images, outs) for c in g)

    assert worst() < 1e-4
    if quirk == "M-RoPE":
        monkeypatch.setattr(sampling, "ROPE_MULTIMODAL", frozenset())
    else:
        def without_token_types(*args, **kw):
            batch = encode(*args, **kw)
            batch.pop("token_type_ids")
            return batch
        monkeypatch.setattr(sampling, "encode", without_token_types)
    assert worst() > 5e-3  # 50 times the tolerance (PaliGemma's is the smallest, ~1.6e-2)


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_equals_generate(arch, tiny_model, tiny_image):
    model, processor = tiny_model(arch)
    _sharpen(model)
    texts, images = _prompts(processor, tiny_image)
    ours = draw_samples(model, processor, texts, images, n=2, seeds=[0, 0], temperature=0, top_k=0,
                        max_new_tokens=12)
    for text, image, group in zip(texts, images, ours):
        enc = encode(processor, [text], [image])
        with torch.no_grad():
            ref = model.generate(**enc, do_sample=False, max_new_tokens=12)[0, enc["input_ids"].shape[1]:].tolist()
        eos = processor.tokenizer.eos_token_id
        ref = ref[: ref.index(eos)] if eos in ref else ref
        assert group[0].tokens == group[1].tokens == ref


def test_seeds_make_draws_reproducible_and_per_prompt(tiny_model, tiny_image):
    model, processor = tiny_model("llava")
    texts, images = _prompts(processor, tiny_image)
    kw = dict(n=4, temperature=1.0, top_k=0, max_new_tokens=8)
    a = draw_samples(model, processor, texts, images, seeds=[1, 2], **kw)
    b = draw_samples(model, processor, texts, images, seeds=[1, 2], **kw)
    c = draw_samples(model, processor, texts, images, seeds=[1, 3], **kw)
    toks = lambda outs: [[x.tokens for x in g] for g in outs]  # noqa: E731
    assert toks(a) == toks(b)
    assert toks(a)[0] == toks(c)[0] and toks(a)[1] != toks(c)[1]
    assert len({tuple(t) for t in toks(a)[0]}) > 1  # the n samples of one prompt differ


def test_unsupported_arch_falls_back_with_one_log_line(tiny_model, tiny_image, monkeypatch, caplog):
    import mmpo.sample.prefill as sampling

    model, processor = tiny_model("llava")
    monkeypatch.setattr(sampling, "PREFILL_REUSE_TYPES", set())
    texts, images = _prompts(processor, tiny_image)
    with caplog.at_level(logging.WARNING, logger="mmpo.sample.prefill"):
        outs = draw_samples(model, processor, texts, images, n=3, seeds=[1, 2], temperature=1.0, top_k=50,
                            max_new_tokens=6)
    assert len([r for r in caplog.records if "generate(num_return_sequences)" in r.message]) == 1
    assert [len(g) for g in outs] == [3, 3]
    assert all(len(c.tokens) <= 6 for g in outs for c in g)


def test_bad_arguments():
    with pytest.raises(ValueError, match="one seed per prompt"):
        draw_samples(None, None, ["a", "b"], None, n=1, seeds=[1], temperature=1.0, top_k=0, max_new_tokens=4)
