"""Kill `mmpo train` at random moments, and inside checkpoint saves, over many rounds; each rerun
resumes from the newest complete checkpoint, and the run ends with the per-step losses of an
uninterrupted run (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from _mpo_data import step_logs, write_pairs
from mmpo.train.checkpoints import STAGING, complete_checkpoints

STEPS = 6


def _cmd(model_dir, data, out, *extra):
    return [sys.executable, "-m", "mmpo.cli", "train", "--model_name_or_path", str(model_dir), "--train_data",
            str(data), "--output_dir", str(out), "--max_steps", str(STEPS), "--save_strategy", "steps",
            "--save_steps", "1", "--logging_steps", "1", "--per_device_train_batch_size", "2",
            "--learning_rate", "1e-3", "--lr_scheduler_type", "constant", "--use_cpu", "true", "--seed", "0",
            "--disable_tqdm", "true", "--dataloader_num_workers", "0", *extra]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")])
    return env


def _resume_args(out):
    if out.exists() and complete_checkpoints(out):
        return ("--resume_from_checkpoint", "true")
    return ("--overwrite_output_dir", "true")


def _losses(out):
    state = json.loads((out / "trainer_state.json").read_text())
    return [(h["step"], h["loss"], h["rewards/margins"], h["bco/delta"]) for h in step_logs(state["log_history"])]


@pytest.mark.slow
def test_kills_at_random_moments_and_inside_saves_then_resume_equals_uninterrupted(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llava")
    data = write_pairs(tmp_path / "d", n=12)
    ref = tmp_path / "ref"
    subprocess.run(_cmd(model_dir, data, ref), check=True, env=_env(), capture_output=True)
    want = _losses(ref)
    assert [s for s, *_ in want] == list(range(1, STEPS + 1))

    out, rng, kills, in_save = tmp_path / "run", random.Random(7), 0, 0
    for round_ in range(7):
        done = complete_checkpoints(out) if out.exists() else []
        if done and int(done[-1].name.rsplit("-", 1)[1]) >= STEPS - 1:
            break
        proc = subprocess.Popen(_cmd(model_dir, data, out, *_resume_args(out)), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = {c.name for c in done}
        # Wait until training runs (a save starts or a new checkpoint lands), then kill: at once on
        # even rounds (inside the save), after a random pause on odd ones (anywhere in a step).
        while proc.poll() is None:
            busy = (out / STAGING).is_dir() and any((out / STAGING).iterdir())
            new = {c.name for c in out.glob("checkpoint-*")} - seen if out.exists() else set()
            if busy or new:
                break
            time.sleep(0.005)
        if round_ % 2:
            time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            in_save += (out / STAGING).is_dir() and any((out / STAGING).iterdir())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        proc.stderr.close()
        # Whatever the moment, every checkpoint-N folder there is complete.
        for ckpt in out.glob("checkpoint-*"):
            assert ckpt in complete_checkpoints(out), f"{ckpt} is incomplete after a kill"
    final = subprocess.run(_cmd(model_dir, data, out, *_resume_args(out)), env=_env(), capture_output=True)
    assert final.returncode == 0, final.stderr.decode()[-3000:]
    assert kills >= 3 and in_save >= 1, (kills, in_save)
    got = _losses(out)
    assert [s for s, *_ in got] == [s for s, *_ in want]
    for (_, *a), (_, *b) in zip(want, got):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-7)
