"""The `mmpo train` stage top to bottom: config -> model and pairs -> MPOTrainer -> a loadable checkpoint.

    cfg = parse_config("recipes/tiny_cpu.yaml", ["--beta", "0.2"])
    out = run_training(cfg)          # out/: weights, processor, trainer_state.json, README.md

The output folder is a Hugging Face checkpoint that `mmpo.models.load_model` and `mmpo eval`
read with no extra arguments (a LoRA run is merged into the base weights; the adapter alone is
kept in `adapter/`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from pathlib import Path
from typing import Any

from mmpo.errors import InputError, MMPOError
from mmpo.models.portable import make_portable

# Settings worth repeating in the model card (the full config is in training_args / the card's YAML).
CARD_FIELDS = ("model_name_or_path", "model_dtype", "train_data", "eval_data", "loss_type", "loss_weights", "beta", "bco_delta",
               "sft_normalization", "max_length", "ref_model", "ref_sync_steps", "train_sampling_strategy", "use_lora", "lora_r",
               "freeze_vision_tower", "learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
               "lr_scheduler_type", "warmup_steps", "num_train_epochs", "max_steps",
               "per_device_train_batch_size", "gradient_accumulation_steps", "bf16", "seed")


def run_training(cfg) -> Path:
    """Train per `cfg` and write the checkpoint; returns the output folder.

    Before any model loads: the output folder must be writable and hold no earlier run (unless
    resuming or starting over), every image is checked (header, size), and pairs whose chosen and
    rejected are the same text are left out and counted. The folder is locked while training.
    """
    from mmpo.data.files import OutputLock
    from mmpo.models import load_model
    from mmpo.train.trainer import MPOTrainer

    for name in ("model_name_or_path", "train_data", "output_dir"):
        if not getattr(cfg, name):
            raise InputError("is required (set it in the YAML config or with --" + name + ")", field=name)
    _check_output_is_no_input(cfg)
    resume = cfg.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        resume = True
    out = prepare_output_dir(cfg, resuming=bool(resume))
    if resume is True:
        from mmpo.train.checkpoints import complete_checkpoints

        done = complete_checkpoints(out)
        if not done:
            raise InputError(f"nothing to resume in {out}: no complete checkpoint-N folder (save_strategy steps "
                             "writes them)", field="resume_from_checkpoint")
        resume = str(done[-1])  # the newest complete one (a folder left by a kill mid-save never counts)
    lock = OutputLock(out / ".mmpo-train") if cfg.process_index == 0 else None
    if lock is not None:
        lock.acquire()
    try:
        train, evals = _datasets(cfg)
        inputs = run_inputs(cfg, train)
        if resume:
            check_resume_inputs(cfg, resume, inputs)
        from mmpo.train.config import policy_dtype

        model, processor = load_model(cfg.model_name_or_path, dtype=policy_dtype(cfg),
                                      trust_remote_code=cfg.trust_remote_code)
        trainer = MPOTrainer(model, cfg, train_dataset=train, eval_dataset=evals, processing_class=processor)
        trainer.run_inputs = inputs
        trainer.train(resume_from_checkpoint=resume or None)
        return _finish(trainer, cfg, out, processor, evals)
    finally:
        if lock is not None:
            lock.release()


def _datasets(cfg):
    """The train and eval pair datasets, every image checked before a model loads."""
    from mmpo.data.pairs import load_pairs
    from mmpo.train.collate import PairDataset, check_pair_images

    datasets = []
    for path in (cfg.train_data, cfg.eval_data):
        if path:
            pairs = load_pairs(path, seed=cfg.seed, on_error=cfg.on_error, path_map=cfg.path_map)
            check_pair_images(pairs, on_error=cfg.on_error)
            datasets.append(PairDataset(pairs))
        else:
            datasets.append(None)
    if len(datasets[0]) == 0:
        raise InputError("no usable pairs", path=cfg.train_data)
    return datasets


def _check_output_is_no_input(cfg) -> None:
    """output_dir is never the start model, nor the pairs or the folder holding them (training writes its
    checkpoint files there)."""
    out = Path(cfg.output_dir).resolve()
    for name in ("model_name_or_path", "train_data", "eval_data"):
        value = getattr(cfg, name)
        if not value:
            continue
        path = Path(value).resolve()
        if out == path or (path.is_file() and out == path.parent):
            raise InputError(f"{cfg.output_dir} is also {name}: training would write over its own input; choose "
                             "another output_dir", field="output_dir")


def run_inputs(cfg, train) -> dict[str, Any]:
    """What a run trains from, kept in every checkpoint's mpo_state.json: the start model's weights and
    the training pairs, by content (a folder that moved keeps its identity)."""
    from mmpo.data.fingerprint import pairs_fingerprint
    from mmpo.models.load import weights_digest

    return {"model_name_or_path": str(cfg.model_name_or_path), "model_weights": weights_digest(cfg.model_name_or_path),
            "train_data": str(cfg.train_data), "train_data_digest": pairs_fingerprint(train.pairs)}


def check_resume_inputs(cfg, checkpoint: str, inputs: dict[str, Any]) -> None:
    """A resumed run continues the same training: the checkpoint's start model and pairs must be this run's,
    unless `resume_other_inputs` says otherwise."""
    from mmpo.train.checkpoints import read_state

    saved = (read_state(checkpoint) or {}).get("inputs")
    if not saved or cfg.resume_other_inputs:
        return
    for digest, field, what in (("model_weights", "model_name_or_path", "another start model"),
                                ("train_data_digest", "train_data", "other training pairs")):
        if saved.get(digest) != inputs[digest]:
            raise InputError(f"{checkpoint} was trained from {what} ({saved.get(field)}) than this run's "
                             f"({inputs[field]}); resume with the same {field}, start over with "
                             "--overwrite_output_dir true, or pass --resume_other_inputs true to continue anyway",
                             field=field)


def prepare_output_dir(cfg, *, resuming: bool) -> Path:
    """The output folder, writable; refused when it holds an earlier run and neither resuming nor starting over."""
    import shutil

    from mmpo.data.files import writable_dir
    from mmpo.train.checkpoints import STAGING, complete_checkpoints

    out = Path(cfg.output_dir)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{parent} is a file, not a folder", field="output_dir")
    writable_dir(out)
    done = complete_checkpoints(out)
    finished = (out / "trainer_state.json").is_file() and (out / "config.json").is_file()
    if (done or finished) and not resuming:
        if not cfg.overwrite_output_dir:
            what = f"checkpoints ({', '.join(p.name for p in done[-3:])})" if done else "a finished training run"
            raise InputError(f"{out} holds {what}; rerun with --resume_from_checkpoint true to continue it, "
                             "or --overwrite_output_dir true to start over (deletes its checkpoints), or choose "
                             "another output_dir", field="output_dir")
        if cfg.process_index == 0:
            for ckpt in out.glob("checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)
    if cfg.process_index == 0:
        shutil.rmtree(out / STAGING, ignore_errors=True)  # a checkpoint a kill interrupted: never complete
    return out


def _finish(trainer, cfg, out: Path, processor, evals) -> Path:
    final = {}
    if evals is not None:
        final.update(trainer.evaluate())
    try:
        _save_final(trainer, cfg, out, processor)
    except Exception as exc:  # noqa: BLE001  (safetensors and torch raise their own types for a full disk)
        if isinstance(exc, MMPOError):
            raise
        raise MMPOError(f"could not write the trained model into {out}: {exc} (the last complete checkpoint, if "
                        "any, is intact; free space and rerun with --resume_from_checkpoint true)") from None
    if trainer.args.should_save:
        write_model_card(out, cfg, trainer.state.log_history, final, dict(trainer.data_collator.stats))
    finish_distributed()
    return out


def _save_final(trainer, cfg, out: Path, processor) -> None:
    """The final weights (LoRA merged; the adapter alone in adapter/), processor, states."""
    if cfg.use_lora:
        trainer.model.save_pretrained(str(out / "adapter"))
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if trainer.args.should_save:
            merged.save_pretrained(str(out))
            processor.save_pretrained(str(out))
    else:
        trainer.save_model(str(out))  # weights and the processor
    if trainer.args.should_save:
        make_portable(out)  # weight names vLLM loads too (mmpo.models.portable)
    trainer.save_state()
    trainer.save_mpo_state(str(out))


def parse_config(config_path: str | None, overrides: list[str]):
    """MPOConfig from a YAML file, then `--field value` overrides (the command line wins)."""
    return build_config(config_path, overrides=overrides)


def build_config(config_path: str | None = None, fields: dict[str, Any] | None = None, overrides: list[str] = ()):
    """The one way an MPOConfig is built: a YAML recipe, then `fields` (values or their text, as
    `mmpo iterate --train-set` gives them), then `--field value` overrides; each later one wins.

    Everything goes through `HfArgumentParser`, so a value reads the same from a file, a script or
    the command line; `None` in `fields` leaves a field at its default.
    """
    from transformers import HfArgumentParser

    from mmpo.train.config import MPOConfig

    values = _recipe(config_path)
    args = []
    for key, value in (fields or {}).items():
        if value is None:
            continue
        values.pop(key, None)
        args += [f"--{key}", *(map(str, value) if isinstance(value, list | tuple) else [str(value)])]
    parser = HfArgumentParser(MPOConfig)
    parser.set_defaults(**values)
    try:
        (cfg,) = parser.parse_args_into_dataclasses(args=[*args, *overrides])
    except ValueError as exc:
        raise MMPOError(str(exc)) from None
    except InputError as exc:  # validation: name the file that set the field, if it came from there
        if config_path and exc.field in values and not any(o.lstrip("-") == exc.field for o in overrides):
            raise InputError(exc.reason, path=config_path, field=exc.field) from None
        raise
    except SystemExit:  # argparse's own refusal (an unknown field, a bad choice), already printed
        raise MMPOError(f"bad MPOConfig fields: {' '.join([*args, *overrides])}") from None
    return cfg


def _recipe(config_path: str | None) -> dict[str, Any]:
    """The MPOConfig fields of a YAML recipe (checked to be fields)."""
    import yaml

    from mmpo.train.config import MPOConfig

    if not config_path:
        return {}
    path = Path(config_path)
    if not path.is_file():
        raise InputError("config file does not exist", path=path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"malformed YAML ({getattr(exc, 'problem', exc)})", path=path,
                         line=None if mark is None else mark.line + 1) from None
    if not isinstance(values, dict):
        raise InputError("expected a mapping of MPOConfig fields", path=path)
    known = {f.name for f in dataclasses.fields(MPOConfig)}
    for key in values:
        if key not in known:
            raise InputError("not a field of MPOConfig (see `mmpo train --help-fields`)", path=path, field=key)
    return values


def finish_distributed() -> None:
    """Wait for every rank, then close the process group.

    Ranks that exit while another still writes files (or with the group open) can abort in the
    collective backend's teardown ("terminate called without an active exception").
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _last_train_metrics(history: list[dict]) -> dict:
    last = [h for h in history if "loss" in h and "train_runtime" not in h]
    return last[-1] if last else {}


def write_model_card(out: Path, cfg, history: list[dict], eval_metrics: dict, data_stats: dict) -> None:
    """README.md: what was trained on what, the config, and the final metrics."""
    import yaml

    settings = {k: _plain(getattr(cfg, k)) for k in CARD_FIELDS}
    full = {f.name: _plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
            if f.name not in ("hub_token", "push_to_hub_token")}
    train = _last_train_metrics(history)
    metrics = {k: v for k, v in {**train, **eval_metrics}.items() if isinstance(v, int | float)}
    rows = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in metrics.items())
    stats = "\n".join(f"- {k}: {v}" for k, v in sorted(data_stats.items())) or "- none"
    text = f"""---
base_model: {json.dumps(str(cfg.model_name_or_path))}
library_name: transformers
tags: [mmpo, mixed-preference-optimization, vision-language]
---

# {out.name}

Trained with [mmpo](https://arxiv.org/abs/2411.10442) (Mixed Preference Optimization):
loss = {" + ".join(f"{w:g} x {t}" for t, w in zip(cfg.loss_type, cfg.loss_weights))}, beta {cfg.beta:g},
from `{cfg.model_name_or_path}` on `{cfg.train_data}`.

## Final metrics

| metric | value |
|---|---|
{rows}

Pairs truncated or skipped (counted over the run):
{stats}

## Main settings

```yaml
{yaml.safe_dump(settings, sort_keys=False).strip()}
```

<details><summary>Full config</summary>

```yaml
{yaml.safe_dump(full, sort_keys=True).strip()}
```
</details>
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _plain(value: Any) -> Any:
    """A YAML-safe version of a config value (enums and paths as strings)."""
    if isinstance(value, enum.Enum):  # SchedulerType etc. (str subclasses yaml cannot write)
        return _plain(value.value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(getattr(value, "value", value))


def _fmt(v: float) -> str:
    return f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else str(v)

