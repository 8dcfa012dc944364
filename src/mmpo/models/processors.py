"""Image-only processors for video-capable architectures, so they work without torchvision.

The trap: in transformers 5.x, the processors of Qwen2-VL, Qwen2.5-VL, Qwen3-VL, GLM-4V, InternVL,
LLaVA-OneVision and SmolVLM take a `video_processor` argument, and every video processor class needs torchvision (not installable here). Building the
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
import types
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


def _llava_onevision_init(stock):
    def __init__(self, image_processor=None, tokenizer=None, num_image_tokens=None,
                 vision_feature_select_strategy=None, chat_template=None, image_token="<image>",
                 video_token="<video>", vision_aspect_ratio="anyres_max_9", **kwargs):
        stock(self, image_processor, tokenizer, None, num_image_tokens=num_image_tokens,
              vision_feature_select_strategy=vision_feature_select_strategy, chat_template=chat_template,
              image_token=image_token, video_token=video_token, vision_aspect_ratio=vision_aspect_ratio, **kwargs)
    return __init__


def _smolvlm_init(stock):
    # The stock __init__ refuses to run without the package num2words, which only video prompts
    # use (they spell out frame counts); a copy of it that sees a stand-in runs without it.
    stock = types.FunctionType(stock.__code__, {**stock.__globals__, "num2words": _no_num2words},
                               stock.__name__, stock.__defaults__, stock.__closure__)

    def __init__(self, image_processor=None, tokenizer=None, image_seq_len=169, chat_template=None, **kwargs):
        stock(self, image_processor, tokenizer, None, image_seq_len=image_seq_len, chat_template=chat_template,
              **kwargs)
    return __init__


def _no_num2words(*args, **kwargs):
    raise ValueError("video prompts need the package num2words; this processor takes images only")


def _plain_chat_template(self, conversation, chat_template=None, **kwargs):
    # SmolVLM's own apply_chat_template reads video sampling defaults from its video processor.
    from transformers import ProcessorMixin

    return ProcessorMixin.apply_chat_template(self, conversation, chat_template, **kwargs)


# Methods of a stock class that use the video processor even for images, replaced in the variant.
_IMAGE_ONLY_METHODS = {"SmolVLMProcessor": {"apply_chat_template": _plain_chat_template}}


# Stock processors that need a video processor -> an __init__ without it. Written out per class
# (not generated) because transformers reads the saved settings' names from the code object's
# arguments (`from_args_and_dict`) and from the signature (`to_dict`), so both must list them.
# The stock __init__ gets video_processor=None positionally; ProcessorMixin zips positional
# parts with this class's attributes (image_processor, tokenizer) and so drops it.
_IMAGE_ONLY_INITS = {
    "Qwen2VLProcessor": _qwen2_vl_init,
    "Qwen2_5_VLProcessor": _qwen2_vl_init,
    "Qwen3VLProcessor": _qwen2_vl_init,
    "Glm4vProcessor": _qwen2_vl_init,
    "InternVLProcessor": _internvl_init,
    "LlavaOnevisionProcessor": _llava_onevision_init,
    "SmolVLMProcessor": _smolvlm_init,
}
# The video processor the stock class loads, configured like the image processor when saving.
_VIDEO_TYPES = {
    "Qwen2VLProcessor": "Qwen2VLVideoProcessor",
    "Qwen2_5_VLProcessor": "Qwen2VLVideoProcessor",
    "Qwen3VLProcessor": "Qwen3VLVideoProcessor",
    "Glm4vProcessor": "Glm4vVideoProcessor",
    "InternVLProcessor": "InternVLVideoProcessor",
    "LlavaOnevisionProcessor": "LlavaOnevisionVideoProcessor",
    "SmolVLMProcessor": "SmolVLMVideoProcessor",
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
                                        **_IMAGE_ONLY_METHODS.get(cls.__name__, {}),
                                        "__module__": __name__, "__qualname__": cls.__name__})


@functools.cache
def _pixtral_processor() -> type:
    """The stock PixtralProcessor class, imported without torchvision.

    Its module imports one helper, `get_resize_output_image_size`, from the torchvision image
    processor module (which cannot be imported here) only to count image tokens; the PIL image
    processor module holds the same function. The import runs once with a stand-in module that
    holds the PIL one; the class itself (not the placeholder transformers exports at top level
    when torchvision is missing) then builds, saves and loads as usual.
    """
    import importlib
    import sys

    from transformers.models.pixtral import image_processing_pil_pixtral as pil

    name = "transformers.models.pixtral.image_processing_pixtral"
    stand_in = types.ModuleType(name)
    stand_in.get_resize_output_image_size = pil.get_resize_output_image_size
    saved = sys.modules.get(name)
    sys.modules[name] = stand_in
    try:
        module = importlib.import_module("transformers.models.pixtral.processing_pixtral")
    finally:
        if saved is None:
            del sys.modules[name]
        else:
            sys.modules[name] = saved
    return module.PixtralProcessor


# Stock processors whose module needs torchvision although images do not -> how to get the class.
_TORCHVISION_FREE = {"PixtralProcessor": _pixtral_processor}


def torchvision_available() -> bool:
    from transformers.utils import is_torchvision_available

    return is_torchvision_available()


def image_only_class(name: str) -> Any:
    """The image-only variant of the stock processor class `name`, or None if it needs none."""
    if name in _TORCHVISION_FREE:
        return _TORCHVISION_FREE[name]()
    if name not in _IMAGE_ONLY_INITS:
        return None
    from transformers.models.auto.processing_auto import processor_class_from_name

    return image_only(processor_class_from_name(name))


def processor_class(name: str) -> Any:
    """The processor class to build `name` with here: image-only when torchvision is missing."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    if not torchvision_available() and (name in _IMAGE_ONLY_INITS or name in _TORCHVISION_FREE):
        return image_only_class(name)
    return processor_class_from_name(name)


# The Qwen2-VL lineage's and GLM-4V's image processors (they resize with `smart_resize`, recognised by
# their `temporal_patch_size`) refuse images whose long side is more than 200 times the short one.
MAX_ASPECT_RATIO = 200


def image_refusal(processor: Any, size: tuple[int, int] | None) -> str | None:
    """Why this processor would refuse an image of `size` (width, height), where mmpo knows the rule; else None."""
    if size is None:
        return None
    image_processor = getattr(processor, "image_processor", None)
    w, h = size
    if min(w, h) < 1:
        return f"the image is {w}x{h} pixels"
    if getattr(image_processor, "temporal_patch_size", None) is not None and max(w, h) / min(w, h) > MAX_ASPECT_RATIO:
        return (f"{type(image_processor).__name__} refuses images whose aspect ratio is over {MAX_ASPECT_RATIO} "
                f"(this one is {w}x{h})")
    return None


def refused_images(processor: Any, records: list[dict[str, Any]]) -> dict[int, Any]:
    """{index: InputError} for the records whose image this processor refuses (`image_refusal`), read from
    image headers before any model loads."""
    from mmpo.data.images import image_size
    from mmpo.errors import InputError

    out = {}
    for i, rec in enumerate(records):
        ref = rec.get("image_ref", rec.get("image_path"))
        reason = None if ref is None else image_refusal(processor, image_size(ref))
        if reason is not None:
            out[i] = InputError(reason, path=rec.get("_source"), field="image",
                                **(rec.get("_where") or {"line": rec.get("_line")}))
    return out


def encode_failures(processor: Any, items: list[tuple[str, Any]], exc: Exception) -> dict[int, str]:
    """After a batch failed to encode with `exc`: {index: the processor's message} of the items that fail
    alone (a rule mmpo does not know, found the slow way); empty when each encodes by itself."""
    from mmpo.data.chat import encode

    bad = {}
    for i, (text, image) in enumerate(items):
        try:
            encode(processor, [text], [image])
        except (ValueError, TypeError, RuntimeError) as one:
            bad[i] = f"the model's processor refuses it: {one}"
    return bad
