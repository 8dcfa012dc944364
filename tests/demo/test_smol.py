"""`mmpo demo --backbone smol` end to end, with the shipped tiny warm-up model standing in for SmolLM2
(CI has no time for 135M parameters; a model that writes chains gives pairs): the alignment stage, LoRA
training through `mmpo train`, the reading check."""

import json

import pytest

from mmpo.demo import pipeline
from mmpo.demo.pipeline import DemoConfig, run_demo
from mmpo.demo.presets import SMOL_LORA
from mmpo.errors import MMPOError
from mmpo.pretrain.digits import shipped_base


@pytest.fixture
def tiny_smol(monkeypatch, tmp_path):
    from mmpo.models import load_model
    from mmpo.models import smol as smol_module

    def fake_build_smol(seed=0, *, image_size=64):
        model, processor = load_model(shipped_base(), dtype="float32")
        return model, processor, {"parameters": 0, "seconds": 0.0, "text_logits_max_diff": 0.0}

    monkeypatch.setattr(smol_module, "build_smol", fake_build_smol)
    monkeypatch.setattr(smol_module, "gguf_path", lambda: tmp_path)  # no package needed for the stand-in


@pytest.mark.slow
def test_smol_backbone_demo_aligns_trains_lora_and_reports(tmp_path, tiny_smol):
    import torch

    torch.set_num_threads(2)
    out = tmp_path / "demo"
    # One alignment step per stage (inside the learning-rate warm-up): the stand-in keeps
    # reading and writing chains, so sampling gives pairs whatever the thread count's rounding.
    cfg = DemoConfig.preset("tiny", backbone="smol", from_scratch=True, pretrain_scale=0.001, n_val=0,
                            sample={"n": 6}, training=SMOL_LORA, read_eval=6)
    results = run_demo(cfg, out)

    assert results["start_model"] == "aligned"
    assert set(results["models"]) == {"aligned", "mpo", "sft_chosen", "dpo"}
    # The alignment wrote only the vision tower and projector, and its log.
    manifest = json.loads((out / "models" / "alignment" / "alignment.json").read_text())
    assert {e["stage"] for e in manifest["log_history"]} == {"vision", "lm"}
    # Every variant trained a LoRA adapter and was saved merged.
    for name in ("mpo", "sft_chosen", "dpo"):
        assert (out / "models" / name / "adapter" / "adapter_config.json").is_file()
        assert (out / "models" / name / "config.json").is_file()
    reading = results["shuffled_images"]["reading"]
    assert reading["records"] == 6 and reading["prompt"] == "What numbers are in the image ?"
    assert 0.0 <= results["shuffled_images"]["reading_accuracy"] <= 1.0
    sel = results["settings"]["selection"]
    assert sel["chosen_lr"] == cfg.lrs[0] and "fixed" in sel["criterion"]
    assert not (out / "data" / "val.jsonl").exists()
    assert {"data", "aligned", "sample", "train", "evaluate", "report"} <= set(results["seconds"])
    summary = (out / "report" / "results.md").read_text()
    assert "aligned with shuffled images" in summary and "numbers read right when asked to list them" in summary


def test_unknown_backbone_and_selection_without_validation_are_clear_errors(tmp_path):
    with pytest.raises(MMPOError, match="backbone must be one of tiny, smol, got 'big'"):
        DemoConfig(backbone="big")
    cfg = DemoConfig.preset("tiny", lrs=(1e-5, 3e-5), n_val=0)
    with pytest.raises(MMPOError, match="needs a validation split"):
        pipeline._select_lr(cfg, None, tmp_path, [], {}, None)


def test_smol_presets_train_lora_at_one_fixed_learning_rate_with_room_for_chains():
    for name in ("smol", "smol_tiny"):
        cfg = DemoConfig.preset(name)
        assert cfg.backbone == "smol" and cfg.training.get("use_lora") is True and len(cfg.lrs) == 1
        assert cfg.sample["max_new_tokens"] >= 128 and cfg.eval["max_new_tokens"] >= 128
        assert cfg.eval["direct_max_new_tokens"] and cfg.read_eval > 0
    assert DemoConfig.preset("smol").n_test >= 500


def test_demo_command_maps_backbone_and_preset(monkeypatch, tmp_path):
    from mmpo.cli import main

    seen = []
    monkeypatch.setattr(pipeline, "run_demo", lambda cfg, out: seen.append(cfg))
    assert main(["demo", "--out", str(tmp_path), "--backbone", "smol"]) == 0
    assert main(["demo", "--out", str(tmp_path), "--backbone", "smol", "--preset", "tiny"]) == 0
    assert main(["demo", "--out", str(tmp_path), "--preset", "tiny"]) == 0
    assert [c.n_train for c in seen] == [DemoConfig.preset(p).n_train for p in ("smol", "smol_tiny", "tiny")]
    assert [c.backbone for c in seen] == ["smol", "smol", "tiny"]
    assert main(["demo", "--out", str(tmp_path), "--backbone", "smol", "--full"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--preset", "smol"]) == 2


def test_a_rerun_reuses_only_evaluations_of_the_same_weights(tmp_path, tiny_model_dir, monkeypatch):
    import dataclasses

    import mmpo.eval.generate as generation
    from mmpo.eval.options import EvalOptions
    from mmpo.eval.run import load_eval_records
    from mmpo.models import load_model
    from mmpo.synth import write_benchmark

    data = write_benchmark(tmp_path / "data", 4, seed=0, families=["digits"])
    records = load_eval_records(data)
    opts = EvalOptions(**DemoConfig.preset("tiny", eval={"max_new_tokens": 4}).eval)
    d0, d1 = tiny_model_dir("llava", seed=0), tiny_model_dir("llava", seed=1)
    m0 = load_model(d0)
    first = pipeline._evaluate(d0, records, tmp_path / "eval", opts, "m", data, loaded=m0)

    def no_generation(*a, **k):
        raise AssertionError("generated again although the evaluation was done")

    real = generation.greedy_generate
    monkeypatch.setattr(generation, "greedy_generate", no_generation)
    again = pipeline._evaluate(d0, records, tmp_path / "eval", opts, "m", data, loaded=m0)
    assert again.predictions == first.predictions

    # Other weights (or other settings) are evaluated afresh.
    monkeypatch.setattr(generation, "greedy_generate", real)
    pipeline._evaluate(d1, records, tmp_path / "eval", opts, "m", data)
    monkeypatch.setattr(generation, "greedy_generate", no_generation)
    with pytest.raises(AssertionError, match="generated again"):
        pipeline._evaluate(d0, records, tmp_path / "eval", opts, "m", data, loaded=m0)
    longer = dataclasses.replace(opts, max_new_tokens=5)
    with pytest.raises(AssertionError, match="generated again"):
        pipeline._evaluate(d1, records, tmp_path / "eval", longer, "m", data)
