"""Data parallelism: 2 CPU processes (torchrun, gloo) equal 1 process with the same global batch."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from _launch import run_worker
from _mpo_data import write_pairs

WORKER = Path(__file__).resolve().parents[1] / "_dist_worker.py"


@pytest.mark.slow
@pytest.mark.parametrize("arch,ref_model", [("qwen2_vl", "copy"), ("qwen2_vl", "precomputed"), ("llava", "copy")])
def test_two_processes_equal_one_with_the_same_global_batch(arch, ref_model, tiny_model_dir, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun is not None, "torchrun (installed with torch) not found next to the interpreter"
    model_dir = tiny_model_dir(arch)
    data = write_pairs(tmp_path / "d", n=12)
    # Default MPO settings: running-mean delta and step-wide SFT normalisation both span the ranks.
    run_worker([sys.executable, str(WORKER), str(model_dir), str(data), str(tmp_path / "one"), "4"], tmp_path)
    # The 2-process run with precomputed reference log-probs (split across ranks, summed) must
    # equal the 1-process run with a live reference copy.
    run_worker([torchrun, "--standalone", "--nproc_per_node", "2", str(WORKER), str(model_dir), str(data),
          str(tmp_path / "two"), "2", ref_model], tmp_path)
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert two["holds_reference"] == (ref_model == "copy")
    if ref_model == "precomputed":
        assert (tmp_path / "two" / "ref_logps" / "train.safetensors").is_file()
    assert len(one["logs"]) == len(two["logs"]) == 3
    assert one["logs"][-1]["rewards/margins"] != 0.0
    for a, b in zip(one["logs"], two["logs"]):
        for key in ("loss", "loss/pref", "loss/quality", "loss/gen", "rewards/chosen", "rewards/margins",
                    "logps/chosen", "bco/delta", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (a["step"], key)
    assert two["reward_shift"]["mean"] == pytest.approx(one["reward_shift"]["mean"], rel=1e-5)
    # The shared-prefix forward ran through the DDP wrapper's own forward call: no fallback.
    assert two["run_info"]["preference_forward"] == one["run_info"]["preference_forward"] == "shared_prefix"
    assert two["run_info"]["fallback_reasons"] == [] and two["run_info"]["engine"] == "ddp"
    assert (one["run_info"]["engine"], two["run_info"]["world_size"]) == ("none", 2)
    from safetensors.torch import load_file

    w1, w2 = load_file(str(tmp_path / "one" / "final.safetensors")), load_file(str(tmp_path / "two" / "final.safetensors"))
    assert w1.keys() == w2.keys()
    # Attention key biases get a zero gradient in exact arithmetic (softmax ignores a shift shared by
    # every key), so Adam turns their rounding noise into full-size steps: not comparable.
    off = {n: float((w2[n] - w1[n]).abs().max()) for n in w1 if not n.endswith("k_proj.bias")
           and not torch.allclose(w2[n], w1[n], rtol=1e-5, atol=1e-5)}
    assert not off, off
