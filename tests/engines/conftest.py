"""A real vLLM server (.venv-vllm, `make vllm`) serving tiny models, for the engine tests.

One server per model for the whole test run (start-up is about a minute on 2 cores). `make test` sets
MMPO_REQUIRE_VLLM=1, so a missing .venv-vllm fails there instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VLLM = ROOT / ".venv-vllm" / "bin" / "vllm"
# Eager mode: torch.compile would add minutes to every start-up on a CPU, and results do not change.
SERVE_ARGS = ["--enforce-eager", "--max-model-len", "2048"]


def vllm_or_skip() -> str:
    if VLLM.is_file() and os.access(VLLM, os.X_OK):
        return str(VLLM)
    if os.environ.get("MMPO_REQUIRE_VLLM") == "1":
        pytest.fail(f"{VLLM} is missing: run `make vllm`")
    pytest.skip("no .venv-vllm (make vllm)")


@pytest.fixture(scope="session")
def serve_args() -> list[str]:
    return list(SERVE_ARGS)


@pytest.fixture(scope="session")
def vllm_bin() -> str:
    return vllm_or_skip()


@pytest.fixture(scope="session")
def engine_data(tmp_path_factory):
    """12 synth questions with answers and their images (MathVista-schema JSONL)."""
    from mmpo.synth import write_benchmark

    out = tmp_path_factory.mktemp("engine-data")
    return write_benchmark(out, 12, seed=0, split_name="test")


@pytest.fixture(scope="session")
def served(vllm_bin, tmp_path_factory):
    """A tiny fp32 Qwen2-VL (32-dim heads, what vLLM's CPU kernels take) and a vLLM server serving it."""
    from _support import ENGINE_SHARED_SERVER_ARCH
    from mmpo.engines.server import VLLMServer
    from mmpo.models import save_tiny

    model = save_tiny(ENGINE_SHARED_SERVER_ARCH, "serve", tmp_path_factory.mktemp("serve"), seed=0)
    server = VLLMServer(model, executable=vllm_bin, extra_args=SERVE_ARGS,
                        log_path=tmp_path_factory.mktemp("vllm-log") / "server.log")
    server.start()
    yield model, server
    server.stop()
