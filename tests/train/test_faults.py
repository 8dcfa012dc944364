"""`mmpo train` (and its neighbours) on the faults real runs meet: every one a one-line error naming
what to fix, before any model loads; reruns into a used folder resume or refuse."""

from __future__ import annotations

import errno
import shutil

import pytest

from _mpo_data import write_pairs
from mmpo.cli import main


def _train(model_dir, data, out, *extra):
    return ["train", "--model_name_or_path", str(model_dir), "--train_data", str(data), "--output_dir", str(out),
            "--max_steps", "2", "--per_device_train_batch_size", "2", "--use_cpu", "true", "--logging_steps", "1",
            "--disable_tqdm", "true", *extra]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    return err[-1]


@pytest.mark.parametrize("extra,field,message", [
    (["--learning_rate", "-1"], "learning_rate", "must be >= 0"),
    (["--learning_rate", "nan"], "learning_rate", "must be finite"),
    (["--per_device_train_batch_size", "0"], "per_device_train_batch_size", "must be >= 1"),
    (["--max_steps", "0"], "max_steps", "0 would still run one optimizer step"),
])
def test_bad_values_are_one_line_errors(tmp_path, capsys, extra, field, message):
    data = write_pairs(tmp_path / "d", n=2)
    assert main(_train(tmp_path / "no-model", data, tmp_path / "o", *extra)) == 2
    line = _error(capsys)
    assert line.startswith("mmpo train: error:") and f"field '{field}'" in line and message in line


def test_a_list_where_a_number_belongs_names_the_yaml_file(tmp_path, capsys):
    (tmp_path / "r.yaml").write_text("beta: [0.1, 0.2]\n")
    assert main(["train", "--config", str(tmp_path / "r.yaml"), "--output_dir", str(tmp_path / "o"),
                 "--use_cpu", "true"]) == 2
    line = _error(capsys)
    assert "r.yaml" in line and "field 'beta'" in line and "must be a number" in line


@pytest.mark.parametrize("where", ["file", "under_file", "unwritable"])
def test_bad_output_dirs_fail_before_the_model_loads(tmp_path, capsys, where):
    data = write_pairs(tmp_path / "d", n=2)
    (tmp_path / "f").write_text("x")
    out = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "run", "unwritable": "/proc/mmpo-run"}[where]
    assert main(_train(tmp_path / "no-model", data, out)) == 2
    line = _error(capsys)
    assert ("is a file, not a folder" in line) if where != "unwritable" else ("cannot write to /proc/mmpo-run" in line)


def test_rerun_into_a_used_folder_refuses_resumes_or_starts_over(tiny_model_dir, tmp_path, capsys):
    model, data, out = tiny_model_dir("llava"), write_pairs(tmp_path / "d", n=4), tmp_path / "run"
    saving = ("--save_strategy", "steps", "--save_steps", "1")
    assert main(_train(model, data, out, "--resume_from_checkpoint", "true")) == 2
    assert "nothing to resume" in _error(capsys)
    assert main(_train(model, data, out, *saving)) == 0
    assert main(_train(model, data, out, *saving)) == 2
    line = _error(capsys)
    assert "holds checkpoints (checkpoint-1, checkpoint-2)" in line and "--resume_from_checkpoint true" in line
    assert "--overwrite_output_dir true" in line
    assert main(_train(model, data, out, *saving, "--resume_from_checkpoint", "true")) == 0
    assert main(_train(model, data, out, *saving, "--overwrite_output_dir", "true")) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]


def test_a_truncated_weights_file_is_a_clear_error(tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir("llava"), model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    data = write_pairs(tmp_path / "d", n=2)
    assert main(_train(model, data, tmp_path / "o")) == 2
    line = _error(capsys)
    assert f"cannot load a vision-language model from {model}" in line


def test_a_full_disk_is_one_line(monkeypatch, tmp_path, capsys):
    import mmpo.train.run as run

    def full(cfg):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "model.safetensors"))

    monkeypatch.setattr(run, "run_training", full)
    assert main(_train(tmp_path / "m", write_pairs(tmp_path / "d", n=2), tmp_path / "o")) == 1
    assert _error(capsys) == f"mmpo train: error: No space left on device ({tmp_path / 'o' / 'model.safetensors'})"


def test_eval_and_sample_pass_trust_remote_code(monkeypatch, tmp_path):
    import mmpo.models

    seen = []

    def fake_load(path, **kw):
        seen.append(kw.get("trust_remote_code"))
        raise SystemExit(0)  # stop right there: the flag is what this test checks

    def fake_processor(path, **kw):  # the processor is read first, to check images before the model loads
        seen.append(("processor", kw.get("trust_remote_code")))
        return object()

    import mmpo.models.load

    monkeypatch.setattr(mmpo.models, "load_model", fake_load)
    monkeypatch.setattr(mmpo.models.load, "load_processor", fake_processor)
    from mmpo.synth import write_benchmark

    data = write_benchmark(tmp_path / "b", 2, seed=0, families=["digits"])
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "tokenizer.json").write_text("{}")
    for cmd in (["eval", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "e")],
                ["sample", "--model", str(model), "--data", str(data), "--n", "1", "--out", str(tmp_path / "s.jsonl")]):
        with pytest.raises(SystemExit):
            main([*cmd, "--trust-remote-code", "--no-progress"])
    assert seen == [("processor", True), True, ("processor", True), True]


def test_an_output_that_is_an_input_and_all_zero_weights_are_refused(tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir("llava"), model)
    before = (model / "model.safetensors").read_bytes()
    data = write_pairs(tmp_path / "d", n=2)
    assert main(_train(model, data, model)) == 2
    line = _error(capsys)
    assert "field 'output_dir'" in line and "is also model_name_or_path" in line
    assert (model / "model.safetensors").read_bytes() == before  # the start model is untouched
    assert main(_train(model, data, data.parent)) == 2  # the pairs folder of a meta.json
    assert "is also train_data" in _error(capsys)
    assert main(_train(model, data, tmp_path / "o", "--loss_weights", "0", "0", "0")) == 2
    line = _error(capsys)
    assert "field 'loss_weights'" in line and "all zero" in line


def test_resuming_on_other_pairs_or_another_start_model_is_refused(tiny_model_dir, tmp_path, capsys):
    model, out = tiny_model_dir("llava"), tmp_path / "run"
    data, other = write_pairs(tmp_path / "d", n=4), write_pairs(tmp_path / "e", n=4, seed=1)
    saving = ("--save_strategy", "steps", "--save_steps", "1", "--max_steps", "1")
    assert main(_train(model, data, out, *saving)) == 0
    resume = ("--resume_from_checkpoint", "true", "--save_strategy", "steps", "--save_steps", "1")
    assert main(_train(model, other, out, *resume)) == 2
    line = _error(capsys)
    assert "field 'train_data'" in line and "was trained from other training pairs" in line
    assert "--resume_other_inputs true" in line
    other_model = tiny_model_dir("llava", seed=1)
    assert main(_train(other_model, data, out, *resume)) == 2
    assert "another start model" in _error(capsys)
    # The same pairs from a moved folder are the same pairs; the user may also insist.
    moved = tmp_path / "moved"
    shutil.copytree(data.parent, moved)
    assert main(_train(model, moved / data.name, out, *resume)) == 0
    assert main(_train(model, other, out, *resume, "--max_steps", "3", "--resume_other_inputs", "true")) == 0


def test_a_full_disk_while_saving_the_final_model_is_one_line(tiny_model_dir, monkeypatch, tmp_path, capsys):
    import transformers

    def full(self, *a, **k):
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
                           "message: \"No space left on device\" })")

    monkeypatch.setattr(transformers.Trainer, "save_model", full)
    out = tmp_path / "o"
    pairs = write_pairs(tmp_path / "d", n=2)
    assert main(_train(tiny_model_dir("llava"), pairs, out, "--save_strategy", "no")) == 2
    line = _error(capsys)
    assert line.startswith(f"mmpo train: error: could not write the trained model into {out}")
    assert "No space left on device" in line
    assert not (out / "trainer_state.json").exists()  # not mistaken for a finished run
    # A checkpoint that cannot be written: the same one line, naming the last complete checkpoint.
    assert main(_train(tiny_model_dir("llava"), pairs, out, "--save_strategy", "steps", "--save_steps", "1",
                       "--overwrite_output_dir", "true")) == 2
    line = _error(capsys)
    assert "could not write checkpoint-1" in line and "no complete checkpoint was written yet" in line
    assert not list(out.glob("checkpoint-*"))
