"""Vision-language models: load any HF checkpoint on disk, or build tiny offline ones.

    from mmpo.models import load_model, build_tiny, save_tiny
    model, processor = load_model("models/tiny")

Torch and transformers are imported only when a function is called.
"""

from __future__ import annotations

from mmpo.models.load import load_model, load_processor
from mmpo.models.tiny import ARCHS, SIZES, build_tiny, num_parameters, save_tiny, tiny_config

__all__ = ["ARCHS", "SIZES", "build_tiny", "load_model", "load_processor", "num_parameters", "save_tiny",
           "tiny_config"]
