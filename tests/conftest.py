"""Shared test fixtures. Tiny models are built once per test session and reused.

Fixtures (all offline, CPU, seconds):

- `tiny_model_dir(arch, size="unit", seed=0, **options) -> Path`: a saved tiny checkpoint
  (safetensors + processor) that `mmpo.models.load_model` reads. Built once per session per
  argument set; treat it as read-only (copy it before writing into it).
  arch: any of `mmpo.models.ARCHS` (transformers model_type names); size: "unit" (~0.2M params) |
  "small" (~2.5M);
  options: `image_size=64`, llava's `vision="clip"|"siglip"` / `text="llama"|"qwen2"`, `overrides={...}`.
- `tiny_model(arch, size="unit", **same) -> (model, processor)`: a fresh copy loaded from
  `tiny_model_dir` (eval mode, float32), free to train or modify.
- `tiny_image -> PIL.Image`: a deterministic 64x64 RGB image (gray cells with a few dark squares).
- `tiny_image_file -> Path`: the same image saved as PNG in the test's tmp_path.
- `one_thread` (autouse): every test runs with one torch thread; the CI machine has 2 shared
  cores, and one thread per process is several times faster there. A test may raise it.

Example:
    def test_sampling(tiny_model, tiny_image):
        model, processor = tiny_model("qwen2_vl")
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from mmpo.models import save_tiny

    built: dict[str, object] = {}

    def make(arch: str, size: str = "unit", seed: int = 0, **options):
        key = json.dumps([arch, size, seed, options], sort_keys=True)
        if key not in built:
            out = tmp_path_factory.mktemp(f"tiny-{arch}-{size}")
            built[key] = save_tiny(arch, size, out, seed=seed, **options)
        return built[key]

    return make


@pytest.fixture
def tiny_model(tiny_model_dir):
    from mmpo.models import load_model

    def make(arch: str, size: str = "unit", seed: int = 0, **options):
        return load_model(tiny_model_dir(arch, size, seed, **options))

    return make


def _pattern_image(size: int = 64):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), (128, 128, 128))
    draw = ImageDraw.Draw(img)
    cell = size // 4
    for i, (r, c) in enumerate([(0, 1), (1, 3), (2, 0), (3, 2)]):
        shade = 20 + 60 * i
        draw.rectangle([c * cell + 2, r * cell + 2, (c + 1) * cell - 3, (r + 1) * cell - 3], fill=(shade, 40, 200 - shade))
    return img


@pytest.fixture
def tiny_image():
    return _pattern_image()


@pytest.fixture
def tiny_image_file(tmp_path):
    path = tmp_path / "tiny.png"
    _pattern_image().save(path)
    return path
