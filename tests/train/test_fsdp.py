"""FSDP2 on CPU: mmpo's forward, reference modes and loss under torch's `fully_shard` in 2 processes
equal 1 process, and the checkpoint gathered from the shards loads with `load_model` and equals the
unsharded run's weights (the Trainer's FSDP2 path needs GPUs: README)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from _launch import run_worker
from _mpo_data import write_pairs

WORKER = Path(__file__).resolve().parents[1] / "_fsdp_worker.py"


@pytest.mark.slow
@pytest.mark.parametrize("arch,ref_mode", [("llava", "copy"), ("qwen2_vl", "precomputed")])
def test_fully_shard_two_processes_equal_one(arch, ref_mode, tiny_model_dir, tmp_path):
    from mmpo.models import load_model

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    model_dir = tiny_model_dir(arch)
    data = write_pairs(tmp_path / "d", n=12)
    run_worker([sys.executable, str(WORKER), str(model_dir), str(data), str(tmp_path / "one"), ref_mode], tmp_path)
    run_worker([torchrun, "--standalone", "--nproc_per_node", "2", str(WORKER), str(model_dir), str(data),
          str(tmp_path / "two"), ref_mode], tmp_path)
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # Under FSDP2 the packed rows went through the sharded model's own forward: the shared prefix ran.
    assert {log["mechanism"] for log in one["logs"] + two["logs"]} == {"shared_prefix"}
    assert one["logs"][-1]["rewards/chosen"] != 0.0
    for a, b in zip(one["logs"], two["logs"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["rewards/chosen"] == pytest.approx(a["rewards/chosen"], rel=1e-4, abs=1e-7)
    unsharded, _ = load_model(tmp_path / "one" / "model")
    sharded, _ = load_model(tmp_path / "two" / "model")
    theirs = dict(sharded.named_parameters())
    off = {n: float((theirs[n] - p).abs().max().detach()) for n, p in unsharded.named_parameters()
           if not torch.allclose(theirs[n], p, rtol=1e-5, atol=1e-6)}
    assert not off, off
