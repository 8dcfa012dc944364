"""A training folder's files: whole checkpoints, mmpo's state, and what ran (docs/reliability.md).

    complete_checkpoints("runs/mpo")        # [.../checkpoint-2, .../checkpoint-4], oldest first
    save_staged(trainer, model, trial, save)   # the Trainer's save, written aside then renamed into place
    write_state(folder, state) / read_state(folder)   # mpo_state.json: BCO shift, counters, guards

Light on purpose: listing a folder's checkpoints imports neither torch nor transformers.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmpo.data.layout import MPO_STATE, RUN_INFO, TRAINER_STATE

CHECKPOINT_PREFIX = "checkpoint"  # transformers' PREFIX_CHECKPOINT_DIR
STAGING = ".checkpoint-staging"  # checkpoints are written here, then renamed into the output folder
REFERENCE_FILE = "reference.safetensors"  # a TR-DPO-synced reference travels with its checkpoint


def complete_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of `folder` that hold a whole checkpoint, oldest first.

    Complete means: the Trainer's state, mmpo's state (written last) and a non-empty model config
    or adapter config. Folders left by older versions killed mid-save fail this and are ignored.
    """
    found = []
    for path in Path(folder).glob(f"{CHECKPOINT_PREFIX}-*"):
        step = path.name.rsplit("-", 1)[-1]
        if not (path.is_dir() and step.isdigit()):
            continue
        configs = [path / "config.json", path / "adapter_config.json"]
        if ((path / TRAINER_STATE).is_file() and (path / MPO_STATE).is_file()
                and any(c.is_file() and c.stat().st_size > 0 for c in configs)):
            found.append((int(step), path))
    return [p for _, p in sorted(found)]


def save_staged(trainer: Any, model: Any, trial: Any, save: Callable[[Any, Any], None]) -> None:
    """Run the Trainer's checkpoint save `save(model, trial)` into a staging folder, add mmpo's state last,
    then rename it into place: a kill at any moment leaves a complete `checkpoint-N` or none."""
    from transformers.trainer_utils import rotate_checkpoints

    run_dir = trainer._get_output_dir(trial=trial)
    name = f"{CHECKPOINT_PREFIX}-{trainer.state.global_step}"
    staging_root = os.path.join(run_dir, STAGING)
    staging, final = os.path.join(staging_root, name), os.path.join(run_dir, name)
    if trainer.args.should_save:
        shutil.rmtree(staging, ignore_errors=True)  # what a killed save left behind
    trainer.accelerator.wait_for_everyone()
    get_run_dir = trainer._get_output_dir
    trainer._get_output_dir = lambda trial=None: staging_root  # every rank writes its part under staging
    try:
        save(model, trial)
    except Exception as exc:  # noqa: BLE001  (a full disk comes as OSError, RuntimeError or safetensors' own)
        if trainer.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        done = complete_checkpoints(run_dir)
        last = f"the last complete one, {done[-1]}, is intact" if done else "no complete checkpoint was written yet"
        from mmpo.errors import MMPOError

        raise MMPOError(f"could not write {name} into {run_dir}: {exc}; {last}") from None
    finally:
        trainer._get_output_dir = get_run_dir
    trainer.save_mpo_state(staging)  # last: its presence marks a complete checkpoint
    trainer.accelerator.wait_for_everyone()
    if trainer.args.should_save:
        _fsync_tree(staging)
        if os.path.exists(final):  # the same step saved again (a resumed run)
            shutil.rmtree(final)
        os.replace(staging, final)
        _fsync_dir(run_dir)
        best = trainer.state.best_model_checkpoint
        if best and best.startswith(staging_root):
            trainer.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(best))
        rotate_checkpoints(output_dir=run_dir, save_total_limit=trainer.args.save_total_limit,
                           best_model_checkpoint=trainer.state.best_model_checkpoint, use_mtime=True)
    trainer.accelerator.wait_for_everyone()


def write_state(folder: str | os.PathLike, state: dict[str, Any]) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, MPO_STATE), "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)


def read_state(folder: str | os.PathLike) -> dict[str, Any] | None:
    path = os.path.join(folder, MPO_STATE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def restore_state(trainer: Any, folder: str | os.PathLike) -> None:
    """The BCO reward shift, the data counters, guard counts and collapse signals of a checkpoint."""
    state = read_state(folder)
    if state is None:
        return
    trainer.reward_shift.load_state_dict(state["reward_shift"])
    stats = getattr(trainer.data_collator, "stats", None)
    if stats is not None:
        stats.clear()
        stats.update(state.get("stats", {}))
    trainer.guard_counts.clear()
    trainer.guard_counts.update(state.get("guards", {}))
    trainer.collapse.found.update(state.get("collapse_signals", {}))


def run_info(trainer: Any) -> dict[str, Any]:
    """What ran: the preference forward (and why it fell back), the engine, the processes, the reference."""
    args = trainer.args
    if trainer.is_deepspeed_enabled:
        engine = "deepspeed"
    elif trainer.is_fsdp_enabled:
        engine = f"fsdp{getattr(getattr(trainer.accelerator.state, 'fsdp_plugin', None), 'fsdp_version', 1)}"
    else:
        engine = "ddp" if args.world_size > 1 else "none"
    seen = trainer.forward_seen["mechanisms"]
    return {"preference_forward": "shared_prefix" if seen == {"shared_prefix"} else
            ("plain" if seen == {"plain"} else sorted(seen) or None),
            "requested_forward": args.preference_forward,
            "fallback_reasons": sorted(trainer.forward_seen["fallback_reasons"]), "engine": engine,
            "world_size": args.world_size, "reference": trainer.reference.mode,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "per_device_train_batch_size": args.per_device_train_batch_size}


def write_run_info(folder: str | os.PathLike, info: dict[str, Any]) -> None:
    """`run_info.json`: which preference forward ran, under which engine and world size (docs/formats.md)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, RUN_INFO), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)


def _fsync_tree(folder: str) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(root)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
