"""ref_model: precomputed: the same training as a live reference, with no reference model, and an honest cache."""

import logging

import pytest
import torch

from _mpo_data import step_logs, train_args, write_pairs
from mmpo.data.pairs import load_pairs
from mmpo.train.collate import PairCollator, PairDataset, RefPair
from mmpo.train.reference import RefLogpsDataset
from mmpo.train.trainer import MPOTrainer

KEYS = ("loss", "loss/pref", "loss/quality", "loss/gen", "rewards/chosen", "rewards/rejected", "rewards/margins",
        "rewards/accuracies", "logps/chosen", "logps/rejected", "bco/delta", "grad_norm")


def _run(tiny_model, arch, data, out, resume=None, **kw):
    model, processor = tiny_model(arch)
    torch.manual_seed(0)  # LoRA's A matrices are drawn before the Trainer seeds anything
    trainer = MPOTrainer(model, train_args(out, **kw), train_dataset=PairDataset(load_pairs(data)),
                         eval_dataset=PairDataset(load_pairs(data)), processing_class=processor)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, step_logs(trainer.state.log_history), trainer.evaluate()


def _same(a, b, keys=KEYS):
    for x, y in zip(a, b, strict=True):
        for key in keys:
            assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-6), (x["step"], key)


def _modules(trainer):
    return [k for k, v in vars(trainer).items() if isinstance(v, torch.nn.Module)]


@pytest.mark.parametrize("arch", ["llava", "qwen2_vl"])
def test_precomputed_trains_as_the_copy_with_no_reference_model(arch, tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=12)
    copy, want, want_eval = _run(tiny_model, arch, data, tmp_path / "copy", max_steps=4, ref_model="copy")
    pre, got, got_eval = _run(tiny_model, arch, data, tmp_path / "pre", max_steps=4, ref_model="precomputed")
    assert copy.reference.model is not None and pre.reference.model is None
    assert sorted(_modules(pre)) == ["model", "model_wrapped"]  # only the policy is held
    assert pre.reference.mode == "precomputed"
    assert got[-1]["rewards/margins"] != 0.0
    _same(want, got)
    for key in ("eval_loss", "eval_rewards/margins", "eval_logps/chosen"):
        assert got_eval[key] == pytest.approx(want_eval[key], rel=1e-5, abs=1e-6), key
    assert (tmp_path / "pre" / "ref_logps" / "train.safetensors").is_file()
    assert (tmp_path / "pre" / "ref_logps" / "eval.safetensors").is_file()


def test_precomputed_with_accumulation_and_resume(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=16)
    kw = dict(max_steps=4, gradient_accumulation_steps=2, save_strategy="steps", save_steps=2)
    _, want, _ = _run(tiny_model, "llava", data, tmp_path / "copy", ref_model="copy", **kw)
    full, got, _ = _run(tiny_model, "llava", data, tmp_path / "pre", ref_model="precomputed", **kw)
    _same(want, got)
    # Resuming in the same folder reads the same cache and continues as the uninterrupted run.
    resumed, again, _ = _run(tiny_model, "llava", data, tmp_path / "pre", ref_model="precomputed",
                             resume=str(tmp_path / "pre" / "checkpoint-2"), **kw)
    # (log_history comes back from the checkpoint: steps 1-2 as saved, then 3-4 run again)
    assert [h["step"] for h in again] == [1, 2, 3, 4]
    _same(got[2:], again[2:])


def test_precomputed_with_lora_equals_adapter_disabled(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=8)
    kw = dict(max_steps=3, use_lora=True, lora_r=4)
    _, want, _ = _run(tiny_model, "qwen2_vl", data, tmp_path / "a", ref_model="adapter_disabled", **kw)
    pre, got, _ = _run(tiny_model, "qwen2_vl", data, tmp_path / "b", ref_model="precomputed", **kw)
    assert pre.reference.model is None and got[-1]["rewards/margins"] != 0.0
    _same(want, got)


def test_cache_is_reused_and_rebuilt_when_a_key_changes(tiny_model, tmp_path, caplog):
    data = write_pairs(tmp_path / "d", n=6)
    cache = tmp_path / "cache"

    def build(data_path, seed=0, **kw):
        model, processor = tiny_model("llava", seed=seed)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mmpo.train.reference"):
            trainer = MPOTrainer(model, train_args(tmp_path / "o", ref_model="precomputed", ref_cache_dir=str(cache),
                                                   **kw),
                                 train_dataset=PairDataset(load_pairs(data_path)), processing_class=processor)
            assert torch.isnan(trainer.train_dataset.values).all()  # filled when training begins
            trainer.fill_reference_logps()
        lines = [r.getMessage() for r in caplog.records if r.name == "mmpo.train.reference"]
        assert len(lines) == 1, lines
        return trainer, lines[0]

    first, line = build(data)
    assert "computing" in line and "no cache yet" in line
    stamp = (cache / "train.safetensors").stat().st_mtime_ns
    values = first.train_dataset.values.clone()
    assert torch.isfinite(values).all()

    second, line = build(data)
    assert "cache hit" in line
    assert (cache / "train.safetensors").stat().st_mtime_ns == stamp
    assert torch.equal(second.train_dataset.values, values)

    other = write_pairs(tmp_path / "d2", n=6, seed=1)
    _, line = build(other)
    assert "computing" in line and "data changed" in line
    _, line = build(other, seed=1)
    assert "computing" in line and "model changed" in line
    _, line = build(other, seed=1, max_length=60)
    assert "computing" in line and "settings changed" in line
    # and back to the first data and model: rebuilt, equal to the first values
    third, line = build(data)
    assert "computing" in line
    torch.testing.assert_close(third.train_dataset.values, values, rtol=0, atol=0)


def test_cached_values_are_the_reference_log_probs(tiny_model, tmp_path):
    from mmpo.train.logps import preference_logps

    data = write_pairs(tmp_path / "d", n=5)
    model, processor = tiny_model("qwen2_vl")
    trainer = MPOTrainer(model, train_args(tmp_path / "o", ref_model="precomputed"),
                         train_dataset=PairDataset(load_pairs(data)), processing_class=processor)
    trainer.fill_reference_logps()
    dataset = trainer.train_dataset
    assert isinstance(dataset, RefLogpsDataset) and len(dataset) == 5
    fresh, _ = tiny_model("qwen2_vl")
    pairs = load_pairs(data).pairs
    with torch.no_grad():
        want = preference_logps(fresh, PairCollator(processor)(pairs))
    torch.testing.assert_close(dataset.values[0], want["chosen_logps"], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(dataset.values[1], want["rejected_logps"], rtol=1e-6, atol=1e-5)
    # The collator carries each kept pair's index and values into the batch.
    batch = trainer.data_collator([dataset[3], dataset[1]])
    assert batch["pair_index"].tolist() == [3, 1]
    assert batch["ref_chosen_logps"].tolist() == [dataset.values[0, 3].item(), dataset.values[0, 1].item()]


def test_a_batch_without_cached_values_is_a_clear_error(tiny_model, tmp_path):
    from mmpo.errors import MMPOError

    data = write_pairs(tmp_path / "d", n=2)
    model, processor = tiny_model("llava")
    trainer = MPOTrainer(model, train_args(tmp_path / "o", ref_model="precomputed"),
                         train_dataset=PairDataset(load_pairs(data)), processing_class=processor)
    with pytest.raises(MMPOError, match="no reference log-probs"):
        trainer.evaluate(eval_dataset=PairDataset(load_pairs(data)))
    pair = load_pairs(data).pairs[0]
    with pytest.raises(MMPOError, match=r"pair\(s\) \[7\]"):
        trainer.data_collator([RefPair(pair, 7, float("nan"), float("nan"))])
