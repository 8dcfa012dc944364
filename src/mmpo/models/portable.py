"""Checkpoints that vLLM loads as well as transformers: vision-tower weight names both accept.

    from mmpo.models.portable import make_portable, portability_problem
    make_portable("models/tiny-llava")          # after save_pretrained; rewrites the weights only if needed
    portability_problem("models/tiny-llava")    # None, or one line saying what vLLM would refuse

Why: transformers 5.x keeps CLIP and SigLIP vision models flat in memory (`vision_tower.embeddings...`)
and maps the older nested names (`vision_tower.vision_model.embeddings...`) onto them when loading, but
`save_pretrained` of a composite model (LLaVA, LLaVA-NeXT, LLaVA-OneVision, Gemma 3, PaliGemma) writes
the flat names. vLLM 0.32 keeps the nested module (`CLIPVisionModel.vision_model`,
`SiglipVisionModel.vision_model`) and its LLaVA and Gemma loaders rename only the `model.` prefixes, so
it stops with "There is no module or parameter named 'vision_tower.embeddings'". The nested names are
what every released LLaVA checkpoint uses and what transformers 5.24 reads back into the same model
(checked in tests/models/test_portable.py), so mmpo writes those.

Applied where mmpo saves a model: `mmpo.models.save_tiny`, `mmpo.models.smol.save_smol`,
`mmpo.pretrain.digits`, and `mmpo train`'s final save. Checkpoints written elsewhere can be rewritten
by calling `make_portable(DIR)`; `mmpo.engines.server.VLLMServer` refuses one that needs it, saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Vision models that transformers 5.x flattens and vLLM 0.32 nests under `vision_model.`.
_NESTED_VISION = {"clip_vision_model", "siglip_vision_model"}
_TOWER_PREFIXES = ("vision_tower.", "model.vision_tower.")
_INDEX = "model.safetensors.index.json"


def _config(model_dir: Path) -> dict:
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _rename(key: str) -> str:
    for prefix in _TOWER_PREFIXES:
        if key.startswith(prefix) and not key.startswith(prefix + "vision_model."):
            return prefix + "vision_model." + key[len(prefix):]
    return key


def _needs_nesting(model_dir: Path) -> bool:
    vision = _config(model_dir).get("vision_config") or {}
    return vision.get("model_type") in _NESTED_VISION


def _weight_files(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("*.safetensors"))


def _keys(path: Path) -> list[str]:
    """The tensor names of a safetensors file, from its header alone."""
    with path.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    return [k for k in header if k != "__metadata__"]


def portability_problem(model_dir: str | os.PathLike) -> str | None:
    """One line on why vLLM would not load this checkpoint's weights, or None."""
    model_dir = Path(model_dir)
    if not _needs_nesting(model_dir):
        return None
    for f in _weight_files(model_dir):
        flat = [k for k in _keys(f) if _rename(k) != k]
        if flat:
            return (f"{f} names its vision tower's weights as transformers 5.x saves them ({flat[0]}), which vLLM "
                    f"does not load; rewrite them with mmpo.models.portable.make_portable({str(model_dir)!r})")
    return None


def make_portable(model_dir: str | os.PathLike) -> list[str]:
    """Rewrite the weight files of a saved checkpoint with names vLLM and transformers both load.

    Only files holding a flat vision-tower name are rewritten (atomically: a temp file renamed over the
    old one), and the shard index is updated. Returns the files rewritten (none: nothing to do).
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    model_dir = Path(model_dir)
    if not _needs_nesting(model_dir):
        return []
    changed = []
    for f in _weight_files(model_dir):
        if all(_rename(k) == k for k in _keys(f)):
            continue
        with safe_open(str(f), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {_rename(k): fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no iter)
        tmp = f.with_name(f".{f.name}.{os.getpid()}.tmp")
        save_file(tensors, str(tmp), metadata={"format": "pt", **metadata})
        os.replace(tmp, f)
        changed.append(str(f))
    index = model_dir / _INDEX
    if changed and index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        data["weight_map"] = {_rename(k): v for k, v in data.get("weight_map", {}).items()}
        tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, index)
    return changed
