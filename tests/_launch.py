"""Running a test's worker script (one process, or torchrun's two) and failing with its stderr."""

import os
import subprocess


def run_worker(cmd, cwd, timeout: int = 900) -> None:
    # One thread per process: two gloo ranks on 2 cores, and the same numbers as the 1-process run.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
