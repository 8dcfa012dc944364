"""MPOTrainer on tiny LLaVA / Qwen2-VL models: first-step value, delta, eval, resume, accumulation, LoRA."""

import json
import math

import pytest
import torch

from _mpo_data import step_logs, train_args, write_pairs
from mmpo.data.layout import MPO_STATE as STATE_FILE
from mmpo.data.pairs import load_pairs
from mmpo.train.collate import PairCollator, PairDataset
from mmpo.train.logps import preference_logps
from mmpo.train.losses import bco_pair_loss
from mmpo.train.trainer import MPOTrainer

LN2 = math.log(2.0)


def _trainer(tiny_model, arch, data, out, **kw):
    model, processor = tiny_model(arch)
    dataset = PairDataset(load_pairs(data))
    eval_dataset = PairDataset(load_pairs(data)) if kw.pop("with_eval", False) else None
    return MPOTrainer(model, train_args(out, **kw), train_dataset=dataset, eval_dataset=eval_dataset,
                      processing_class=processor)


@pytest.mark.parametrize("arch", ["llava", "qwen2_vl"])
def test_first_loss_is_0832_plus_nll(arch, tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=4)
    trainer = _trainer(tiny_model, arch, data, tmp_path / "o", per_device_train_batch_size=4, max_steps=1)
    # The NLL of the chosen answers per token, from the untrained model, computed apart from the trainer.
    model, processor = tiny_model(arch)
    with torch.no_grad():
        out = preference_logps(model, PairCollator(processor)(load_pairs(data).pairs))
    nll = -out["chosen_logps"].sum().item() / out["chosen_tokens"].sum().item()
    trainer.train()
    (log,) = step_logs(trainer.state.log_history)
    assert log["rewards/chosen"] == 0.0 and log["rewards/margins"] == 0.0 and log["bco/delta"] == 0.0
    assert log["loss/pref"] == pytest.approx(LN2, rel=1e-6)
    assert log["loss/quality"] == pytest.approx(2 * LN2, rel=1e-6)
    assert log["loss/gen"] == pytest.approx(nll, rel=1e-5)
    assert log["loss"] == pytest.approx(0.8317766166719343 + nll, rel=1e-5)


def test_delta_running_mean_by_hand_unchanged_by_eval(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=8)
    trainer = _trainer(tiny_model, "llava", data, tmp_path / "o", max_steps=4, with_eval=True)
    trainer.train()
    logs = step_logs(trainer.state.log_history)
    # Equal-size batches: the batch mean of cat(r_c, r_r) is the mean of the two logged means,
    # and delta after step k is the mean of those k batch means (the current batch included).
    batch_means = [(h["rewards/chosen"] + h["rewards/rejected"]) / 2 for h in logs]
    expected = [sum(batch_means[:k + 1]) / (k + 1) for k in range(len(logs))]
    assert [h["bco/delta"] for h in logs] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert expected[-1] != 0.0
    state = trainer.reward_shift.state_dict()
    assert state["count"] == 4 and state["mean"] == pytest.approx(expected[-1], rel=1e-5)

    metrics = trainer.evaluate()
    assert trainer.reward_shift.state_dict() == state  # eval never moves delta
    assert metrics["eval_bco/delta"] == pytest.approx(state["mean"])
    for key in ("eval_loss", "eval_rewards/margins", "eval_loss/pref", "eval_loss/quality", "eval_loss/gen"):
        assert math.isfinite(metrics[key])
    # and the quality term really uses that delta
    batch = PairCollator(trainer.processing_class)(load_pairs(data).pairs[:2])
    trainer.model.eval()
    with torch.no_grad():
        pol = preference_logps(trainer.model, batch)
        ref = preference_logps(trainer.reference.model, batch)
        trainer.compute_loss(trainer.model, batch)
    hc, hr = pol["chosen_logps"] - ref["chosen_logps"], pol["rejected_logps"] - ref["rejected_logps"]
    want = bco_pair_loss(hc, hr, 0.1, state["mean"]).mean().item()
    assert trainer._metrics["eval"]["loss/quality"][-1] == pytest.approx(want, rel=1e-5)


def test_resume_equals_uninterrupted(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=8)
    kw = dict(max_steps=4, save_strategy="steps", save_steps=2)
    full = _trainer(tiny_model, "llava", data, tmp_path / "full", **kw)
    full.train()
    ckpt = tmp_path / "full" / "checkpoint-2"
    saved = json.loads((ckpt / STATE_FILE).read_text())["reward_shift"]
    assert saved["count"] == 2 and saved["mean"] != 0.0

    resumed = _trainer(tiny_model, "llava", data, tmp_path / "resumed", **kw)
    resumed.train(resume_from_checkpoint=str(ckpt))
    want, got = step_logs(full.state.log_history)[2:], step_logs(resumed.state.log_history)[2:]
    assert [h["step"] for h in got] == [3, 4]
    for a, b in zip(want, got):
        for key in ("loss", "rewards/margins", "logps/chosen", "bco/delta", "loss/gen"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key
    assert resumed.reward_shift.state_dict() == pytest.approx(full.reward_shift.state_dict())


def _accumulation_run(tiny_model, data, out, batch, accum, norm):
    trainer = _trainer(tiny_model, "qwen2_vl", data, out, per_device_train_batch_size=batch,
                       gradient_accumulation_steps=accum, max_steps=2, bco_delta="none", sft_normalization=norm)
    trainer.train()
    return step_logs(trainer.state.log_history), trainer.model


def test_accumulation_1x8_equals_8x1(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=16)
    big, big_model = _accumulation_run(tiny_model, data, tmp_path / "a", 8, 1, "global")
    small, small_model = _accumulation_run(tiny_model, data, tmp_path / "b", 1, 8, "global")
    for a, b in zip(big, small):
        for key in ("loss", "loss/gen", "loss/pref", "rewards/margins", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
    # Adam divides by sqrt(v): a weight whose gradient is ~0 moves by up to lr on rounding noise,
    # so weights are compared to 1% of lr (1e-3); the losses above are the tight check.
    for p, q in zip(big_model.parameters(), small_model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-5)
    # TRL's per-micro-batch normalisation is not invariant when answer lengths differ.
    micro, _ = _accumulation_run(tiny_model, data, tmp_path / "c", 1, 8, "micro_batch")
    assert abs(micro[0]["loss/gen"] - big[0]["loss/gen"]) > 1e-3


def test_lora_trains_only_the_adapter_and_the_reference_is_the_base(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=4)
    base, processor = tiny_model("llava")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    trainer = MPOTrainer(base, train_args(tmp_path / "o", max_steps=2, use_lora=True, lora_r=4),
                         train_dataset=PairDataset(load_pairs(data)), processing_class=processor)
    assert trainer.reference.mode == "adapter_disabled"
    trainer.train()
    logs = step_logs(trainer.state.log_history)
    assert logs[0]["rewards/margins"] == 0.0 and logs[1]["rewards/margins"] != 0.0  # adapter starts at zero
    peft_model = trainer.model
    changed = {n for n, p in peft_model.named_parameters()
               if "lora_" in n and not torch.equal(p, torch.zeros_like(p))}
    assert changed and all(p.requires_grad == ("lora_" in n) for n, p in peft_model.named_parameters())
    for name, tensor in peft_model.get_base_model().state_dict().items():
        if "lora_" not in name:
            key = name.replace(".base_layer", "")
            assert torch.equal(tensor, before[key]), name
    # The reference (adapter off) equals a fresh copy of the start model; the policy does not.
    fresh, _ = tiny_model("llava")
    batch = PairCollator(processor)(load_pairs(data).pairs[:2])
    with torch.no_grad():
        ref = trainer.reference.logps(peft_model, batch)
        want = preference_logps(fresh, batch)
        pol = preference_logps(peft_model, batch)
    torch.testing.assert_close(ref["chosen_logps"], want["chosen_logps"], rtol=1e-6, atol=1e-5)
    assert not torch.allclose(pol["chosen_logps"], want["chosen_logps"])


def test_freeze_vision_tower_and_tr_dpo_sync(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=4)
    trainer = _trainer(tiny_model, "qwen2_vl", data, tmp_path / "o", max_steps=2, freeze_vision_tower=True,
                       ref_sync_steps=1, ref_sync_alpha=1.0)
    vision = {k: v.clone() for k, v in trainer.model.named_parameters() if k.startswith("model.visual.")}
    assert vision
    trainer.train()
    for k, p in trainer.model.named_parameters():
        if k in vision:
            assert torch.equal(p, vision[k]), k
    # alpha 1 copies the policy into the reference after every step: step 2 starts with rewards 0 again
    logs = step_logs(trainer.state.log_history)
    assert logs[1]["rewards/margins"] == pytest.approx(0.0, abs=1e-7)
    assert logs[1]["loss/pref"] == pytest.approx(LN2, rel=1e-6)


def test_skipped_prompts_are_counted_and_training_goes_on(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=4)
    model, processor = tiny_model("llava")
    pairs = load_pairs(data)
    prompt_len = int(PairCollator(processor)(pairs.pairs[:1])["prompt_inputs"]["attention_mask"].sum())
    # No room for any answer: every pair is skipped and counted; the step still runs (zero loss).
    trainer = MPOTrainer(model, train_args(tmp_path / "o", max_steps=2, max_length=prompt_len, on_error="skip"),
                         train_dataset=PairDataset(pairs), processing_class=processor)
    trainer.train()
    assert trainer.data_collator.stats["skipped_prompt_too_long"] == 4
    assert [h["loss"] for h in step_logs(trainer.state.log_history)] == [0.0, 0.0]


def test_lora_init_follows_the_seed(tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=4)

    def adapter(seed):
        model, processor = tiny_model("llava")
        torch.manual_seed(1234 + seed)  # the global state must not matter, only args.seed
        trainer = MPOTrainer(model, train_args(tmp_path / f"o{seed}", use_lora=True, lora_r=4, seed=seed % 2),
                             train_dataset=PairDataset(load_pairs(data)), processing_class=processor)
        return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_A" in n}

    a, b, c = adapter(0), adapter(2), adapter(1)
    assert a and all(torch.equal(a[n], b[n]) for n in a)
    assert any(not torch.equal(a[n], c[n]) for n in a)
