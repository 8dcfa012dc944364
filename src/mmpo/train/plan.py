"""`mmpo train --plan`: per-GPU memory of a recipe under DDP, FSDP2, ZeRO-2 and ZeRO-3, before launch.

    shape = model_shape("models/InternVL2-8B-hf")           # parameters counted on the meta device
    plan = memory_plan(shape, cfg, gpus=8, gpu_memory_gb=80)
    print(format_plan(plan))

An estimate from the model's config and the recipe, not a measurement: the formulas and their
assumptions are in docs/memory-plan.md. Parameters are counted exactly (the model is built on
PyTorch's meta device, no weights are read); activations use a per-token count for pre-norm
decoder layers with fused attention, for the worst-case pair the recipe allows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mmpo.errors import InputError

GIB = 1024 ** 3
# Engines in the order the plan recommends them (the simplest one that fits first).
ENGINES = ("ddp", "fsdp2", "zero2", "zero3", "zero2_offload", "zero3_offload")
# Launch configs shipped in recipes/accelerate/ for each engine.
ENGINE_CONFIGS = {"ddp": "recipes/accelerate/ddp.yaml", "fsdp2": "recipes/accelerate/fsdp2.yaml",
                  "zero2": "recipes/accelerate/zero2.yaml", "zero3": "recipes/accelerate/zero3.yaml",
                  "zero2_offload": "recipes/accelerate/zero2_offload.yaml",
                  "zero3_offload": "recipes/accelerate/zero3_offload.yaml"}
# Held back on every GPU: the CUDA context, NCCL buffers and allocator fragmentation.
RESERVE_GB, RESERVE_FRACTION = 1.0, 0.10
TEXT_PROMPT_TOKENS = 256  # question text and template around the image tokens


@dataclasses.dataclass
class ModelShape:
    """What the plan needs of a model: parameter counts and the layer sizes activations scale with."""

    name: str
    total: int                   # every parameter
    vision: int                  # parameters of the vision tower
    largest_layer: int           # parameters of the largest decoder / vision layer (one sharding unit)
    hidden: int
    layers: int
    intermediate: int
    kv_dim: int                  # key/value width (heads x head dim), smaller than hidden under GQA
    vocab: int
    vision_hidden: int = 0
    vision_layers: int = 0
    vision_intermediate: int = 0
    image_tokens: int = 0        # tokens per image (tile) in the vision tower
    image_lm_tokens: int = 0     # tokens per image (tile) in the language model, after the projector
    checkpoint_bytes: int = 4    # bytes per parameter as the checkpoint stores them
    linears: list[tuple[str, int, int]] = dataclasses.field(default_factory=list, repr=False)


def model_shape(path: str, *, trust_remote_code: bool = False) -> ModelShape:
    """Count the parameters of the checkpoint at `path` from its config alone (meta device)."""
    import torch
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the model config ({exc})", path=path, field="model_name_or_path") from None
    with torch.device("meta"):
        model = _build(config, trust_remote_code)
    text = getattr(config, "text_config", None) or config
    vision = getattr(config, "vision_config", None)
    from mmpo.train.policy import vision_tower

    tower = vision_tower(model)
    heads = getattr(text, "num_attention_heads", 1)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    layers = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    largest = max((sum(p.numel() for p in layer.parameters()) for ml in layers for layer in ml), default=0)
    dtype = getattr(config, "dtype", None) or getattr(text, "dtype", None)
    linears = [(name, m.in_features, m.out_features) for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear)]
    shape = ModelShape(
        name=type(model).__name__, total=sum(p.numel() for p in model.parameters()),
        vision=sum(p.numel() for p in tower.parameters()) if tower is not None else 0, largest_layer=largest,
        hidden=text.hidden_size, layers=text.num_hidden_layers, intermediate=getattr(text, "intermediate_size", 4 * text.hidden_size),
        kv_dim=kv_heads * head_dim, vocab=text.vocab_size, checkpoint_bytes=_dtype_bytes(dtype), linears=linears)
    if vision is not None and tower is not None:
        shape.vision_hidden = getattr(vision, "hidden_size", 0)
        shape.vision_layers = getattr(vision, "num_hidden_layers", getattr(vision, "depth", 0))
        shape.vision_intermediate = getattr(vision, "intermediate_size", 4 * shape.vision_hidden)
        size, patch = _first(getattr(vision, "image_size", 0)), _first(getattr(vision, "patch_size", 1)) or 1
        shape.image_tokens = (size // patch) ** 2 if size else 0
        shape.image_lm_tokens = getattr(config, "image_seq_length", None) or shape.image_tokens
    return shape


def _build(config, trust_remote_code: bool):
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    for auto in (AutoModelForImageTextToText, AutoModelForCausalLM):
        try:
            return auto.from_config(config, trust_remote_code=trust_remote_code)
        except ValueError:
            continue
    raise InputError(f"no image-text-to-text or causal LM class for model_type {config.model_type!r}",
                     field="model_name_or_path")


def _first(value: Any) -> int:
    return int(value[0] if isinstance(value, list | tuple) else value or 0)


def _dtype_bytes(dtype: Any) -> int:
    name = str(dtype or "float32").replace("torch.", "")
    return 2 if name in ("bfloat16", "float16") else 4


def trainable_parameters(shape: ModelShape, cfg) -> int:
    """Parameters the optimizer updates: all (less a frozen vision tower), or LoRA adapters."""
    from mmpo.train.policy import VISION_TOWER_NAMES

    if not cfg.use_lora:
        return shape.total - (shape.vision if cfg.freeze_vision_tower else 0)
    targets = list(cfg.lora_target_modules)
    n = 0
    for name, fan_in, fan_out in shape.linears:
        leaf = name.rsplit(".", 1)[-1]
        in_vision = any(part in VISION_TOWER_NAMES for part in name.split("."))
        if leaf == "lm_head" or (in_vision and cfg.freeze_vision_tower):
            continue
        if targets == ["all-linear"] or leaf in targets:
            n += cfg.lora_r * (fan_in + fan_out)
    return n


def pair_tokens(shape: ModelShape, cfg, *, tiles: int, prompt_tokens: int | None) -> dict[str, int]:
    """The worst-case pair the recipe admits: prompt (image tokens + text) and completions at max_length."""
    max_length = cfg.max_length or 2048
    prompt = prompt_tokens if prompt_tokens is not None else tiles * shape.image_lm_tokens + TEXT_PROMPT_TOKENS
    if prompt >= max_length:
        raise InputError(f"a prompt of {prompt} tokens leaves no room for a completion within max_length "
                         f"{max_length}; raise max_length or pass --prompt-tokens", field="max_length")
    return {"prompt": prompt, "completion": max_length - prompt, "vision": tiles * shape.image_tokens,
            "max_length": max_length}


def activation_bytes(shape: ModelShape, tokens: dict[str, int], cfg, *, shared_prefix: bool,
                     checkpointing: bool) -> float:
    """Bytes held for backward by one GPU's micro-batch (bf16 activations, sdpa/flash attention).

    Per token and decoder layer, a pre-norm SwiGLU layer keeps about 8h + 3kv + 4i values (norm
    inputs and outputs, q/k/v, attention output, MLP gate/up/product); under checkpointing only the
    layer input (h) stays, plus one layer's values while it is recomputed. The head's logits are
    kept for the completion positions only in the shared-prefix forward (the plain forward, as the
    peers run it, computes them for every position) in bf16 with an fp32 log-softmax and gradient.
    """
    p, c = tokens["prompt"], tokens["completion"]
    lm_tokens = p + 2 * c if shared_prefix else 2 * (p + c)
    head_positions = 2 * c if shared_prefix else 2 * (p + c)
    images = 1 if shared_prefix else 2
    per_layer = 2 * (8 * shape.hidden + 3 * shape.kv_dim + 4 * shape.intermediate)
    if checkpointing:
        text = lm_tokens * (shape.layers * 2 * shape.hidden + per_layer)
    else:
        text = lm_tokens * shape.layers * per_layer
    vision = 0.0
    if shape.vision_layers and not cfg.freeze_vision_tower:
        v_tokens = images * tokens["vision"]
        v_layer = 2 * (9 * shape.vision_hidden + 2 * shape.vision_intermediate)
        vision = v_tokens * ((shape.vision_layers * 2 * shape.vision_hidden + v_layer) if checkpointing
                             else shape.vision_layers * v_layer)
    logits = head_positions * shape.vocab * (2 + 4 + 4)
    return cfg.per_device_train_batch_size * (text + vision + logits)


def _state_bytes(engine: str, P: int, T: int, shape: ModelShape, cfg, n: int) -> dict[str, float]:
    """Weights, gradients, optimizer states and reference per GPU, plus host memory for offload."""
    F = P - T
    lora = bool(cfg.use_lora)
    # As mmpo loads them (model_dtype auto): fp32 master weights when every parameter trains (bf16
    # compute under autocast), the checkpoint's dtype for a frozen LoRA base; adapters in fp32.
    w_frozen = shape.checkpoint_bytes if lora else 4
    w_held = 4 * T + w_frozen * F
    gather = 2 * 2 * shape.largest_layer  # bf16 all-gather of the current layer and the prefetched next
    ref_mode = _ref_mode(cfg)
    out = {"weights": 0.0, "gradients": 0.0, "optimizer": 0.0, "reference": 0.0, "host": 0.0}
    if engine == "ddp":
        # DDP's reducer keeps its own bucket copy of the gradients next to .grad.
        out.update(weights=w_held, gradients=2 * 4 * T, optimizer=8 * T,
                   reference=w_held if ref_mode == "copy" else 0.0)
    elif engine == "fsdp2":
        out.update(weights=w_held / n + gather, gradients=4 * T / n + 4 * shape.largest_layer,
                   optimizer=8 * T / n, reference=(w_held / n + gather) if ref_mode == "copy" else 0.0)
    else:  # DeepSpeed: bf16 weights in the engine, fp32 master copy and AdamW moments partitioned
        stage3, offload = engine.startswith("zero3"), engine.endswith("offload")
        bf16_weights = 2 * P / n + gather if stage3 else 2 * P
        master_and_moments = 12 * T / n
        out.update(weights=bf16_weights, gradients=2 * T / n, optimizer=0.0 if offload else master_and_moments,
                   reference=(2 * P / n + gather if stage3 else 2 * P) if ref_mode == "copy" else 0.0)
        if offload:
            out["host"] = master_and_moments + (2 * P / n if stage3 else 0.0)
            if stage3:
                out["weights"] = gather
    return out


def _ref_mode(cfg) -> str:
    mode = cfg.ref_model
    if mode == "auto":
        mode = "adapter_disabled" if cfg.use_lora else "copy"
    return mode


def memory_plan(shape: ModelShape, cfg, *, gpus: int, gpu_memory_gb: float, tiles: int = 1,
                prompt_tokens: int | None = None) -> dict[str, Any]:
    """Per-GPU bytes of every engine for `cfg` (an MPOConfig) on `gpus` GPUs of `gpu_memory_gb` GB."""
    if gpus < 1:
        raise InputError(f"must be at least 1, got {gpus}", field="gpus")
    if not gpu_memory_gb > 0:
        raise InputError(f"must be positive, got {gpu_memory_gb}", field="gpu-memory")
    P, T = shape.total, trainable_parameters(shape, cfg)
    tokens = pair_tokens(shape, cfg, tiles=tiles, prompt_tokens=prompt_tokens)
    shared = cfg.preference_forward == "shared_prefix"
    acts = {ckpt: activation_bytes(shape, tokens, cfg, shared_prefix=shared, checkpointing=ckpt)
            for ckpt in (False, True)}
    usable = gpu_memory_gb * (1 - RESERVE_FRACTION) - RESERVE_GB
    rows = []
    for engine in ENGINES:
        state = _state_bytes(engine, P, T, shape, cfg, gpus)
        fixed = state["weights"] + state["gradients"] + state["optimizer"] + state["reference"]
        total = fixed + acts[bool(cfg.gradient_checkpointing)]
        rows.append({"engine": engine, **{k: v / GIB for k, v in state.items()},
                     "activations": acts[bool(cfg.gradient_checkpointing)] / GIB,
                     "total_no_ckpt": (fixed + acts[False]) / GIB, "total_ckpt": (fixed + acts[True]) / GIB,
                     "total": total / GIB, "fits": total / GIB <= usable, "config": ENGINE_CONFIGS[engine]})
    return {"model": shape.name, "parameters": P, "trainable": T, "gpus": gpus, "gpu_memory_gb": gpu_memory_gb,
            "usable_gb": usable, "tokens": tokens, "shared_prefix": shared, "tiles": tiles,
            "micro_batch": cfg.per_device_train_batch_size, "gradient_checkpointing": bool(cfg.gradient_checkpointing),
            "activations_gb": {"no_ckpt": acts[False] / GIB, "ckpt": acts[True] / GIB},
            "reference": _ref_mode(cfg), "rows": rows,
            "recommended": next((r["engine"] for r in rows if r["fits"]), None)}


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as the terminal shows it: one line per engine, GiB per GPU."""
    t = plan["tokens"]
    ckpt = "on" if plan["gradient_checkpointing"] else "off"
    lines = [
        f"memory plan (an estimate, docs/memory-plan.md): {plan['model']}, {plan['parameters'] / 1e9:.2f}B parameters, "
        f"{plan['trainable'] / 1e9:.3f}B trained; reference {plan['reference']}",
        f"  {plan['gpus']} GPU(s) x {plan['gpu_memory_gb']:g} GiB ({plan['usable_gb']:.1f} GiB usable after the "
        f"reserve); micro-batch {plan['micro_batch']} pair(s) of prompt {t['prompt']} + 2 x {t['completion']} "
        f"completion tokens ({t['vision']} vision-tower tokens, {plan['tiles']} tile(s)); "
        f"{'shared-prefix' if plan['shared_prefix'] else 'plain'} forward; gradient checkpointing {ckpt}",
        "",
        f"  {'engine':<14}{'weights':>9}{'grads':>8}{'optim':>8}{'ref':>8}{'acts':>8}{'total':>8}"
        f"{'no ckpt':>9}{'ckpt':>8}{'host':>8}  fits",
    ]
    for r in plan["rows"]:
        lines.append(f"  {r['engine']:<14}{r['weights']:9.1f}{r['gradients']:8.1f}{r['optimizer']:8.1f}"
                     f"{r['reference']:8.1f}{r['activations']:8.1f}{r['total']:8.1f}{r['total_no_ckpt']:9.1f}"
                     f"{r['total_ckpt']:8.1f}{r['host']:8.1f}  {'yes' if r['fits'] else 'no'}")
    lines.append("  (GiB per GPU; total = with the recipe's gradient_checkpointing; host = CPU memory per GPU "
                 "for offloaded states)")
    best = plan["recommended"]
    if best is None:
        lines.append("  nothing fits: lower per_device_train_batch_size or max_length, turn on "
                     "gradient_checkpointing, use LoRA, or add GPUs")
    else:
        lines.append(f"  fits first: {best}; launch with accelerate launch --config_file "
                     f"{ENGINE_CONFIGS[best]} --num_processes {plan['gpus']} -m mmpo.cli train --config ...")
    return "\n".join(lines)

