"""The reference policy pi_ref in every mode, and its log-probs precomputed before training.

    ref = Reference("copy", frozen_copy(model))        # or "adapter_disabled", "precomputed", "none"
    ref.logps(policy, batch)                            # {"chosen_logps", "rejected_logps"} under no_grad
    dataset = load_or_compute(trainer, model, dataset, "train", parts)   # ref_model: precomputed

Modes (docs/loss.md): `copy`, a frozen copy of the start model; `adapter_disabled`, the LoRA
policy with its adapter switched off; `precomputed`, no model at all during training: one no-grad
pass before training writes every pair's reference log-probs to a cache on disk, and the batches
carry them; `none`, reference-free losses only. The paper keeps the reference frozen for the whole
run (syncing it hurt chain-of-thought); `Reference.sync_` implements TR-DPO's soft update
(Gorbatovski et al. 2024) for users who want to compare.

The precomputed cache (`<dir>/<role>.safetensors`: fp32 `chosen`, `rejected`, NaN for pairs the
pass skipped) is keyed by a hash of three parts, and a cache with any other key is rebuilt,
naming the part that changed:
- model: its config (without its folder name), attention implementation, and every weight's bytes;
- data: every pair's text, in dataset order, and each image (a file by path, size and mtime; bytes
  and decoded images by content);
- settings: max_length, truncate_completions, the chat template, the tokenizer and image processor.
Data-parallel runs split the pass across ranks (each takes every W-th pair of the length-sorted
order) and sum the results, so every rank holds the full table; one process writes the file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from mmpo.errors import MMPOError
from mmpo.train.collate import RefPair
from mmpo.train.logps import preference_logps

logger = logging.getLogger(__name__)
REF_MODES = ("auto", "copy", "adapter_disabled", "precomputed")

def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no gradients: the start model, kept as it is."""
    ref = copy.deepcopy(model)
    ref.eval()
    ref.requires_grad_(False)
    return ref


def setup_reference(trainer: Any, mode: str, ref_model: torch.nn.Module | None, digest: str | None) -> Reference:
    """The trainer's reference in `mode`, once the engine has prepared the policy.

    `copy`: the frozen model, placed as the engine needs it; `precomputed`: no model while training,
    the log-probs filled when training begins (`PrecomputedReference`); `adapter_disabled`, `none`:
    nothing to hold.
    """
    if mode == "copy":
        return Reference(mode, prepare_reference(trainer, ref_model))
    if mode == "precomputed":
        trainer.ref_pass = PrecomputedReference(trainer, ref_model, digest)
        return Reference(mode, None)  # training holds no reference model
    return Reference(mode, ref_model)


def reference_model(policy: torch.nn.Module, ref_model: torch.nn.Module | None, mode: str,
                    disable_dropout: bool) -> torch.nn.Module | None:
    """The reference before the engine sees it: a frozen copy of the (prepared) policy, or the given
    model frozen, with dropout off as in the policy."""
    from mmpo.train.policy import disable_dropout as no_dropout

    if mode == "copy" and ref_model is None:
        return frozen_copy(policy)
    if ref_model is not None:
        ref_model.eval().requires_grad_(False)
        if disable_dropout:
            no_dropout(ref_model)
    return ref_model


def prepare_reference(trainer: Any, ref_model: torch.nn.Module) -> torch.nn.Module:
    """The frozen reference placed as the engine needs it: sharded like the policy under FSDP2 and
    DeepSpeed ZeRO-3 (a no-optimizer DeepSpeed engine), on the device otherwise.

    The FSDP2 and DeepSpeed branches need GPUs and were not run in this repository's CI (see README).
    """
    if trainer.is_deepspeed_enabled:
        import deepspeed

        config = copy.deepcopy(trainer.accelerator.state.deepspeed_plugin.deepspeed_config)
        stage = config.get("zero_optimization", {}).get("stage", 0)
        for key in ("optimizer", "scheduler"):
            config.pop(key, None)
        if stage != 3:  # only ZeRO-3 shards parameters; a frozen model needs nothing else from the engine
            config["zero_optimization"] = {"stage": 0}
        engine, *_ = deepspeed.initialize(model=ref_model, config=config)
        engine.eval()
        return engine
    if trainer.is_fsdp_enabled:
        plugin = trainer.accelerator.state.fsdp_plugin
        if getattr(plugin, "fsdp_version", 1) != 2:
            raise MMPOError("ref_model: copy under FSDP needs fsdp_version 2 (FSDP2) in the accelerate config; "
                            "or use ref_model: precomputed")
        from accelerate.utils.fsdp_utils import fsdp2_prepare_model

        return fsdp2_prepare_model(trainer.accelerator, ref_model).eval()
    return trainer.accelerator.prepare_model(ref_model, evaluation_mode=True)


class Reference:
    """Reference log-probs for a batch, under no_grad.

    mode `copy`: a separate frozen model; `adapter_disabled`: the policy (a peft model) with its
    adapter switched off; `precomputed`: no model, the values come with the batch
    (`mmpo.train.reference`); `none`: reference-free losses only, nothing is computed.
    """

    def __init__(self, mode: str, model: torch.nn.Module | None = None):
        if mode not in (*REF_MODES[1:], "none"):
            raise ValueError(f"unknown reference mode {mode!r}")
        if mode == "copy" and model is None:
            raise ValueError("reference mode copy needs the reference model")
        self.mode = mode
        self.model = model

    @torch.no_grad()
    def logps(self, policy: torch.nn.Module, batch: dict, *, mechanism: str = "shared_prefix") -> dict | None:
        if self.mode == "none":
            return None
        if self.mode == "precomputed":
            if "ref_chosen_logps" not in batch:
                raise MMPOError("ref_model is precomputed but this batch has no reference log-probs: its dataset "
                                "was not given to MPOTrainer (train_dataset / eval_dataset) before training")
            return {"chosen_logps": batch["ref_chosen_logps"], "rejected_logps": batch["ref_rejected_logps"]}
        if self.mode == "copy":
            return preference_logps(self.model, batch, mechanism=mechanism)
        inner = getattr(policy, "module", policy)  # not through DDP: no gradient sync for a no_grad pass
        with adapter_off(inner):
            return preference_logps(inner, batch, mechanism=mechanism)

    @torch.no_grad()
    def sync_(self, policy: torch.nn.Module, alpha: float) -> None:
        """TR-DPO soft update: ref <- alpha * policy + (1 - alpha) * ref, parameter by parameter."""
        if self.mode != "copy":
            raise ValueError("only a separate (copy) reference can be synced")
        ref_params = dict(self.model.named_parameters())
        for name, p in policy.named_parameters():
            target = ref_params.get(name)
            if target is not None:
                target.mul_(1 - alpha).add_(p.detach().to(target.dtype), alpha=alpha)


def adapter_off(peft_model: torch.nn.Module):
    disable = getattr(peft_model, "disable_adapter", None)
    if disable is None:
        raise ValueError("reference mode adapter_disabled needs a peft (LoRA) policy")
    return disable()


class SyncCallback(TrainerCallback):
    """Every `ref_sync_steps` optimizer steps, mix the policy into the reference (TR-DPO)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if args.ref_sync_steps and state.global_step % args.ref_sync_steps == 0:
            t = self.trainer
            t.reference.sync_(t.accelerator.unwrap_model(t.model), args.ref_sync_alpha)


# ---- precomputed reference log-probs ----------------------------------------------------------------

class PrecomputedReference:
    """`ref_model: precomputed`: every pair carries its reference log-probs, filled by `fill` when training
    (or an evaluation) begins, through the model as the engine prepared it (wrapped under DDP and
    DeepSpeed, sharded under FSDP2): one no-grad pass split across ranks, or the cache on disk.

    Attaching it swaps the trainer's datasets for placeholders (`RefLogpsDataset`) and adds the callback
    that fills them; the trainer needs only `prepare_batch(batch)` (its input preparation).
    """

    def __init__(self, trainer: Any, model: torch.nn.Module | None, digest: str):
        processor = trainer.processing_class or getattr(trainer.data_collator, "processor", None)
        if processor is None:
            raise MMPOError("ref_model: precomputed needs processing_class (the model's processor)")
        self.model, self.digest, self.done = model, digest, False
        self.settings = settings_digest(processor, trainer.args)

        def placeholder(dataset):
            return None if dataset is None else RefLogpsDataset(dataset, torch.full((2, len(dataset)), math.nan))

        trainer.train_dataset = placeholder(trainer.train_dataset)
        if isinstance(trainer.eval_dataset, dict):
            trainer.eval_dataset = {name: placeholder(ds) for name, ds in trainer.eval_dataset.items()}
        else:
            trainer.eval_dataset = placeholder(trainer.eval_dataset)
        trainer.add_callback(_FillOnTrainBegin(self, trainer))

    def fill(self, trainer: Any) -> None:
        """The precomputed reference log-probs of every dataset (once per trainer)."""
        import contextlib

        from mmpo.train.logps import under_engine

        if self.done:
            return
        if self.model is not None:
            source = self.model.to(trainer.args.device)
        else:
            # The start model; with LoRA its base (the adapter off); under an engine its prepared form.
            source = trainer.model_wrapped if under_engine(trainer.model_wrapped) else trainer.model
        datasets = [(trainer.train_dataset, "train")]
        if isinstance(trainer.eval_dataset, dict):
            datasets += [(ds, f"eval_{name}") for name, ds in trainer.eval_dataset.items()]
        else:
            datasets.append((trainer.eval_dataset, "eval"))
        lora_base = trainer.args.use_lora and self.model is None
        for dataset, role in datasets:
            if dataset is None:
                continue
            parts = {"model": self.digest, "data": data_digest(dataset.base), "settings": self.settings}
            with adapter_off(trainer.model) if lora_base else contextlib.nullcontext():
                filled = load_or_compute(trainer, source, dataset.base, role, parts)
            dataset.values.copy_(filled.values)
            dataset.cache_path, dataset.from_cache = filled.cache_path, filled.from_cache
        self.done = True


class _FillOnTrainBegin(TrainerCallback):
    """Fills the precomputed reference log-probs when training begins, once the engine has prepared the model."""

    def __init__(self, reference: PrecomputedReference, trainer: Any):
        self.reference, self.trainer = reference, trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.reference.fill(self.trainer)


FORMAT = "mmpo-ref-logps-2"  # 2: batches mixing text-only and image pairs keep every image
PARTS = ("model", "data", "settings")


def _h() -> Any:
    return hashlib.blake2b(digest_size=16)


def _scrub(config: dict) -> dict:
    # The folder a checkpoint was loaded from is not part of what it computes.
    return {k: _scrub(v) if isinstance(v, dict) else v for k, v in config.items() if k != "_name_or_path"}


def model_digest(model: torch.nn.Module) -> str:
    """Hash of the config, attention implementation and every weight (name, dtype, shape, bytes)."""
    h = _h()
    config = getattr(model, "config", None)
    if config is not None:
        h.update(json.dumps(_scrub(config.to_dict()), sort_keys=True, default=str).encode())
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        h.update(str(getattr(text, "_attn_implementation", None)).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).contiguous().view(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()


def _image_id(ref: Any, seen: dict) -> str:
    if isinstance(ref, dict) and ref.get("bytes"):
        return "bytes:" + hashlib.blake2b(ref["bytes"], digest_size=16).hexdigest()
    path = ref if isinstance(ref, str) else ref.get("path") if isinstance(ref, dict) else None
    if path is not None:
        if path not in seen:
            # Path, size and mtime: a changed image file changes its key without re-reading every image.
            st = os.stat(path)
            seen[path] = f"file:{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        return seen[path]
    return f"pil:{ref.mode}|{ref.size}|" + hashlib.blake2b(ref.tobytes(), digest_size=16).hexdigest()


def data_digest(dataset: Any) -> str:
    """Hash of every pair (prompt messages, chosen, rejected, images), in dataset order."""
    h, seen = _h(), {}
    for i in range(len(dataset)):
        pair = dataset[i]
        pair = getattr(pair, "pair", pair)
        record = [pair.messages, pair.chosen, pair.rejected, [_image_id(r, seen) for r in pair.images]]
        h.update(json.dumps(record, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


def settings_digest(processor: Any, args: Any) -> str:
    """Hash of what turns a pair into tokens and pixels."""
    tok = getattr(processor, "tokenizer", processor)
    backend = getattr(tok, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else json.dumps(sorted(tok.get_vocab().items()))
    image_proc = getattr(processor, "image_processor", None)
    record = {
        "format": FORMAT, "max_length": args.max_length, "truncate_completions": args.truncate_completions,
        "chat_template": getattr(processor, "chat_template", None), "processor": type(processor).__name__,
        "tokenizer": [type(tok).__name__, hashlib.blake2b(vocab.encode(), digest_size=16).hexdigest(),
                      str(getattr(tok, "special_tokens_map", None)), getattr(tok, "pad_token_id", None)],
        "image_processor": image_proc.to_dict() if hasattr(image_proc, "to_dict") else None,
    }
    return hashlib.blake2b(json.dumps(record, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def cache_key(parts: dict) -> str:
    return hashlib.blake2b(json.dumps([parts[p] for p in PARTS]).encode(), digest_size=16).hexdigest()


class RefLogpsDataset:
    """A pair dataset whose items carry their index and precomputed reference log-probs."""

    def __init__(self, base: Any, values: torch.Tensor):
        if tuple(values.shape) != (2, len(base)):
            raise ValueError(f"need (2, {len(base)}) reference values, got {tuple(values.shape)}")
        self.base, self.values = base, values
        self.stats = getattr(base, "stats", Counter())
        if hasattr(base, "pairs"):
            self.pairs = base.pairs

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> RefPair:
        return RefPair(self.base[i], i, float(self.values[0, i]), float(self.values[1, i]))


class _Indexed:
    def __init__(self, base: Any):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> RefPair:
        return RefPair(self.base[i], i)


def read_cache(path: Path, parts: dict) -> tuple[torch.Tensor | None, str]:
    """((2, N) values, "") on a hit; (None, why not) otherwise."""
    if not path.is_file():
        return None, "no cache yet"
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("key") != cache_key(parts):
                old = json.loads(meta.get("parts", "{}"))
                changed = [p for p in PARTS if old.get(p) != parts[p]] or ["format"]
                return None, f"{', '.join(changed)} changed since it was built"
            return torch.stack([f.get_tensor("chosen"), f.get_tensor("rejected")]), ""
    except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:  # a torn or foreign file
        return None, f"unreadable ({exc})"


def write_cache(path: Path, values: torch.Tensor, parts: dict) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    meta = {"format": FORMAT, "key": cache_key(parts), "parts": json.dumps(parts), "pairs": str(values.shape[1])}
    save_file({"chosen": values[0].contiguous(), "rejected": values[1].contiguous()}, str(tmp), metadata=meta)
    os.replace(tmp, path)  # readers never see a half-written cache


@torch.no_grad()
def compute_values(trainer: Any, model: torch.nn.Module, dataset: Any, indices: list[int], desc: str) -> torch.Tensor:
    """(2, N) fp32 reference log-probs of `indices` (NaN elsewhere and for pairs the collator skips)."""
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    args = trainer.args
    collator = copy.copy(trainer.data_collator)
    if hasattr(collator, "stats"):
        collator.stats = Counter()  # the training run counts its own truncations and skips
    size = args.per_device_eval_batch_size
    batches = [indices[i:i + size] for i in range(0, len(indices), size)]
    loader = DataLoader(_Indexed(dataset), batch_sampler=batches, collate_fn=collator,
                        num_workers=args.dataloader_num_workers)
    values = torch.full((2, len(dataset)), math.nan, dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        for batch in tqdm(loader, total=len(batches), desc=desc, disable=args.disable_tqdm
                          or not args.should_log):
            if batch.get("num_pairs") == 0:
                continue
            index = batch["pair_index"]
            out = preference_logps(model, trainer.prepare_batch(batch), mechanism=args.preference_forward)
            values[0, index] = out["chosen_logps"].float().cpu()
            values[1, index] = out["rejected_logps"].float().cpu()
    finally:
        model.train(was_training)
    return values


def load_or_compute(trainer: Any, model: torch.nn.Module, dataset: Any, role: str, parts: dict) -> RefLogpsDataset:
    """`dataset` with its reference log-probs: read from the cache when its key matches, else computed."""
    from mmpo.train.length_groups import pair_lengths

    args, acc = trainer.args, trainer.accelerator
    folder = Path(args.ref_cache_dir or os.path.join(args.output_dir, "ref_logps"))
    path = folder / f"{role}.safetensors"
    values, why = read_cache(path, parts)
    if acc.num_processes > 1:  # rebuild unless every rank can read the same cache
        hit = torch.tensor([0.0 if values is None else 1.0], device=args.device)
        if acc.gather(hit).min().item() < 1.0:
            values, why = None, why or "another rank cannot read it"
    if values is not None:
        if args.should_log:
            logger.warning("mmpo: reference log-probs of %d %s pairs read from %s (cache hit, key %s)",
                           len(dataset), role, path, cache_key(parts)[:12])
    else:
        if args.should_log:
            logger.warning("mmpo: computing reference log-probs of %d %s pairs into %s (%s)",
                           len(dataset), role, path, why)
        lengths = pair_lengths(dataset, trainer.processing_class)
        order = sorted(range(len(dataset)), key=lambda i: lengths[i], reverse=True)  # little padding
        mine = order[acc.process_index::acc.num_processes]
        values = compute_values(trainer, model, dataset, mine, desc=f"reference log-probs ({role})")
        if acc.num_processes > 1:
            # Each pair was computed by one rank; elsewhere it is 0, so the sum is exact (NaN = skipped).
            owned = torch.zeros(len(dataset), dtype=torch.bool)
            owned[mine] = True
            values = acc.reduce(torch.where(owned, values, 0.0).to(args.device), reduction="sum").cpu()
        if args.should_save:
            write_cache(path, values, parts)
        acc.wait_for_everyone()
    if values.shape != (2, len(dataset)):
        raise MMPOError(f"{path}: holds {values.shape[1]} pairs, the {role} data has {len(dataset)}")
    out = RefLogpsDataset(dataset, values)
    out.cache_path, out.from_cache = path, why == ""  # for the step-0 check's diagnosis
    return out
