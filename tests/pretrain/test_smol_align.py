"""The smol model's alignment stage (`mmpo.pretrain.smol_align`), on a tiny LLaVA: what trains, what is saved,
what loads, and the errors. The shipped weights on the real SmolLM2 are checked in test_models_smol.py."""

import json

import pytest
import torch
from safetensors.torch import load_file

from mmpo.errors import MMPOError
from mmpo.models import build_tiny
from mmpo.pretrain import smol_align as align
from mmpo.pretrain.smol_align import AlignConfig, apply_alignment, train_alignment

SMALL = AlignConfig(pool=64, vision_steps=3, vision_batch=4, lm_steps=2, lm_batch=2, warmup_steps=1)


def _vision_or_projector(name: str) -> bool:
    return name.removeprefix("model.").startswith(("vision_tower.", "multi_modal_projector."))


def test_alignment_trains_only_the_vision_side_and_saves_it(tmp_path):
    model, processor = build_tiny("llava", "unit", seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    train_alignment(SMALL, tmp_path, model=model, processor=processor)

    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(_vision_or_projector(n) for n in changed)  # the language model is frozen
    assert any("vision_tower" in n for n in changed) and any("multi_modal_projector" in n for n in changed)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # restored afterwards
    assert not model.training

    saved = load_file(str(tmp_path / align.WEIGHTS))
    assert set(saved) == {n for n in before if _vision_or_projector(n)}
    manifest = json.loads((tmp_path / align.MANIFEST).read_text())
    assert manifest["parameters"] == sum(t.numel() for t in saved.values())
    assert {e["stage"] for e in manifest["log_history"]} == {"vision", "lm"}
    assert manifest["config"]["vision_steps"] == 3

    # Loading into a fresh model reproduces the aligned one exactly.
    fresh, _ = build_tiny("llava", "unit", seed=1)
    assert apply_alignment(fresh, tmp_path)["config"]["lm_steps"] == 2
    for (n, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters()):
        if _vision_or_projector(n):
            assert torch.equal(p, q), n


def test_stage_one_targets_are_the_cells_own_tokens():
    _, processor = build_tiny("llava", "unit", seed=0)
    ids = align._cell_token_ids(processor.tokenizer)
    tok = processor.tokenizer
    assert tok.convert_ids_to_tokens(ids["7"]).lstrip("Ġ▁") == "7"
    first = next(enc[0] for enc in (tok(t, add_special_tokens=False)["input_ids"] for t in align.EMPTY_CELL)
                 if len(enc) == 1)
    assert ids["x"] == first  # an empty cell reads as a space (or "x" where a space is not one token)
    record = {"scene": {"family": "digits", "size": 32,
                        "glyphs": [{"char": "3", "cell": [0, 1]}, {"char": "9", "cell": [1, 0]}]}}
    assert align._cell_labels([record], ids) == [[ids["x"], ids["3"], ids["9"], ids["x"]]]


def test_apply_alignment_errors_name_the_file(tmp_path):
    model, processor = build_tiny("llava", "unit", seed=0)
    with pytest.raises(MMPOError, match=r"alignment\.safetensors: no alignment weights here"):
        apply_alignment(model, tmp_path)
    train_alignment(AlignConfig(pool=16, vision_steps=1, vision_batch=2, lm_steps=0), tmp_path,
                    model=model, processor=processor)
    other, _ = build_tiny("llava", "unit", seed=0, image_size=32)
    with pytest.raises(MMPOError, match="alignment.safetensors: .*(does not fit|has shape)"):
        apply_alignment(other, tmp_path)


def test_a_model_without_a_vision_tower_is_refused(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    lm = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2))
    with pytest.raises(MMPOError, match="no vision_tower"):
        train_alignment(SMALL, tmp_path, model=lm, processor=None)


def test_save_aligned_smol_trains_or_loads_the_alignment(tmp_path, monkeypatch):
    from mmpo.models import load_model
    from mmpo.models import smol as smol_module

    monkeypatch.setattr(smol_module, "build_smol",
                        lambda seed=0, image_size=64: (*build_tiny("llava", "unit", seed=seed), {}))
    monkeypatch.setattr(smol_module, "gguf_path", lambda: tmp_path)
    trained_dir, info = align.save_aligned_smol(tmp_path / "a", train=SMALL, folder=tmp_path / "al")
    assert info["alignment"]["vision_steps"] == SMALL.vision_steps
    loaded_dir, info = align.save_aligned_smol(tmp_path / "b", seed=1, folder=tmp_path / "al")
    assert info["alignment"]["vision_steps"] == SMALL.vision_steps
    trained, _ = load_model(trained_dir)
    loaded, _ = load_model(loaded_dir)
    same = {n: torch.equal(p, q) for (n, p), (_, q) in zip(trained.named_parameters(), loaded.named_parameters())}
    assert all(v for n, v in same.items() if _vision_or_projector(n))  # the vision side came from the folder
    assert not all(v for n, v in same.items() if not _vision_or_projector(n))  # the rest is seed 1's own
    with pytest.raises(MMPOError, match="needs a folder"):
        align.align_model(trained, None, train=SMALL)
