"""Image-only processors for video-capable architectures, so they work without torchvision.

The trap: in transformers 5.x, Qwen2-VL's and InternVL's processors take a `video_processor`
argument, and every video processor class needs torchvision (not installable here). Building the
processor, or `AutoProcessor.from_pretrained` on a saved one, then raises ImportError, even though
images alone need only PIL.

The fix: a subclass with the same class name whose `__init__` signature has no `video_processor`.
`ProcessorMixin` derives a processor's parts from that signature, so the subclass builds, saves and
loads with just the (PIL-backend) image processor and the tokenizer; video inputs are refused.
When saved, it writes the stock class name plus a video processor entry configured like the image
processor, so on a machine with torchvision the stock `AutoProcessor` loads the same checkpoint
(checked with transformers 5.17 + torchvision 0.26: same input ids and pixel values).
"""

from __future__ import annotations

import functools
from typing import Any


def _qwen2_vl_init(stock):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        stock(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)
    return __init__


def _internvl_init(stock):
    def __init__(self, image_processor=None, tokenizer=None, image_seq_length=256, chat_template=None, **kwargs):
        stock(self, image_processor, tokenizer, None, image_seq_length=image_seq_length,
              chat_template=chat_template, **kwargs)
    return __init__


# Stock processors that need a video processor -> an __init__ without it. Written out per class
# (not generated) because transformers reads the saved settings' names from the code object's
# arguments (`from_args_and_dict`) and from the signature (`to_dict`), so both must list them.
# The stock __init__ gets video_processor=None positionally; ProcessorMixin zips positional
# parts with this class's attributes (image_processor, tokenizer) and so drops it.
_IMAGE_ONLY_INITS = {
    "Qwen2VLProcessor": _qwen2_vl_init,
    "Qwen2_5_VLProcessor": _qwen2_vl_init,
    "InternVLProcessor": _internvl_init,
}
# The video processor the stock class loads, configured like the image processor when saving.
_VIDEO_TYPES = {
    "Qwen2VLProcessor": "Qwen2VLVideoProcessor",
    "Qwen2_5_VLProcessor": "Qwen2VLVideoProcessor",
    "InternVLProcessor": "InternVLVideoProcessor",
}
_SHARED_SETTINGS = ("do_convert_rgb", "do_normalize", "do_rescale", "do_resize", "image_mean", "image_std",
                    "resample", "rescale_factor", "size", "patch_size", "temporal_patch_size", "merge_size")


def video_processor_config(cls_name: str, image_processor_config: dict[str, Any]) -> dict[str, Any]:
    """A video processor config matching the image processor's settings, for the stock loader."""
    out = {k: v for k, v in image_processor_config.items() if k in _SHARED_SETTINGS}
    out["video_processor_type"] = _VIDEO_TYPES[cls_name]
    return out


@functools.cache
def image_only(cls: type) -> type:
    """`cls` without its video processor (see the module docstring); cached so isinstance is stable."""

    def __call__(self, images=None, text=None, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{cls.__name__} was loaded without a video processor (torchvision is "
                             "not installed); pass images, not videos")
        return cls.__call__(self, images=images, text=text, **kwargs)

    def to_dict(self):
        # Saved checkpoints name the stock class, which (with torchvision) loads a video
        # processor from this entry; without it the stock AutoProcessor fails on our checkpoints.
        out = cls.to_dict(self)
        if isinstance(out.get("image_processor"), dict):
            out["video_processor"] = video_processor_config(cls.__name__, out["image_processor"])
        return out

    init = _IMAGE_ONLY_INITS[cls.__name__](cls.__init__)
    return type(cls.__name__, (cls,), {"__init__": init, "__call__": __call__, "to_dict": to_dict,
                                        "__module__": __name__, "__qualname__": cls.__name__})


def torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return is_torchvision_available()


def image_only_class(name: str) -> Any:
    """The image-only variant of the stock processor class `name`, or None if it needs none."""
    if name not in _IMAGE_ONLY_INITS:
        return None
    from transformers.models.auto.processing_auto import processor_class_from_name

    return image_only(processor_class_from_name(name))


def processor_class(name: str) -> Any:
    """The processor class to build `name` with here: image-only when torchvision is missing."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    if not torchvision_available() and name in _IMAGE_ONLY_INITS:
        return image_only_class(name)
    return processor_class_from_name(name)
