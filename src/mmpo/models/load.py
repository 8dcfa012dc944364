"""Load any Hugging Face vision-language checkpoint on disk: `load_model(path) -> (model, processor)`.

Models load through `AutoModelForImageTextToText`, processors through `AutoProcessor`. Without
torchvision, processors of video-capable models (Qwen2-VL, InternVL) cannot be built by
`AutoProcessor`; those are loaded as their image-only variant (see `mmpo.models.processors`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError

_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json",
                    "tokenizer.json")


def check_checkpoint_dir(path: str | Path) -> None:
    """Fail with a clear message unless `path` is a Hugging Face checkpoint folder with a processor."""
    path = Path(path)
    if not path.exists():
        raise MMPOError(f"model directory {path} does not exist")
    if not path.is_dir():
        raise MMPOError(f"model path {path} is not a directory")
    if not (path / "config.json").is_file():
        raise MMPOError(f"model directory {path} has no config.json (not a Hugging Face checkpoint)")
    if not any((path / name).is_file() for name in _PROCESSOR_FILES):
        raise MMPOError(f"model directory {path} has no processor (none of {', '.join(_PROCESSOR_FILES)})")


def _processor_class_name(path: Path) -> str | None:
    for name in ("processor_config.json", "preprocessor_config.json", "config.json"):
        f = path / name
        if f.is_file():
            try:
                found = json.loads(f.read_text(encoding="utf-8")).get("processor_class")
            except (json.JSONDecodeError, AttributeError):
                continue
            if found:
                return found
    return None


def load_processor(path: str | Path, *, trust_remote_code: bool = False, **kw) -> Any:
    from transformers import AutoProcessor

    from mmpo.models.processors import image_only_class, torchvision_available

    path = Path(path)
    fallback = image_only_class(_processor_class_name(path) or "")
    if fallback is not None and not torchvision_available():
        return fallback.from_pretrained(path, **kw)
    try:
        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code, **kw)
    except (OSError, ValueError, ImportError) as exc:
        if fallback is not None:
            # e.g. a checkpoint saved without a video processor config: images still work
            return fallback.from_pretrained(path, **kw)
        raise MMPOError(f"cannot load the processor from {path}: {exc}") from None


def load_model(path: str | Path, *, dtype: Any = None, device: Any = None, trust_remote_code: bool = False,
               attn_implementation: str | None = None, **kw) -> tuple[Any, Any]:
    """(model, processor) from a checkpoint directory; the model is in eval mode.

    `dtype`: a torch dtype or its name ("bfloat16"); default: the checkpoint's, else float32.
    `device`: where to put the model ("cpu", "cuda:0"); default: left on CPU.
    Extra keywords go to `from_pretrained` of the model.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    path = Path(path)
    check_checkpoint_dir(path)
    if isinstance(dtype, str) and dtype != "auto":
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise MMPOError(f"unknown dtype {dtype!r}")
        dtype = getattr(torch, dtype)
    options = dict(kw)
    options["dtype"] = "auto" if dtype is None else dtype
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            path, trust_remote_code=trust_remote_code, **options)
    except Exception as exc:  # a truncated safetensors file, a config from another library, remote code
        hint = (" (mmpo: pass --trust-remote-code, or trust_remote_code: true in a training config, for a "
                "checkpoint you trust)" if "trust_remote_code" in str(exc) else "")
        raise MMPOError(f"cannot load a vision-language model from {path}: {type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}{hint}") from None
    processor = load_processor(path, trust_remote_code=trust_remote_code)
    if device is not None:
        model.to(device)
    model.eval()
    return model, processor


def weights_digest(model_dir: str | Path) -> str:
    """sha256 over a checkpoint's weight files: what identifies the model an evaluation scored."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        h.update(f.name.encode())
        with f.open("rb") as fh:
            while block := fh.read(1 << 24):
                h.update(block)
    return h.hexdigest()


def context_length(model: Any) -> int | None:
    """The positions the model's language model was built for (`max_position_embeddings`), or None."""
    config = getattr(model, "config", None)
    if config is None:
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def capped_length(model: Any, max_new_tokens: int) -> int:
    """`max_new_tokens`, or the model's context length when it is shorter (said once per model)."""
    ctx = context_length(model)
    if ctx is None or max_new_tokens <= ctx:
        return max_new_tokens
    if getattr(model, "_mmpo_capped", None) != ctx:
        print(f"mmpo: --max-new-tokens {max_new_tokens} is past the model's context of {ctx} tokens; "
              f"responses are capped at {ctx}", file=sys.stderr, flush=True)
        model._mmpo_capped = ctx
    return ctx


def check_device(device: str) -> None:
    """Refuse a device this machine cannot run on (`cuda` on a CPU build, a GPU index past the last),
    before any work; the error names what is here."""
    import re

    from mmpo.errors import MMPOError

    m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", str(device).strip())
    if m is None:
        raise MMPOError(f"--device {device!r}: expected cpu, cuda, cuda:N or mps")
    kind, index = m.group(1), m.group(2)
    if kind == "cpu":
        return
    import torch

    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise MMPOError("--device mps: no MPS device on this machine; use --device cpu")
        return
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no visible GPU"
        raise MMPOError(f"--device {device}: no CUDA device here (torch {torch.__version__}, {build}); "
                        "use --device cpu")
    if index is not None and int(index) >= torch.cuda.device_count():
        raise MMPOError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
