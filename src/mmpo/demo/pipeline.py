"""`mmpo demo`: the whole MPO loop on the embedded default, with the paper's controls.

    from mmpo.demo.pipeline import DemoConfig, run_demo
    results = run_demo(DemoConfig.preset("default"), out="demo-out")

Stages (each writes into OUT and is timed in results.json):
  data      train prompts, a validation split, a held-out test split (`mmpo synth`, digits family)
  base      the shipped base model (or a retrained one, `mmpo.pretrain.digits`), evaluated direct and
            CoT, plus the shuffled-image check and the share of numbers its chains read right
  sample    N chains of thought per training prompt (`mmpo sample`), then `mmpo pairs`
  select    MPO at each candidate learning rate, scored by CoT accuracy on the validation split
  train     MPO at the chosen setting, and the controls on the same pairs and steps:
            SFT on the chosen responses, and DPO alone
  evaluate  every model, direct and CoT, on the test split
  report    comparison table with paired-bootstrap intervals, the direct-vs-CoT figure, curves
After the base model only answers are used, never gold chains (as in the paper's data).

`backbone="smol"` (`mmpo demo --backbone smol`) starts instead from SmolLM2-135M-Instruct with the
shipped vision alignment (`mmpo.pretrain.smol_align`), trains every variant with LoRA, and adds a
reading check. Rerunning into the same OUT reuses finished work: sampling resumes its file, and an
evaluation is reused when the model's weights, the records and the settings are all unchanged
(`mmpo.eval.run.evaluate_into`). Each stage is called through its Python entry function.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError, check_choice
from mmpo.train.losses import MPO_LOSS, MPO_WEIGHTS

# name -> (loss_type, loss_weights). MPO is the paper's mix; the controls isolate its parts.
VARIANTS: dict[str, tuple[list[str], list[float]]] = {
    "mpo": (list(MPO_LOSS), list(MPO_WEIGHTS)),
    "sft_chosen": (["sft"], [1.0]),
    "dpo": (["sigmoid"], [1.0]),
}
BACKBONES = ("tiny", "smol")
# LoRA on the language model (and projector); the vision tower stays as aligned.
SMOL_LORA = {"use_lora": True, "lora_r": 16, "lora_alpha": 32.0, "freeze_vision_tower": True}
# The start models learned mmpo's prompt layout (synth records also carry a MathVista-style query).
PROMPT_SOURCE = "mmpo"


@dataclass
class DemoConfig:
    seed: int = 0
    n_train: int = 2000            # prompts sampled for pairs
    n_val: int = 500               # validation split: settings are chosen here
    n_test: int = 2000             # held-out test split: reported, never used for choices
    samples: int = 8               # N chains per prompt
    temperature: float = 0.7
    top_k: int = 50
    max_new_tokens: int = 48       # a gold chain of the digits family is at most ~35 tokens
    direct_max_new_tokens: int | None = None   # direct answers' limit (None: max_new_tokens)
    max_pairs_per_prompt: int = 4
    lrs: tuple[float, ...] = (5e-6, 1e-5, 3e-5)   # candidates for MPO, chosen on validation
    epochs: float = 1.0
    batch_size: int = 16
    beta: float = 0.1
    logging_steps: int = 5
    eval_batch_size: int = 64
    sample_batch_size: int = 16
    base: str | None = None        # start checkpoint (smol: alignment folder); None = the shipped one
    from_scratch: bool = False     # retrain the base model (smol: the alignment) first
    pretrain_scale: float = 1.0    # fraction of the pretraining steps when retraining (tests use less)
    seeds: tuple[int, ...] = (0,)  # --full: several training seeds, spread reported
    families: tuple[str, ...] = ("digits",)
    backbone: str = "tiny"         # tiny: the shipped base model; smol: SmolLM2-135M + the shipped alignment
    train_options: dict[str, Any] = field(default_factory=dict)   # extra MPOConfig fields for every run (smol: LoRA)
    read_eval: int = 0             # records for a "What numbers are in the image ?" reading check (0: off)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_choice("backbone", self.backbone, BACKBONES)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> DemoConfig:
        presets = {
            "default": {},
            "full": dict(n_train=4000, n_val=1000, n_test=2000, seeds=(0, 1, 2)),
            # The CI scale: every stage runs and writes valid files, in about a minute.
            "tiny": dict(n_train=24, n_val=16, n_test=24, samples=4, lrs=(1e-5,), max_new_tokens=24,
                         batch_size=4, eval_batch_size=16, sample_batch_size=8, logging_steps=1),
            # SmolLM2-135M with LoRA, sized for about an hour on 2 CPU cores (see README): its chains
            # run ~100 tokens, so prompts, pairs per prompt and the test split are smaller. One
            # learning rate fixed beforehand (no validation split: each candidate would cost ~10 min).
            # The tiny smoke run on SmolLM2 (~9 min): its chains run ~100 tokens, so the tiny
            # preset's 24 would truncate every one and leave no pairs.
            "smol_tiny": dict(backbone="smol", n_train=32, n_val=0, n_test=24, samples=8, temperature=0.6,
                              top_k=20, lrs=(1e-5,), max_new_tokens=128, direct_max_new_tokens=16,
                              batch_size=4, eval_batch_size=16, sample_batch_size=8, logging_steps=1,
                              read_eval=8, train_options=SMOL_LORA),
            "smol": dict(backbone="smol", n_train=320, n_val=0, n_test=500, samples=8, temperature=0.6,
                         top_k=20, max_new_tokens=128, direct_max_new_tokens=16, max_pairs_per_prompt=2,
                         lrs=(2e-4,), epochs=1.0,
                         batch_size=8, eval_batch_size=32, sample_batch_size=8, logging_steps=2, read_eval=200,
                         train_options=SMOL_LORA),
        }
        if name not in presets:
            raise MMPOError(f"unknown demo preset {name!r}; choose from {', '.join(presets)}")
        return replace(cls(**presets[name]), **overrides)


class _Clock:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def stage(self, name: str):
        clock = self

        class _Stage:
            def __enter__(self):
                print(f"\n== {name} ==", flush=True)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                clock.seconds[name] = round(clock.seconds.get(name, 0.0) + time.perf_counter() - self.t0, 2)

        return _Stage()


def _write_data(cfg: DemoConfig, data_dir: Path) -> dict[str, Path]:
    from mmpo.synth import write_benchmark

    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    return {split: write_benchmark(data_dir, n, seed=cfg.seed, families=list(cfg.families), split_name=split)
            for split, n in sizes.items() if n > 0 or split != "val"}


def _evaluate(model, processor, records, out_dir: Path, name: str, cfg: DemoConfig, *, model_dir: Path,
              modes=("direct", "cot"), shuffle_images: bool = False) -> dict[str, Any]:
    """Evaluate into out_dir (the layout `mmpo report` reads), reusing a finished evaluation of the
    same weights, records and settings from an earlier run into the same OUT."""
    from mmpo.eval.run import evaluate_into
    from mmpo.models.load import weights_digest

    key = {"weights": weights_digest(model_dir), "pids": [r["pid"] for r in records],
           "answers": [str(r["answer"]) for r in records], "modes": list(modes),
           "max_new_tokens": cfg.max_new_tokens, "direct_max_new_tokens": cfg.direct_max_new_tokens,
           "shuffle_images": shuffle_images, "seed": cfg.seed, "prompt_source": PROMPT_SOURCE}
    res = evaluate_into(out_dir, records, key=key, load=lambda: (model, processor), on_mismatch="replace",
                        modes=modes, max_new_tokens=cfg.max_new_tokens,
                        direct_max_new_tokens=cfg.direct_max_new_tokens, batch_size=cfg.eval_batch_size,
                        shuffle_images=shuffle_images, seed=cfg.seed, model_name=name, prompt_source=PROMPT_SOURCE,
                        data_name=records[0].get("_source") if records else None)
    return {"scores": res.scores, "predictions": res.predictions}


def _train(variant: str, init: Path, pairs_dir: Path, out_dir: Path, *, lr: float, seed: int,
           cfg: DemoConfig) -> Path:
    """One `mmpo train` run from the start model; returns the checkpoint folder."""
    from mmpo.train.config import MPOConfig
    from mmpo.train.run import run_training

    loss_type, weights = VARIANTS[variant]
    shutil.rmtree(out_dir, ignore_errors=True)  # the demo retrains its variants; mmpo train refuses a finished run
    return run_training(MPOConfig(
        model_name_or_path=str(init), train_data=str(pairs_dir / "meta.json"), output_dir=str(out_dir),
        loss_type=list(loss_type), loss_weights=list(weights), beta=cfg.beta, learning_rate=lr,
        num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size, lr_scheduler_type="cosine",
        warmup_steps=0.05, weight_decay=0.0, logging_steps=cfg.logging_steps, seed=seed, save_strategy="no",
        use_cpu=True,
        # One reference pass over the pairs serves every run from the same start model (a cache keyed by
        # model, data and tokenization), so no run holds a reference model.
        ref_model="precomputed", ref_cache_dir=str(pairs_dir / "ref_logps"), **cfg.train_options))


def _smol_start(cfg: DemoConfig, out_dir: Path) -> None:
    """Write the aligned smol model: SmolLM2 from its GGUF file plus the shipped (or retrained) alignment."""
    from mmpo.pretrain.smol_align import AlignConfig, save_aligned_smol

    train = folder = None
    if cfg.from_scratch:
        base = AlignConfig(seed=cfg.seed)
        train = replace(base, vision_steps=max(1, int(base.vision_steps * cfg.pretrain_scale)),
                        lm_steps=max(1, int(base.lm_steps * cfg.pretrain_scale)))
        folder = out_dir.parent / "alignment"
    elif cfg.base:
        folder = cfg.base
    if out_dir.exists():
        shutil.rmtree(out_dir)
    save_aligned_smol(out_dir, cfg.seed, train=train, folder=folder)


def _tiny_start(cfg: DemoConfig, out_dir: Path) -> None:
    """Write the tiny base model: the shipped checkpoint, another one (cfg.base), or one retrained now."""
    from mmpo.pretrain.digits import DigitsConfig, shipped_base, train_digits

    if cfg.from_scratch:
        base = DigitsConfig(seed=cfg.seed)
        train_digits(replace(base, perception_steps=max(1, int(base.perception_steps * cfg.pretrain_scale)),
                             mixed_steps=max(1, int(base.mixed_steps * cfg.pretrain_scale)),
                             warmup_steps=max(1, int(base.warmup_steps * min(1.0, cfg.pretrain_scale)))), out_dir)
        return
    src = Path(cfg.base) if cfg.base else shipped_base()
    if not (src / "config.json").exists():
        raise MMPOError(f"no base checkpoint at {src}; run `mmpo demo --from-scratch` to train one")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(src, out_dir)


def _load(path: Path):
    from mmpo.models import load_model

    return load_model(path, dtype="float32")


def _comparisons(evals: dict[str, dict[str, Any]], pairs: list[tuple[str, str]], modes, seed: int):
    from mmpo.eval.report import paired_difference

    def outcomes(name: str, mode: str) -> dict[str, int]:
        return {p["pid"]: int(p["verdict"] == "correct") for p in evals[name]["predictions"] if p["mode"] == mode}

    out = []
    for a, b in pairs:
        for mode in modes:
            iv = paired_difference(outcomes(b, mode), outcomes(a, mode), seed=seed)  # mean(a) - mean(b)
            out.append({"a": a, "b": b, "mode": mode, "n": iv["n"], "diff": iv["estimate"],
                        "ci95": [iv["low"], iv["high"]], "significant": not (iv["low"] <= 0.0 <= iv["high"])})
    return out


def _table(results: dict[str, Any]) -> str:
    lines = ["| model | direct | CoT | CoT - direct | format failures (CoT) |", "|---|---|---|---|---|"]
    for name, s in results["models"].items():
        d, c = s["modes"]["direct"], s["modes"]["cot"]
        lines.append(f"| {name} | {100 * d['accuracy']:.1f} | {100 * c['accuracy']:.1f} | "
                     f"{100 * (c['accuracy'] - d['accuracy']):+.1f} | {100 * c['format_failure_rate']:.1f}% |")
    lines += ["", "| comparison | mode | difference (points) | 95% CI (paired bootstrap) |", "|---|---|---|---|"]
    for c in results["comparisons"]:
        lo, hi = c["ci95"]
        lines.append(f"| {c['a']} - {c['b']} | {c['mode']} | {100 * c['diff']:+.1f} | "
                     f"[{100 * lo:+.1f}, {100 * hi:+.1f}] |")
    sh = results["shuffled_images"]
    where = "when asked to list them" if "prompt" in sh.get("reading", {}) else "in its chains"
    lines += ["", f"{results['start_model']} with shuffled images: CoT {100 * sh['cot_accuracy']:.1f}% "
              f"(chance is about {100 * sh.get('chance', 0):.1f}%); numbers read right {where}: "
              f"{100 * (sh['reading_accuracy'] or 0):.1f}%"]
    return "\n".join(lines)


def _chance(records: list[dict[str, Any]]) -> float:
    """Accuracy of always giving each question type's most frequent answer (a text-only baseline)."""
    from collections import Counter, defaultdict

    by_q: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        by_q[r["question"]][str(r["answer"])] += 1
    return sum(c.most_common(1)[0][1] for c in by_q.values()) / max(1, len(records))


def run_demo(cfg: DemoConfig, out: str | Path) -> dict[str, Any]:
    import torch

    from mmpo.data.files import write_json
    from mmpo.demo.reading import reading_accuracy
    from mmpo.eval.report import write_comparison, write_training_curves
    from mmpo.eval.run import load_eval_records
    from mmpo.pairs.build import build_pairs, format_summary
    from mmpo.sample.run import SampleOptions, run_sampling

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    torch.manual_seed(cfg.seed)
    settings: dict[str, Any] = {"config": asdict(cfg)}

    with clock.stage("data"):
        paths = _write_data(cfg, out / "data")
        test = load_eval_records(paths["test"])
        val = load_eval_records(paths["val"]) if "val" in paths else []
        print(f"train {cfg.n_train}, val {cfg.n_val}, test {cfg.n_test} records in {out / 'data'}")

    # The model every variant starts from: the tiny base model, or the aligned smol model.
    start = "aligned" if cfg.backbone == "smol" else "base"
    with clock.stage(start):
        start_dir = out / "models" / start
        (_smol_start if cfg.backbone == "smol" else _tiny_start)(cfg, start_dir)
        model, processor = _load(start_dir)
        evals = {start: _evaluate(model, processor, test, out / "eval" / start, start, cfg, model_dir=start_dir)}
        shuffled = _evaluate(model, processor, test, out / "eval" / f"{start}-shuffled",
                             f"{start} (shuffled images)", cfg, modes=("cot",), shuffle_images=True,
                             model_dir=start_dir)
        if cfg.read_eval:  # a model that never writes "The numbers are ..." in its chains is asked directly
            from mmpo.demo.reading import read_check

            reading = read_check(model, processor, test[: cfg.read_eval], batch_size=cfg.eval_batch_size)
        else:
            reading = reading_accuracy(test, evals[start]["predictions"])
        shuffled_summary = {"cot_accuracy": shuffled["scores"]["modes"]["cot"]["accuracy"],
                            "reading_accuracy": reading["accuracy"], "reading": reading,
                            "chance": _chance(test)}
        example = next((p for p in evals[start]["predictions"] if p["mode"] == "cot"
                        and p["verdict"] == "correct"), None)
        val_start = (_evaluate(model, processor, val, out / "eval" / f"val-{start}", start, cfg, modes=("cot",),
                              model_dir=start_dir)
                    if val and len(cfg.lrs) > 1 else None)
        del model

    runs_by_seed: list[dict[str, Any]] = []
    best_lr = None
    for seed in cfg.seeds:
        tag = "" if len(cfg.seeds) == 1 else f"-seed{seed}"
        root = out if not tag else out / f"seed{seed}"
        with clock.stage("sample"):
            samples = root / "samples" / "train.jsonl"
            summary = run_sampling(SampleOptions(
                model=str(start_dir), data=str(paths["train"]), n=cfg.samples, out=str(samples), seed=seed,
                temperature=cfg.temperature, top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens,
                batch_size=cfg.sample_batch_size, prompt_source=PROMPT_SOURCE))
            pair_stats = build_pairs([samples], root / "pairs", max_pairs_per_prompt=cfg.max_pairs_per_prompt,
                                     seed=seed, name="digits")
            print(format_summary(pair_stats))
            if pair_stats["pairs"]["total"] == 0:
                raise MMPOError("sampling gave no preference pairs (every prompt all right or all wrong); "
                                "try more samples or a higher temperature")
        if best_lr is None:
            with clock.stage("select"):
                best_lr, selection = _select_lr(cfg, start_dir, root, val, seed)
                if val_start is not None:
                    selection[f"{start}_val_cot"] = val_start["scores"]["modes"]["cot"]["accuracy"]
                settings["selection"] = selection
        with clock.stage("train"):
            dirs = {"mpo": root / "models" / "mpo"}
            shutil.rmtree(dirs["mpo"], ignore_errors=True)
            selected = root / "models" / f"select-mpo-lr{best_lr:g}"
            if selected.exists():  # the selection run at the chosen setting is the MPO model
                shutil.move(str(selected), dirs["mpo"])
            else:
                _train("mpo", start_dir, root / "pairs", dirs["mpo"], lr=best_lr, seed=seed, cfg=cfg)
            for variant in ("sft_chosen", "dpo"):
                dirs[variant] = _train(variant, start_dir, root / "pairs", root / "models" / variant, lr=best_lr,
                                       seed=seed, cfg=cfg)
            for stale in (root / "models").glob("select-mpo-lr*"):
                shutil.rmtree(stale, ignore_errors=True)
        with clock.stage("evaluate"):
            seed_evals = {start: evals[start]}
            for name, d in dirs.items():
                m, p = _load(d)
                seed_evals[name] = _evaluate(m, p, test, out / "eval" / f"{name}{tag}", name, cfg, model_dir=d)
                del m
        runs_by_seed.append({"seed": seed, "root": root, "dirs": dirs, "evals": seed_evals, "pairs": pair_stats,
                             "sampling": {"responses_per_s": summary.get("responses_per_s")}})

    with clock.stage("report"):
        first = runs_by_seed[0]
        tag = "" if len(cfg.seeds) == 1 else f"-seed{first['seed']}"
        report_dir = out / "report"
        names = [start, "mpo", "sft_chosen", "dpo"]
        write_comparison([out / "eval" / (n if n == start else n + tag) for n in names], report_dir,
                         names=names, baseline=start, seed=cfg.seed)
        write_training_curves([first["dirs"][n] for n in names[1:]], report_dir, names=names[1:])
        pairs = [("mpo", start), ("sft_chosen", start), ("dpo", start), ("mpo", "sft_chosen"),
                 ("mpo", "dpo")]
        results = {
            "models": {n: first["evals"][n]["scores"] for n in names},
            "shuffled_images": shuffled_summary,
            "comparisons": _comparisons(first["evals"], pairs, ("cot", "direct"), cfg.seed),
            "pairs": {k: first["pairs"][k] for k in ("prompts", "responses", "pairs", "pass_rate_histogram",
                                                     "prompts_without_pairs", "verdicts")},
            "settings": {**settings, "sampling": first["sampling"]},
            "start_model": start,
            "example_chain": None if example is None else {k: example.get(k) for k in
                                                           ("pid", "question", "answer", "response", "verdict")},
        }
        if len(runs_by_seed) > 1:
            results["seeds"] = _spread(runs_by_seed, names, pairs, cfg.seed)
    # Written after the report stage closes, so its own time is in the file.
    results["seconds"] = {**clock.seconds, "total": round(sum(clock.seconds.values()), 2)}
    table = _table(results)
    (report_dir / "results.md").write_text(table + "\n", encoding="utf-8")
    write_json(out / "results.json", results)
    print("\n" + table)
    print(f"\nresults: {out / 'results.json'}\nreport: {report_dir}/ (report.md, direct_vs_cot.png, "
          f"training_curves.png)\ntotal {results['seconds']['total']:.0f} s")
    from mmpo.inspector.run import write_inspector

    print(f"inspector: {write_inspector([out], out / 'inspect')['index']} (open it in a browser)")
    return results


def _select_lr(cfg: DemoConfig, start_dir: Path, root: Path, val, seed: int) -> tuple[float, dict[str, Any]]:
    """Train MPO at each candidate learning rate; keep the best CoT accuracy on the validation split."""
    if len(cfg.lrs) == 1:  # nothing to choose: no validation runs
        return cfg.lrs[0], {"criterion": "fixed beforehand (one candidate)", "chosen_lr": cfg.lrs[0],
                            "controls": "SFT on chosen and DPO alone use the same learning rate, pairs and steps"}
    if not val:
        raise MMPOError(f"choosing among learning rates {cfg.lrs} needs a validation split (n_val > 0)")
    val_scores = {}
    for lr in cfg.lrs:
        ckpt = _train("mpo", start_dir, root / "pairs", root / "models" / f"select-mpo-lr{lr:g}", lr=lr, seed=seed,
                      cfg=cfg)
        m, p = _load(ckpt)
        val_scores[lr] = _evaluate(m, p, val, root / "eval" / f"val-mpo-lr{lr:g}", f"mpo lr {lr:g}", cfg,
                                   modes=("cot",), model_dir=ckpt)["scores"]["modes"]["cot"]["accuracy"]
        del m
    best = max(cfg.lrs, key=lambda lr: (val_scores[lr], -lr))  # ties: the smaller step
    print(f"chosen learning rate {best:g} (validation CoT: "
          + ", ".join(f"{k:g}: {100 * v:.1f}%" for k, v in val_scores.items()) + ")")
    return best, {"criterion": "CoT accuracy on the validation split",
                  "candidates": {f"{k:g}": v for k, v in val_scores.items()}, "chosen_lr": best,
                  "controls": "SFT on chosen and DPO alone use the chosen learning rate, the same pairs and steps"}


def _spread(runs_by_seed, names, pairs, seed: int) -> dict[str, Any]:
    """Per-seed accuracies and differences, and their mean and standard deviation across seeds."""
    import statistics

    per_seed, acc = [], {}
    for run in runs_by_seed:
        row = {"seed": run["seed"],
               "accuracy": {n: {m: run["evals"][n]["scores"]["modes"][m]["accuracy"] for m in ("direct", "cot")}
                            for n in names},
               "comparisons": _comparisons(run["evals"], pairs, ("cot",), seed)}
        per_seed.append(row)
        for n in names:
            for m in ("direct", "cot"):
                acc.setdefault(n, {}).setdefault(m, []).append(row["accuracy"][n][m])
    spread = {n: {m: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0}
                  for m, v in modes.items()} for n, modes in acc.items()}
    return {"per_seed": per_seed, "spread": spread}
