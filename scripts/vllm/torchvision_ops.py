"""Lets torchvision 0.28's Python part import next to the CPU build of torch (installed into .venv-vllm).

The trap: the torchvision wheels on PyPI are CUDA builds. Their C++ ops library links libtorch_cuda,
so next to torch 2.13.0+cpu it does not load; torchvision tolerates that, but its
`_meta_registrations` then registers a fake kernel for `torchvision::nms` and `torchvision::qnms`
unconditionally, which raises "operator torchvision::nms does not exist" and so breaks
`import torchvision`, every transformers image utility, and `import vllm`.

The fix: declare the schemas of those two operators (no kernels) just before torchvision is first
imported, so the registration succeeds. Nothing that vLLM or transformers run for mmpo calls them; a
call would fail loudly ("no kernel"), never compute something wrong. Everything else torchvision
offers in pure PyTorch (the transforms that the fast image and video processors use) works.

Installed as `mmpo_torchvision_ops.py` with a `.pth` line in .venv-vllm's site-packages, so it runs in
every process of that environment (vLLM's engine and worker processes too) and costs nothing until
torchvision is imported. Only on a torch without CUDA: with a CUDA torch the real ops load.
"""

import importlib.abc
import sys

_LIBRARY = None  # kept alive: a torch.library.Library drops its definitions when collected


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
            _declare()
        return None  # the normal finders import torchvision itself


def _declare():
    global _LIBRARY
    import torch

    if torch.version.cuda is not None:
        return
    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        try:
            _LIBRARY.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:  # already declared (the C++ library did load after all)
            pass


sys.meta_path.insert(0, _BeforeTorchvision())
