"""MPOConfig: the paper's defaults, YAML + command-line parsing, and errors that name the field."""

import pytest

from mmpo.errors import InputError
from mmpo.train.config import MPOConfig


def test_defaults_are_mpo(tmp_path):
    c = MPOConfig(output_dir=str(tmp_path))
    assert (c.loss_type, c.loss_weights, c.beta) == (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0], 0.1)
    assert (c.bco_delta, c.sft_normalization, c.resolved_ref_model) == ("running_mean", "global", "copy")
    assert c.remove_unused_columns is False and c.report_to in ("none", [], ["none"])
    # other loss lists get weight 1 each; LoRA makes the reference the adapter-disabled base
    assert MPOConfig(output_dir=str(tmp_path), loss_type=["ipo", "sft"]).loss_weights == [1.0, 1.0]
    assert MPOConfig(output_dir=str(tmp_path), use_lora=True).resolved_ref_model == "adapter_disabled"
    assert MPOConfig(output_dir=str(tmp_path), loss_type=["simpo"]).resolved_ref_model == "none"


def test_yaml_then_overrides(tmp_path):
    from transformers import HfArgumentParser

    (tmp_path / "r.yaml").write_text(f"output_dir: {tmp_path}\nbeta: 0.3\nloss_type: [sigmoid, sft]\n"
                                     "loss_weights: [1.0, 0.5]\n")
    parser = HfArgumentParser(MPOConfig)
    (c,) = parser.parse_yaml_file(str(tmp_path / "r.yaml"))
    assert (c.beta, c.loss_type, c.loss_weights) == (0.3, ["sigmoid", "sft"], [1.0, 0.5])
    (c,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--bco_delta", "none",
                                               "--loss_type", "sigmoid", "bco_pair", "sft"])
    assert c.bco_delta == "none" and c.loss_weights == [0.8, 0.2, 1.0]


@pytest.mark.parametrize("kw, field", [
    (dict(beta=0.0), "beta"),
    (dict(loss_type=["dpo"]), "loss_type"),
    (dict(loss_type=["sigmoid", "sigmoid"]), "loss_type"),
    (dict(loss_weights=[1.0]), "loss_weights"),
    (dict(loss_weights=[1.0, -1.0, 1.0]), "loss_weights"),
    (dict(bco_delta="ema"), "bco_delta"),
    (dict(sft_normalization="token"), "sft_normalization"),
    (dict(label_smoothing=0.5), "label_smoothing"),
    (dict(max_length=1), "max_length"),
    (dict(on_error="ignore"), "on_error"),
    (dict(ref_model="precomputed", ref_sync_steps=2), "ref_sync_steps"),
    (dict(train_sampling_strategy="batch_rebalance"), "train_sampling_strategy"),
    (dict(ref_model="adapter_disabled"), "ref_model"),
    (dict(ref_sync_steps=4, use_lora=True), "ref_sync_steps"),
    (dict(ref_sync_alpha=0.0), "ref_sync_alpha"),
    (dict(use_lora=True, lora_r=0), "lora_r"),
])
def test_errors_name_the_field(tmp_path, kw, field):
    with pytest.raises(InputError) as err:
        MPOConfig(output_dir=str(tmp_path), **kw)
    assert err.value.field == field and f"field '{field}'" in str(err.value)
