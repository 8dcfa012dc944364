"""`mmpo sample` killed with SIGKILL at random points and rerun ends with an uninterrupted run's file."""

import os
import random
import signal
import subprocess
import sys
import time


def _cmd(model_dir, data, out):
    return [sys.executable, "-m", "mmpo.cli", "sample", "--model", str(model_dir), "--data", str(data),
            "--n", "3", "--out", str(out), "--seed", "7", "--max-new-tokens", "12", "--batch-size", "3",
            "--no-progress"]


def _lines(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_at_random_points_then_rerun_equals_uninterrupted(tmp_path, tiny_model_dir):
    from mmpo.answers import check_answer  # noqa: F401  (the real checker must exist)
    from mmpo.synth import write_benchmark

    data = write_benchmark(tmp_path / "data", n=30, seed=3)
    model_dir = tiny_model_dir("llava")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

    ref = tmp_path / "ref.jsonl"
    subprocess.run(_cmd(model_dir, data, ref), check=True, env=env, capture_output=True)
    total = _lines(ref)
    assert total == 30

    out = tmp_path / "crashy.jsonl"
    rng = random.Random(1)
    kills = 0
    for attempt in range(8):
        before = _lines(out)
        if before >= total - 6 or kills >= 4:
            break
        # Small steps, at least two batches (of 3) before the end, so the run is still busy when
        # the kill comes and there is room for several kills however fast the machine is.
        target = rng.randint(before + 1, min(before + 3, total - 6))
        proc = subprocess.Popen(_cmd(model_dir, data, out), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _lines(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))  # somewhere inside the next batch
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        if attempt == 1:
            # What a kill in the middle of a write leaves behind: half a line without its newline.
            with out.open("ab") as fh:
                fh.write(b'{"pid": "test-0000')
    assert kills >= 3  # a process still running when killed: a real interruption
    subprocess.run(_cmd(model_dir, data, out), check=True, env=env, capture_output=True)
    assert out.read_bytes().splitlines() == ref.read_bytes().splitlines()
