"""Image-only processors for video-capable architectures, so they work without torchvision.

The trap: in transformers 5.x, Qwen2-VL's and InternVL's processors take a `video_processor`
argument, and every video processor class needs torchvision (not installable here). Building the
processor, or `AutoProcessor.from_pretrained` on a saved one, then raises ImportError, even though
images alone need only PIL.

The fix: a subclass with the same class name whose `__init__` signature has no `video_processor`.
`ProcessorMixin` derives a processor's parts from that signature, so the subclass builds, saves and
loads with just the (PIL-backend) image processor and the tokenizer; video inputs are refused. The
saved `processor_config.json` names the standard class, so on a machine with torchvision the stock
`AutoProcessor` loads the same checkpoint as usual.
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


@functools.cache
def image_only(cls: type) -> type:
    """`cls` without its video processor (see the module docstring); cached so isinstance is stable."""

    def __call__(self, images=None, text=None, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{cls.__name__} was loaded without a video processor (torchvision is "
                             "not installed); pass images, not videos")
        return cls.__call__(self, images=images, text=text, **kwargs)

    init = _IMAGE_ONLY_INITS[cls.__name__](cls.__init__)
    return type(cls.__name__, (cls,), {"__init__": init, "__call__": __call__,
                                        "__module__": __name__, "__qualname__": cls.__name__})


def torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return is_torchvision_available()


def processor_class(name: str) -> Any:
    """The transformers processor class called `name`, image-only when torchvision is missing."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    cls = processor_class_from_name(name)
    if cls is None:
        return None
    if name in _IMAGE_ONLY_INITS and not torchvision_available():
        return image_only(cls)
    return cls
