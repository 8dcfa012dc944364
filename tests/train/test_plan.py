"""`mmpo train --plan`: parameter counts from the config equal the built model's, the per-engine
formulas give the hand-computed bytes, and the shipped launch configs parse."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from mmpo.errors import InputError
from mmpo.train.plan import GIB, ModelShape, format_plan, memory_plan, model_shape, trainable_parameters

ROOT = Path(__file__).resolve().parents[2]


def _cfg(**kw):
    base = dict(use_lora=False, freeze_vision_tower=False, lora_r=16, lora_target_modules=["all-linear"],
                ref_model="copy", max_length=1000, preference_forward="shared_prefix",
                per_device_train_batch_size=1, gradient_checkpointing=False)
    return SimpleNamespace(**{**base, **kw})


@pytest.mark.parametrize("arch", ["llava", "qwen2_vl"])
def test_counts_equal_the_built_model(tiny_model_dir, tiny_model, arch):
    path = tiny_model_dir(arch)
    model, _ = tiny_model(arch)
    shape = model_shape(str(path))
    assert shape.total == sum(p.numel() for p in model.parameters())
    from mmpo.train.policy import vision_tower

    assert shape.vision == sum(p.numel() for p in vision_tower(model).parameters()) > 0
    assert trainable_parameters(shape, _cfg(freeze_vision_tower=True)) == shape.total - shape.vision


def test_lora_count_equals_peft(tiny_model_dir, tiny_model):
    from mmpo.train.policy import add_lora

    model, _ = tiny_model("llava")
    peft_model = add_lora(model, r=4, alpha=8, dropout=0.0, target_modules=["all-linear"], freeze_vision=True, seed=0)
    expected = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    shape = model_shape(str(tiny_model_dir("llava")))
    assert trainable_parameters(shape, _cfg(use_lora=True, lora_r=4, freeze_vision_tower=True)) == expected


def _shape(**kw):
    base = dict(name="M", total=1_000_000_000, vision=0, largest_layer=10_000_000, hidden=1000, layers=10,
                intermediate=4000, kv_dim=500, vocab=10_000)
    return ModelShape(**{**base, **kw})


def test_state_bytes_by_hand():
    P, L, n = 1_000_000_000, 10_000_000, 4
    plan = memory_plan(_shape(), _cfg(), gpus=n, gpu_memory_gb=80)
    rows = {r["engine"]: r for r in plan["rows"]}
    # DDP: fp32 weights 4P, gradients and the reducer's buckets 2 x 4P, AdamW 8P, reference copy 4P.
    assert rows["ddp"]["weights"] * GIB == pytest.approx(4 * P)
    assert rows["ddp"]["gradients"] * GIB == pytest.approx(8 * P)
    assert rows["ddp"]["optimizer"] * GIB == pytest.approx(8 * P)
    assert rows["ddp"]["reference"] * GIB == pytest.approx(4 * P)
    # FSDP2: the same sharded over n, plus two bf16 layers gathered (and one layer's fp32 gradient).
    assert rows["fsdp2"]["weights"] * GIB == pytest.approx(4 * P / n + 4 * L)
    assert rows["fsdp2"]["gradients"] * GIB == pytest.approx(4 * P / n + 4 * L)
    assert rows["fsdp2"]["optimizer"] * GIB == pytest.approx(8 * P / n)
    # ZeRO-2: bf16 weights whole, bf16 gradient partitions, fp32 master + moments partitioned.
    assert rows["zero2"]["weights"] * GIB == pytest.approx(2 * P)
    assert rows["zero2"]["optimizer"] * GIB == pytest.approx(12 * P / n)
    assert rows["zero3"]["weights"] * GIB == pytest.approx(2 * P / n + 4 * L)
    assert rows["zero3_offload"]["optimizer"] == 0 and rows["zero3_offload"]["host"] * GIB == pytest.approx(
        12 * P / n + 2 * P / n)
    # No reference model held when the reference is precomputed.
    pre = memory_plan(_shape(), _cfg(ref_model="precomputed"), gpus=n, gpu_memory_gb=80)
    assert all(r["reference"] == 0 for r in pre["rows"])


def test_activations_by_hand():
    # prompt 200 + 2 x 800 completion tokens; per token and layer 2 x (8h + 3kv + 4i) bytes.
    shape, cfg = _shape(), _cfg()
    plan = memory_plan(shape, cfg, gpus=1, gpu_memory_gb=80, prompt_tokens=200)
    per_layer = 2 * (8 * 1000 + 3 * 500 + 4 * 4000)
    logits = 1600 * 10_000 * 10
    assert plan["activations_gb"]["no_ckpt"] * GIB == pytest.approx((200 + 1600) * 10 * per_layer + logits)
    assert plan["activations_gb"]["ckpt"] * GIB == pytest.approx((200 + 1600) * (10 * 2 * 1000 + per_layer) + logits)
    plain = memory_plan(shape, _cfg(preference_forward="plain"), gpus=1, gpu_memory_gb=80, prompt_tokens=200)
    # Two full rows of 1000 tokens, the head over all 2000 positions.
    assert plain["activations_gb"]["no_ckpt"] * GIB == pytest.approx(2000 * 10 * per_layer + 2000 * 10_000 * 10)
    with pytest.raises(InputError, match="max_length"):
        memory_plan(shape, cfg, gpus=1, gpu_memory_gb=80, prompt_tokens=1000)


def test_fit_and_recommendation():
    big = _shape(total=8_000_000_000, largest_layer=200_000_000)
    plan = memory_plan(big, _cfg(gradient_checkpointing=True), gpus=8, gpu_memory_gb=80, prompt_tokens=200)
    rows = {r["engine"]: r for r in plan["rows"]}
    assert not rows["ddp"]["fits"] and rows["fsdp2"]["fits"] and plan["recommended"] == "fsdp2"
    one = memory_plan(big, _cfg(), gpus=1, gpu_memory_gb=24, prompt_tokens=200)
    # 8B on one 24 GiB GPU: even ZeRO-3 with offload keeps bf16 gradients and the reference (2 x 15 GiB).
    assert plan["usable_gb"] == pytest.approx(80 * 0.9 - 1) and one["recommended"] is None
    assert "nothing fits" in format_plan(one) and "fits first: fsdp2" in format_plan(plan)
    with pytest.raises(InputError, match="gpus"):
        memory_plan(big, _cfg(), gpus=0, gpu_memory_gb=80)


def test_cli_plans_the_paper_recipe(capsys):
    from mmpo.cli import main

    rc = main(["train", "--config", str(ROOT / "recipes/mpo_internvl2_8b.yaml"), "--model_name_or_path",
               str(ROOT / "recipes/models/internvl2-8b"), "--plan", "--gpus", "8", "--gpu-memory", "80",
               "--tiles", "7"])
    out = capsys.readouterr().out
    assert rc == 0 and "8.08B parameters" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().startswith(("ddp", "fsdp2"))}
    assert lines["ddp"][-1] == "no" and lines["fsdp2"][-1] == "yes"
    assert "recipes/accelerate/fsdp2.yaml" in out


def test_launch_configs_parse():
    from accelerate.commands.config.config_args import ClusterConfig

    for path in sorted((ROOT / "recipes/accelerate").glob("*.yaml")):
        config = ClusterConfig.from_yaml_file(str(path))
        assert config.num_processes == 8 and config.mixed_precision == "bf16", path
        if path.stem.startswith("zero"):
            ds_file = ROOT / config.deepspeed_config["deepspeed_config_file"]
            ds = json.loads(ds_file.read_text())
            stage = ds["zero_optimization"]["stage"]
            assert stage == int(path.stem[4]) and (("offload" in path.stem) == ("offload_optimizer" in
                                                                                   ds["zero_optimization"]))
        if path.stem == "fsdp2":
            assert config.fsdp_config["fsdp_version"] == 2
            assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


def test_policy_dtype():
    from mmpo.train.config import policy_dtype

    assert policy_dtype(_cfg(model_dtype="auto")) == "float32"
    assert policy_dtype(_cfg(model_dtype="auto", use_lora=True)) is None
    assert policy_dtype(_cfg(model_dtype="bfloat16")) == "bfloat16"
    from mmpo.train.run import parse_config

    with pytest.raises(InputError, match="model_dtype"):
        parse_config(None, ["--model_dtype", "int8", "--output_dir", "x", "--use_cpu", "true"])

