"""The step-0 check passes on right set-ups and names the cause of each planted fault; non-finite
values stop (checkpoints intact) or are skipped and counted; collapse signals warn once."""

from __future__ import annotations

import json

import pytest
import torch

from _mpo_data import step_logs, train_args, write_pairs
from mmpo.data.pairs import load_pairs
from mmpo.train import reference as reference_module
from mmpo.train.checkpoints import complete_checkpoints
from mmpo.train.collate import PairDataset
from mmpo.train.guards import CollapseMonitor, NonFiniteError, Step0Error
from mmpo.train.trainer import MPOTrainer


def _trainer(model, processor, data, out, **kw):
    kw.setdefault("max_steps", 1)
    return MPOTrainer(model, train_args(out, **kw), train_dataset=PairDataset(load_pairs(data)),
                      processing_class=processor)


@pytest.mark.parametrize("ref_mode,lora", [("copy", False), ("precomputed", False), ("adapter_disabled", True)])
def test_step0_passes_on_a_right_set_up(tiny_model, tmp_path, ref_mode, lora):
    model, processor = tiny_model("llava")
    trainer = _trainer(model, processor, write_pairs(tmp_path / "d", n=4), tmp_path / "o", ref_model=ref_mode,
                       use_lora=lora)
    trainer.train()
    (first,) = step_logs(trainer.state.log_history)[:1]
    assert first["guard/step0_gap"] <= 1e-5 and first["rewards/chosen"] == pytest.approx(0.0, abs=1e-6)


def test_planted_fault_reference_is_not_the_start_model(tiny_model, tmp_path):
    model, processor = tiny_model("llava")
    other, _ = tiny_model("llava", seed=1)
    trainer = MPOTrainer(model, train_args(tmp_path / "o", max_steps=1, ref_model="copy"), ref_model=other,
                         train_dataset=PairDataset(load_pairs(write_pairs(tmp_path / "d", n=4))),
                         processing_class=processor)
    with pytest.raises(Step0Error, match="reference_not_start_model") as err:
        trainer.train()
    assert err.value.cause == "reference_not_start_model" and "weight" in str(err.value)


def test_planted_fault_dropout_on(tiny_model, tmp_path):
    model, processor = tiny_model("llava")
    for module in model.modules():
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.9
    trainer = _trainer(model, processor, write_pairs(tmp_path / "d", n=4), tmp_path / "o", disable_dropout=False)
    with pytest.raises(Step0Error) as err:
        trainer.train()
    assert err.value.cause == "dropout" and "disable_dropout: true" in str(err.value)


def test_planted_fault_reference_pass_tokenized_differently(tiny_model, tmp_path, monkeypatch):
    model, processor = tiny_model("llava")
    real = reference_module.compute_values

    def truncating(trainer, model, dataset, indices, desc):
        # The pass before training cuts completions to 3 tokens; training does not.
        old = trainer.data_collator.max_length
        prompt_len = trainer.data_collator.encode(dataset[0])["enc"]["input_ids"].shape[1]
        trainer.data_collator.max_length = prompt_len + 2  # every completion cut to 2 tokens
        try:
            return real(trainer, model, dataset, indices, desc)
        finally:
            trainer.data_collator.max_length = old

    monkeypatch.setattr(reference_module, "compute_values", truncating)
    trainer = _trainer(model, processor, write_pairs(tmp_path / "d", n=4), tmp_path / "o", ref_model="precomputed")
    with pytest.raises(Step0Error) as err:
        trainer.train()
    assert err.value.cause == "tokenization_mismatch" and "turned the pairs into other tokens" in str(err.value)


def test_planted_fault_stale_reference_cache(tiny_model, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    model, processor = tiny_model("llava")
    data = write_pairs(tmp_path / "d", n=4)
    cache = tmp_path / "cache"
    _trainer(model, processor, data, tmp_path / "o1", ref_model="precomputed", ref_cache_dir=str(cache)).train()
    path = cache / "train.safetensors"
    with safe_open(str(path), framework="pt") as f:  # keep the key, change the values: a stale file
        meta, chosen, rejected = f.metadata(), f.get_tensor("chosen"), f.get_tensor("rejected")
    save_file({"chosen": chosen - 5.0, "rejected": rejected}, str(path), metadata=meta)
    model, processor = tiny_model("llava")
    trainer = _trainer(model, processor, data, tmp_path / "o2", ref_model="precomputed", ref_cache_dir=str(cache))
    with pytest.raises(Step0Error) as err:
        trainer.train()
    assert err.value.cause == "stale_reference_cache" and str(path) in str(err.value)


def test_step0_check_can_be_switched_off(tiny_model, tmp_path):
    model, processor = tiny_model("llava")
    other, _ = tiny_model("llava", seed=1)
    trainer = MPOTrainer(model, train_args(tmp_path / "o", max_steps=1, ref_model="copy", step0_check=False),
                         ref_model=other, train_dataset=PairDataset(load_pairs(write_pairs(tmp_path / "d", n=4))),
                         processing_class=processor)
    trainer.train()
    assert abs(step_logs(trainer.state.log_history)[0]["rewards/chosen"]) > 1e-3


def _poison_at(monkeypatch, step_to_poison):
    import mmpo.train.trainer as trainer_module

    real = trainer_module.preference_logps
    calls = {"n": 0}

    def poisoned(model, inputs, **kw):
        out = real(model, inputs, **kw)
        if torch.is_grad_enabled():  # the policy forward of a training step
            calls["n"] += 1
            if calls["n"] == step_to_poison:
                out = dict(out, chosen_logps=out["chosen_logps"] * float("nan"))
        return out

    monkeypatch.setattr(trainer_module, "preference_logps", poisoned)


def test_a_nan_loss_stops_with_the_checkpoints_intact(tiny_model, tmp_path, monkeypatch):
    model, processor = tiny_model("llava")
    _poison_at(monkeypatch, 3)
    trainer = _trainer(model, processor, write_pairs(tmp_path / "d", n=8), tmp_path / "o", max_steps=4,
                       save_strategy="steps", save_steps=1)
    with pytest.raises(NonFiniteError, match=r"non-finite log-probs at step 3; training stopped, the last complete "
                                             r"checkpoint is .*checkpoint-2"):
        trainer.train()
    assert [p.name for p in complete_checkpoints(tmp_path / "o")] == ["checkpoint-1", "checkpoint-2"]
    assert not (tmp_path / "o" / "checkpoint-3").exists()


def test_a_nan_loss_is_skipped_and_counted(tiny_model, tmp_path, monkeypatch):
    model, processor = tiny_model("llava")
    _poison_at(monkeypatch, 2)
    trainer = _trainer(model, processor, write_pairs(tmp_path / "d", n=8), tmp_path / "o", max_steps=4,
                       on_nonfinite="skip")
    trainer.train()
    assert trainer.guard_counts["skipped_nonfinite"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert step_logs(trainer.state.log_history)[-1]["guard/skipped_nonfinite"] == 1.0
    trainer.save_mpo_state(str(tmp_path / "state"))
    assert json.loads((tmp_path / "state" / "mpo_state.json").read_text())["guards"] == {"skipped_nonfinite": 1}


def test_collapse_monitor_warns_once_per_signal(caplog):
    monitor = CollapseMonitor(window=4)

    class State:
        global_step = 0

    logs = [{"loss": 1.0, "logps/chosen": -10.0 - i, "rewards/margins": 0.1 * i, "rewards/accuracies": 0.5,
             "loss/gen": 1.0 + 0.1 * i} for i in range(8)]
    with caplog.at_level("WARNING", logger="mmpo.train.guards"):
        for i, entry in enumerate(logs):
            State.global_step = i + 1
            monitor.on_log(None, State, None, logs=entry)
    assert set(monitor.found) == {"likelihood_displacement", "reward_accuracy_stuck", "sft_rising"}
    assert monitor.found["likelihood_displacement"] == 4 and len(caplog.records) == 3
    calm = CollapseMonitor(window=4)
    for i in range(8):
        calm.on_log(None, State, None, logs={"loss": 1.0, "logps/chosen": -10.0 + (i % 2), "rewards/margins": 0.1,
                                             "rewards/accuracies": 0.8, "loss/gen": 1.0 - 0.01 * i})
    assert calm.found == {}
