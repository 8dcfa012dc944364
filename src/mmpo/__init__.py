"""mmpo: Mixed Preference Optimization for vision-language models.

Stages (each a `mmpo` subcommand and a subpackage, talking through files on disk; docs/stages.md):
synth -> sample -> pairs -> train -> eval -> report, and `demo` for all of them.

    from mmpo import MPOConfig, MPOTrainer      # resolved on first use

Importing this package stays light: no torch, no transformers. Heavy engines are imported
inside the functions that need them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["MPOConfig", "MPOTrainer", "__version__"]

_LAZY = {"MPOConfig": "mmpo.train.config", "MPOTrainer": "mmpo.train.trainer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mmpo' has no attribute {name!r}")
