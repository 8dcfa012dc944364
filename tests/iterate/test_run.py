"""`mmpo iterate` on the shipped tiny base model: 2 rounds, killed at random moments and resumed,
end with the rounds.json of an uninterrupted run; a rerun with other settings is refused."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from mmpo.cli import main
from mmpo.pretrain.digits import shipped_base


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from mmpo.synth import write_benchmark

    folder = tmp_path_factory.mktemp("iterate-data")
    return (write_benchmark(folder, 8, seed=0, families=["digits"], split_name="train", progress=False),
            write_benchmark(folder, 6, seed=0, families=["digits"], split_name="test", progress=False))


def _args(data, out):
    train, test = data
    return ["iterate", "--model", str(shipped_base()), "--data", str(train), "--eval-data", str(test),
            "--rounds", "2", "--out", str(out), "--n", "4", "--temperature", "0.7", "--max-new-tokens", "40",
            "--sample-batch-size", "8", "--prompt-source", "mmpo", "--no-progress",
            "--train-set", "num_train_epochs=1", "--train-set", "per_device_train_batch_size=4",
            "--train-set", "learning_rate=1e-5", "--train-set", "use_cpu=true", "--train-set", "save_strategy=no",
            "--train-set", "ref_model=precomputed", "--train-set", "logging_steps=1"]


def _scores(out):
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    return [(r["round"], {m: v["accuracy"] for m, v in r["scores"]["modes"].items()}) for r in rounds]


def _predictions(out):
    return {p.relative_to(out).as_posix(): sorted(p.read_text().splitlines())
            for p in sorted(out.glob("round*/eval/predictions.jsonl"))}


@pytest.mark.slow
def test_two_rounds_killed_and_resumed_equal_an_uninterrupted_run(data, tmp_path):
    import torch

    torch.set_num_threads(1)
    ref = tmp_path / "ref"
    assert main(_args(data, ref)) == 0
    want = _scores(ref)
    assert [r for r, _ in want] == [0, 1, 2]

    out, rng = tmp_path / "run", random.Random(3)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p])
    cmd = [sys.executable, "-m", "mmpo.cli", *_args(data, out)]
    kills = 0
    # Each process is killed shortly after a point of progress it reaches (sampling round 1, training
    # round 1, sampling round 2): kills tied to progress, not to the clock, land on a fast machine too.
    for marker in (out / "round1" / "samples.jsonl", out / "round1" / "model", out / "round2" / "samples.jsonl"):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not marker.exists():
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert _scores(out) == want
    assert _predictions(out) == {k: v for k, v in _predictions(ref).items()}


def test_a_rerun_with_other_settings_is_refused(data, tmp_path, capsys):
    out = tmp_path / "it"
    out.mkdir()
    (out / ".iterate-settings.json").write_text(json.dumps({"n": 99}))
    assert main(_args(data, out)) == 2
    assert "holds rounds run with other settings" in capsys.readouterr().err
