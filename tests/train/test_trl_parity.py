"""Parity with TRL's DPOTrainer running MPO's loss list (TRL is a test dependency only).

With bco_delta none, sft_normalization micro_batch and train_sampling_strategy random (TRL's batch
order; mmpo groups by length by default), mmpo computes what TRL 1.16 computes:
the same per-step loss, rewards and margins for 5 optimizer steps on the same tiny model, data
and seed (fp32, CPU).
"""

import json

import pytest
import trl  # noqa: E402  (the parity reference; a test dependency)

from _mpo_data import step_logs, train_args, write_pairs
from _support import TRL_BOTH_FORWARDS, TRL_SHARED_PREFIX_ONLY
from mmpo.data.pairs import load_pairs
from mmpo.train.collate import PairDataset
from mmpo.train.trainer import MPOTrainer

STEPS = 5
COMMON = dict(per_device_train_batch_size=2, max_steps=STEPS, logging_steps=1, learning_rate=1e-3,
              lr_scheduler_type="constant", save_strategy="no", use_cpu=True, disable_tqdm=True, seed=0,
              report_to="none")


def _trl_dataset(path):
    """The same pairs in TRL's conversational vision format."""
    import datasets
    from PIL import Image

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return datasets.Dataset.from_dict({
        "prompt": [[{"role": "user", "content": [{"type": "image"}, {"type": "text",
                                                  "text": r["question"].replace("<image>\n", "")}]}] for r in rows],
        "chosen": [[{"role": "assistant", "content": [{"type": "text", "text": r["chosen"]}]}] for r in rows],
        "rejected": [[{"role": "assistant", "content": [{"type": "text", "text": r["rejected"]}]}] for r in rows],
        "images": [[Image.open(path.parent / r["image"]).convert("RGB")] for r in rows],
    })


CASES = ([(a, f) for a in TRL_BOTH_FORWARDS for f in ("shared_prefix", "plain")]
         + [(a, "shared_prefix") for a in TRL_SHARED_PREFIX_ONLY])  # which and why: tests/_support.py


@pytest.mark.parametrize("arch, forward", CASES)
def test_mpo_matches_trl_dpo_with_mpo_loss_list(arch, forward, tiny_model, tmp_path):
    data = write_pairs(tmp_path / "d", n=12)

    model, processor = tiny_model(arch)
    # train_sampling_strategy random: TRL draws batches with Trainer's seeded random sampler, and
    # mmpo's default length grouping would put other pairs together.
    ours = MPOTrainer(model, train_args(tmp_path / "mmpo", bco_delta="none", sft_normalization="micro_batch",
                                        preference_forward=forward, train_sampling_strategy="random", **COMMON),
                      train_dataset=PairDataset(load_pairs(data)), processing_class=processor)
    ours.train()

    model, processor = tiny_model(arch)
    ref, _ = tiny_model(arch)
    # bf16 off: TRL turns it on by default, and parity is checked in fp32.
    config = trl.DPOConfig(output_dir=str(tmp_path / "trl"), loss_type=["sigmoid", "bco_pair", "sft"],
                           loss_weights=[0.8, 0.2, 1.0], beta=0.1, max_length=None, bf16=False, **COMMON)
    theirs = trl.DPOTrainer(model, ref_model=ref, args=config, train_dataset=_trl_dataset(data),
                            processing_class=processor)
    theirs.train()

    a, b = step_logs(ours.state.log_history), step_logs(theirs.state.log_history)
    assert len(a) == len(b) == STEPS
    assert a[-1]["rewards/margins"] != 0.0  # the run moved: rewards are compared, not just zeros
    for ours_step, trl_step in zip(a, b):
        for key in ("loss", "logps/chosen", "logps/rejected"):
            assert ours_step[key] == pytest.approx(trl_step[key], rel=1e-5), (ours_step["step"], key)
        # A reward is beta times a difference of two ~100-nat log-probs; 1e-5 relative on those
        # log-probs is ~1e-5 absolute on the reward.
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
            assert ours_step[key] == pytest.approx(trl_step[key], rel=1e-5, abs=1e-5), (ours_step["step"], key)
