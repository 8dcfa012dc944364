"""`mmpo train`: YAML + overrides, a checkpoint that load_model reads, a model card, clear errors."""

import json
from pathlib import Path

import pytest
import torch

from _mpo_data import write_pairs
from mmpo.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _train(model_dir, data, out, *extra):
    return main(["train", "--config", str(RECIPES / "tiny_cpu.yaml"), "--model_name_or_path", str(model_dir),
                 "--train_data", str(data), "--output_dir", str(out), "--max_steps", "2",
                 "--per_device_train_batch_size", "2", "--logging_steps", "1", "--disable_tqdm", "true", *extra])


def test_train_writes_a_checkpoint_that_load_model_reads(tiny_model_dir, tmp_path, capsys):
    from mmpo.models import load_model

    data = write_pairs(tmp_path / "d", n=4)
    out = tmp_path / "run"
    assert _train(tiny_model_dir("llava"), data, out, "--eval_data", str(data), "--learning_rate", "1e-3") == 0
    assert "wrote" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    logged = {k for h in state["log_history"] for k in h}
    for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                 "logps/chosen", "logps/rejected", "loss/pref", "loss/quality", "loss/gen", "bco/delta",
                 "eval_loss", "eval_rewards/margins"):
        assert name in logged, name
    assert json.loads((out / "mpo_state.json").read_text())["reward_shift"]["count"] == 2
    card = (out / "README.md").read_text()
    assert "0.8 x sigmoid + 0.2 x bco_pair + 1 x sft" in card and "rewards/margins" in card
    assert "learning_rate: 0.001" in card
    model, processor = load_model(out)  # no extra arguments
    base, _ = load_model(tiny_model_dir("llava"))
    assert processor.chat_template and any(
        not torch.equal(a, b) for a, b in zip(model.state_dict().values(), base.state_dict().values()))


def test_lora_run_is_merged_for_loading(tiny_model_dir, tmp_path):
    from mmpo.models import load_model

    data = write_pairs(tmp_path / "d", n=4)
    out = tmp_path / "lora"
    assert _train(tiny_model_dir("qwen2_vl"), data, out, "--use_lora", "true", "--lora_r", "4",
                  "--learning_rate", "1e-2") == 0
    assert (out / "adapter" / "adapter_config.json").is_file()
    model, _ = load_model(out)
    assert not any("lora" in k for k in model.state_dict())


@pytest.mark.parametrize("bad, message", [
    ('{"image": "images/0.png", "question": "Q", "chosen": "A",', "malformed JSON"),
    ('{"image": "images/nope.png", "question": "Q", "chosen": "A", "rejected": "B"}', "does not exist"),
    ('{"image": "images/0.png", "question": "Q", "chosen": "", "rejected": "B"}', "field 'chosen'"),
])
def test_bad_pairs_file_exits_2_naming_file_and_line(tiny_model_dir, tmp_path, capsys, bad, message):
    data = write_pairs(tmp_path / "d", n=3)
    lines = data.read_text().splitlines()
    lines.insert(1, bad)
    data.write_text("\n".join(lines) + "\n")
    assert _train(tiny_model_dir("llava"), data, tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert f"{data}:2" in err and message in err and "Traceback" not in err


def test_config_errors_exit_2_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("beta: 0.1\nlearning_rat: 1.0e-5\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "learning_rat" in capsys.readouterr().err
    assert main(["train", "--config", str(RECIPES / "tiny_cpu.yaml"), "--beta", "-1"]) == 2
    assert "field 'beta'" in capsys.readouterr().err
    bad.write_text("sft_normalization: tokens\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert f"{bad}, field 'sft_normalization'" in capsys.readouterr().err


def test_recipes_hold_the_paper_settings():
    from mmpo.train.run import parse_config

    paper = parse_config(str(RECIPES / "mpo_internvl2_8b.yaml"), ["--bf16", "false", "--use_cpu", "true"])
    assert (paper.learning_rate, paper.adam_beta1, paper.adam_beta2, paper.weight_decay) == (5e-6, 0.9, 0.999, 0.05)
    assert (paper.warmup_steps, str(paper.lr_scheduler_type.value), paper.num_train_epochs) == (0.05, "cosine", 1)
    assert paper.per_device_train_batch_size * paper.gradient_accumulation_steps * 8 == 256
    assert (paper.loss_type, paper.loss_weights, paper.beta) == (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0], 0.1)
    assert not paper.use_lora and not paper.freeze_vision_tower
    tiny = parse_config(str(RECIPES / "tiny_cpu.yaml"), [])
    assert tiny.use_cpu and tiny.loss_weights == [0.8, 0.2, 1.0]
