"""`mmpo demo`: the whole MPO loop on the embedded default, with the paper's controls.

    from mmpo.demo.pipeline import DemoConfig, run_demo
    results = run_demo(DemoConfig.preset("default"), out="demo-out")

Stages (each writes into OUT and is timed in results.json):
  data      train prompts, a validation split, a held-out test split (`mmpo synth`, digits family)
  base      the shipped base model (or a retrained one, `mmpo.pretrain.digits`), evaluated direct and
            CoT, plus the shuffled-image check and the share of numbers its chains read right
  sample    one round of the loop (`mmpo.iterate.round`): N chains per training prompt, then pairs
  select    MPO at each candidate learning rate, scored by CoT accuracy on the validation split
  train     MPO at the chosen setting, and the controls on the same pairs and steps:
            SFT on the chosen responses, and DPO alone
  evaluate  every model, direct and CoT, on the test split
  report    comparison table with paired-bootstrap intervals, the direct-vs-CoT figure, curves
After the base model only answers are used, never gold chains (as in the paper's data).

`backbone="smol"` (`mmpo demo --backbone smol`) starts instead from SmolLM2-135M-Instruct with the
shipped vision alignment (`mmpo.pretrain.smol_align`), trains every variant with LoRA, and adds a
reading check. Rerunning into the same OUT reuses finished work: sampling resumes its file, a
finished training of the same settings is kept, and an evaluation is reused when the model's
weights, the records and the settings are all unchanged (`mmpo.eval.run.evaluate_into`).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from mmpo.demo.presets import BACKBONES, PRESETS, VARIANTS, DemoConfig
from mmpo.errors import MMPOError
from mmpo.eval.options import EvalOptions
from mmpo.eval.report import EvalRun

__all__ = ["BACKBONES", "PRESETS", "DemoConfig", "run_demo"]
# The comparisons the demo reports (a - b), on the test split.
NAMES = ("mpo", "sft_chosen", "dpo")


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


def run_demo(cfg: DemoConfig, out: str | Path) -> dict[str, Any]:
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Clock()
    torch.manual_seed(cfg.seed)
    eval_opts = EvalOptions(**cfg.eval, seed=cfg.seed)
    with clock.stage("data"):
        paths = _write_data(cfg, out / "data")
        print(f"train {cfg.n_train}, val {cfg.n_val}, test {cfg.n_test} records in {out / 'data'}")
    start = "aligned" if cfg.backbone == "smol" else "base"
    with clock.stage(start):
        start_dir = out / "models" / start
        base = _start_model(cfg, start, start_dir, paths, out, eval_opts)
    runs, settings = [], {"config": dataclasses.asdict(cfg)}
    best_lr = None
    for seed in cfg.seeds:
        tag = "" if len(cfg.seeds) == 1 else f"-seed{seed}"
        root = out if not tag else out / f"seed{seed}"
        rnd = _round(cfg, seed, start_dir, root, paths)
        with clock.stage("sample"):
            pair_stats = rnd.sample_and_pair()
        if best_lr is None:
            with clock.stage("select"):
                best_lr, settings["selection"] = _select_lr(cfg, rnd, root, base["val"], paths, eval_opts)
                if base["val_eval"] is not None:
                    settings["selection"][f"{start}_val_cot"] = base["val_eval"].modes()["cot"]["accuracy"]
        with clock.stage("train"):
            dirs = _train_variants(rnd, root, best_lr)
        with clock.stage("evaluate"):
            evals = {start: base["eval"]}
            for name, d in dirs.items():
                res = _evaluate(d, base["test"], out / "eval" / f"{name}{tag}", eval_opts, name, paths["test"])
                evals[name] = EvalRun(name, res.scores, res.predictions)
        runs.append({"seed": seed, "dirs": dirs, "evals": evals, "pairs": pair_stats,
                     "sampling": {"responses_per_s": rnd.sampling.get("responses_per_s")}})
    with clock.stage("report"):
        results = _report(cfg, out, start, runs, base, settings)
    # Written after the report stage closes, so its own time is in the file.
    results["seconds"] = {**clock.seconds, "total": round(sum(clock.seconds.values()), 2)}
    return _finish(out, results)


def _write_data(cfg: DemoConfig, data_dir: Path) -> dict[str, Path]:
    from mmpo.synth import write_benchmark

    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    return {split: write_benchmark(data_dir, n, seed=cfg.seed, families=list(cfg.families), split_name=split)
            for split, n in sizes.items() if n > 0 or split != "val"}


def _evaluate(model_dir: Path, records, out: Path, opts: EvalOptions, name: str, data: Path, **kw):
    from mmpo.iterate.round import evaluate

    return evaluate(model_dir, records, out, dataclasses.replace(opts, data=str(data)), name=name,
                    on_mismatch="replace", **kw)


def _start_model(cfg: DemoConfig, start: str, start_dir: Path, paths, out: Path, opts: EvalOptions) -> dict:
    """Write the start model and evaluate it: test (direct and CoT), shuffled images, reading, validation."""
    from mmpo.demo.reading import reading_accuracy
    from mmpo.eval.run import load_eval_records
    from mmpo.models import load_model

    (_smol_start if cfg.backbone == "smol" else _tiny_start)(cfg, start_dir)
    test = load_eval_records(paths["test"])
    val = load_eval_records(paths["val"]) if "val" in paths else []
    loaded = load_model(start_dir, dtype=opts.dtype)
    res = _evaluate(start_dir, test, out / "eval" / start, opts, start, paths["test"], loaded=loaded)
    shuffled = _evaluate(start_dir, test, out / "eval" / f"{start}-shuffled",
                         dataclasses.replace(opts, modes=("cot",), shuffle_images=True),
                         f"{start} (shuffled images)", paths["test"], loaded=loaded)
    if cfg.read_eval:  # a model that never writes "The numbers are ..." in its chains is asked directly
        from mmpo.demo.reading import READ_MAX_NEW_TOKENS, read_check

        reading = read_check(*loaded, test[: cfg.read_eval], batch_size=opts.batch_size,
                             max_new_tokens=READ_MAX_NEW_TOKENS)
    else:
        reading = reading_accuracy(test, res.predictions)
    val_eval = None
    if val and len(cfg.lrs) > 1:
        v = _evaluate(start_dir, val, out / "eval" / f"val-{start}", dataclasses.replace(opts, modes=("cot",)),
                      start, paths["val"], loaded=loaded)
        val_eval = EvalRun(start, v.scores, v.predictions)
    example = next((p for p in res.predictions if p["mode"] == "cot" and p["verdict"] == "correct"), None)
    return {"test": test, "val": val, "eval": EvalRun(start, res.scores, res.predictions), "val_eval": val_eval,
            "example": example,
            "shuffled": {"cot_accuracy": shuffled.scores["modes"]["cot"]["accuracy"],
                         "reading_accuracy": reading["accuracy"], "reading": reading, "chance": _chance(test)}}


def _round(cfg: DemoConfig, seed: int, start_dir: Path, root: Path, paths):
    """The demo's one round: sampling from the start model, pairs, and the training fields of every run."""
    from mmpo.iterate.round import Round
    from mmpo.pairs.options import PairOptions
    from mmpo.sample.options import SampleOptions

    training = {**cfg.training, "seed": seed, "ref_cache_dir": str(root / "pairs" / "ref_logps")}
    return Round(start=start_dir, samples=root / "samples" / "train.jsonl", pairs_dir=root / "pairs",
                 sample=SampleOptions(**cfg.sample, data=str(paths["train"]), seed=seed),
                 pairs=PairOptions(**cfg.pairs, seed=seed), training=training, name="digits",
                 on_mismatch="replace")  # a rerun with another preset into the same OUT starts its samples over


def _select_lr(cfg: DemoConfig, rnd, root: Path, val, paths, opts: EvalOptions) -> tuple[float, dict[str, Any]]:
    """Train MPO at each candidate learning rate; keep the best CoT accuracy on the validation split."""
    if len(cfg.lrs) == 1:  # nothing to choose: no validation runs
        return cfg.lrs[0], {"criterion": "fixed beforehand (one candidate)", "chosen_lr": cfg.lrs[0],
                            "controls": "SFT on chosen and DPO alone use the same learning rate, pairs and steps"}
    if not val:
        raise MMPOError(f"choosing among learning rates {cfg.lrs} needs a validation split (n_val > 0)")
    val_scores = {}
    for lr in cfg.lrs:
        ckpt = rnd.train(root / "models" / f"select-mpo-lr{lr:g}", **VARIANTS["mpo"], learning_rate=lr)
        res = _evaluate(ckpt, val, root / "eval" / f"val-mpo-lr{lr:g}", dataclasses.replace(opts, modes=("cot",)),
                        f"mpo lr {lr:g}", paths["val"])
        val_scores[lr] = res.scores["modes"]["cot"]["accuracy"]
    best = max(cfg.lrs, key=lambda lr: (val_scores[lr], -lr))  # ties: the smaller step
    print(f"chosen learning rate {best:g} (validation CoT: "
          + ", ".join(f"{k:g}: {100 * v:.1f}%" for k, v in val_scores.items()) + ")")
    return best, {"criterion": "CoT accuracy on the validation split",
                  "candidates": {f"{k:g}": v for k, v in val_scores.items()}, "chosen_lr": best,
                  "controls": "SFT on chosen and DPO alone use the chosen learning rate, the same pairs and steps"}


def _train_variants(rnd, root: Path, lr: float) -> dict[str, Path]:
    """MPO (the selection run at the chosen rate, when there was one) and the controls, same pairs and steps."""
    models = root / "models"
    dirs = {"mpo": models / "mpo"}
    selected = models / f"select-mpo-lr{lr:g}"
    if selected.exists():  # the selection run at the chosen setting is the MPO model
        shutil.rmtree(dirs["mpo"], ignore_errors=True)
        shutil.move(str(selected), dirs["mpo"])
    rnd.train(dirs["mpo"], **VARIANTS["mpo"], learning_rate=lr)  # reused when the selection run moved in
    for variant in NAMES[1:]:
        dirs[variant] = rnd.train(models / variant, **VARIANTS[variant], learning_rate=lr)
    for stale in models.glob("select-mpo-lr*"):
        shutil.rmtree(stale, ignore_errors=True)
    return dirs


def _smol_start(cfg: DemoConfig, out_dir: Path) -> None:
    """Write the aligned smol model: SmolLM2 from its GGUF file plus the shipped (or retrained) alignment."""
    from mmpo.pretrain.smol_align import AlignConfig, save_aligned_smol

    train = folder = None
    if cfg.from_scratch:
        base = AlignConfig(seed=cfg.seed)
        train = dataclasses.replace(base, vision_steps=max(1, int(base.vision_steps * cfg.pretrain_scale)),
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
        scale = cfg.pretrain_scale
        train_digits(dataclasses.replace(base, perception_steps=max(1, int(base.perception_steps * scale)),
                                         mixed_steps=max(1, int(base.mixed_steps * scale)),
                                         warmup_steps=max(1, int(base.warmup_steps * min(1.0, scale)))), out_dir)
        return
    src = Path(cfg.base) if cfg.base else shipped_base()
    if not (src / "config.json").exists():
        raise MMPOError(f"no base checkpoint at {src}; run `mmpo demo --from-scratch` to train one")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(src, out_dir)


def _chance(records: list[dict[str, Any]]) -> float:
    """Accuracy of always giving each question type's most frequent answer (a text-only baseline)."""
    from collections import Counter, defaultdict

    by_q: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        by_q[r["question"]][str(r["answer"])] += 1
    return sum(c.most_common(1)[0][1] for c in by_q.values()) / max(1, len(records))


def _report(cfg: DemoConfig, out: Path, start: str, runs: list[dict], base: dict, settings: dict) -> dict:
    """report.md, the figure and curves of the first seed; results.json's content."""
    from mmpo.eval.report import paired_comparisons, write_comparison, write_training_curves

    first = runs[0]
    tag = "" if len(cfg.seeds) == 1 else f"-seed{first['seed']}"
    names = [start, *NAMES]
    report_dir = out / "report"
    write_comparison([out / "eval" / (n if n == start else n + tag) for n in names], report_dir,
                     names=names, baseline=start, seed=cfg.seed)
    write_training_curves([first["dirs"][n] for n in NAMES], report_dir, names=list(NAMES))
    pairs = [("mpo", start), ("sft_chosen", start), ("dpo", start), ("mpo", "sft_chosen"), ("mpo", "dpo")]
    example = base["example"]
    results = {
        "models": {n: first["evals"][n].scores for n in names},
        "shuffled_images": base["shuffled"],
        "comparisons": paired_comparisons(first["evals"], pairs, ("cot", "direct"), seed=cfg.seed),
        "pairs": {k: first["pairs"][k] for k in ("prompts", "responses", "pairs", "pass_rate_histogram",
                                                 "prompts_without_pairs", "verdicts")},
        "settings": {**settings, "sampling": first["sampling"]},
        "start_model": start,
        "example_chain": None if example is None else {k: example.get(k) for k in
                                                       ("pid", "question", "answer", "response", "verdict")},
    }
    if len(runs) > 1:
        results["seeds"] = _spread(runs, names, pairs, cfg.seed)
    return results


def _finish(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """Print the table, write results.json and the inspector of the run."""
    from mmpo.data.files import write_json
    from mmpo.data.layout import RESULTS_FILE
    from mmpo.eval.report import differences_table, models_table
    from mmpo.inspector.run import write_inspector

    sh = results["shuffled_images"]
    where = "when asked to list them" if "prompt" in sh.get("reading", {}) else "in its chains"
    table = "\n\n".join([models_table(results["models"]), differences_table(results["comparisons"]),
                         f"{results['start_model']} with shuffled images: CoT {100 * sh['cot_accuracy']:.1f}% "
                         f"(chance is about {100 * sh.get('chance', 0):.1f}%); numbers read right {where}: "
                         f"{100 * (sh['reading_accuracy'] or 0):.1f}%"])
    report_dir = out / "report"
    (report_dir / "results.md").write_text(table + "\n", encoding="utf-8")
    write_json(out / RESULTS_FILE, results)
    print("\n" + table)
    print(f"\nresults: {out / RESULTS_FILE}\nreport: {report_dir}/ (report.md, direct_vs_cot.png, "
          f"training_curves.png)\ntotal {results['seconds']['total']:.0f} s")
    print(f"inspector: {write_inspector([out], out / 'inspect')['index']} (open it in a browser)")
    return results


def _spread(runs, names, pairs, seed: int) -> dict[str, Any]:
    """Per-seed accuracies and differences, and their mean and standard deviation across seeds."""
    import statistics

    from mmpo.eval.report import paired_comparisons

    per_seed, acc = [], {}
    for run in runs:
        row = {"seed": run["seed"],
               "accuracy": {n: {m: run["evals"][n].modes()[m]["accuracy"] for m in ("direct", "cot")}
                            for n in names},
               "comparisons": paired_comparisons(run["evals"], pairs, ("cot",), seed=seed)}
        per_seed.append(row)
        for n in names:
            for m in ("direct", "cot"):
                acc.setdefault(n, {}).setdefault(m, []).append(row["accuracy"][n][m])
    spread = {n: {m: {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0}
                  for m, v in modes.items()} for n, modes in acc.items()}
    return {"per_seed": per_seed, "spread": spread}
