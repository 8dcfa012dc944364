"""Reports: markdown tables of eval scores, comparisons across models, and the plots that go with them.

- `scores_markdown(scores)`: the table `mmpo eval` prints (per mode, then broken down).
- `write_comparison(evals, out_dir, ...)`: several evals (eval dirs, `scores.json` files or `EvalRun`s) ->
  `report.md` (direct, CoT, CoT - direct, format failures, and paired-bootstrap 95% intervals of each model
  against the baseline on the questions both answered), `comparison.json`, and `direct_vs_cot.png`.
- `write_training_curves(runs, out_dir, ...)`: training runs (dirs or `trainer_state.json`) -> `training_curves.png`.

Differences are paired per question (`mmpo.eval.stats.paired_bootstrap`) only when each eval's
`predictions.jsonl` lies next to its `scores.json`; otherwise the table shows the accuracies alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.data.layout import PREDICTIONS_FILE, SCORES_FILE, TRAINER_STATE
from mmpo.errors import InputError, MMPOError

__all__ = ["EvalRun", "compare", "comparison_markdown", "differences_table", "load_eval", "models_table",
           "paired_comparisons", "paired_difference", "rounds_markdown", "scores_markdown", "write_comparison", "write_training_curves"]

BREAKDOWNS = ("question_type", "answer_type", "category", "skill")
SKILL_NOTE = "Skill buckets overlap: a record with several skills counts once in each of them."


@dataclass
class EvalRun:
    """One model's evaluation: its scores.json content and, when available, its predictions."""

    name: str
    scores: dict[str, Any]
    predictions: list[dict[str, Any]] | None = None
    source: str | None = None
    _outcomes: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    def modes(self) -> dict[str, dict[str, Any]]:
        return self.scores.get("modes", {})

    def outcomes(self, mode: str) -> dict[str, int]:
        """pid -> 1 if correct else 0, for one mode (from predictions)."""
        if mode not in self._outcomes:
            self._outcomes[mode] = {str(p["pid"]): int(p["verdict"] == "correct")
                                    for p in (self.predictions or []) if p["mode"] == mode}
        return self._outcomes[mode]


# ---------------------------------------------------------------- loading

def _read_json(path: Path) -> Any:
    if not path.exists():
        raise InputError("file does not exist", path=path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None


def validate_scores(scores: Any, *, path=None) -> dict[str, Any]:
    if not isinstance(scores, dict):
        raise InputError("expected a JSON object (an mmpo eval scores file)", path=path)
    modes = scores.get("modes")
    if not isinstance(modes, dict) or not modes:
        raise InputError("missing or empty; is this an `mmpo eval` scores.json?", path=path, field="modes")
    for mode, m in modes.items():
        if not isinstance(m, dict):
            raise InputError("expected an object", path=path, field=f"modes.{mode}")
        for key in ("n", "accuracy"):
            if not isinstance(m.get(key), (int, float)) or isinstance(m.get(key), bool):
                raise InputError("missing or not a number", path=path, field=f"modes.{mode}.{key}")
        if not 0.0 <= m["accuracy"] <= 1.0:
            raise InputError(f"must be a fraction in [0, 1], got {m['accuracy']}", path=path,
                             field=f"modes.{mode}.accuracy")
    return scores


def read_predictions(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Predictions JSONL lines, each checked for the fields a report needs."""
    from mmpo.data.files import iter_jsonl

    out = []
    for line, obj in iter_jsonl(path):
        for key in ("pid", "mode", "verdict"):
            if key not in obj:
                raise InputError("missing required field", path=path, line=line, field=key)
        out.append(obj)
    return out


def load_eval(path: str | os.PathLike, name: str | None = None) -> EvalRun:
    """An eval directory or its scores.json; predictions.jsonl is read when it lies next to it."""
    path = Path(path)
    scores_path = path / SCORES_FILE if path.is_dir() else path
    if path.is_dir() and not scores_path.exists():
        raise InputError(f"no {SCORES_FILE} in this directory", path=path)
    scores = validate_scores(_read_json(scores_path), path=scores_path)
    pred_path = scores_path.parent / PREDICTIONS_FILE
    predictions = read_predictions(pred_path) if pred_path.exists() else None
    if name is None:
        name = scores_path.parent.name if scores_path.name == SCORES_FILE else scores_path.stem
    return EvalRun(name=name, scores=scores, predictions=predictions, source=str(scores_path))


def find_trainer_state(path: str | os.PathLike) -> Path | None:
    """trainer_state.json for a run dir (the final one, else the latest checkpoint's) or the file itself."""
    path = Path(path)
    if path.is_file():
        return path if path.name.endswith(".json") and path.name != SCORES_FILE else None
    if (path / TRAINER_STATE).exists():
        return path / TRAINER_STATE
    ckpts = [p for p in path.glob("checkpoint-*") if (p / TRAINER_STATE).exists()]
    ckpts.sort(key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return ckpts[-1] / TRAINER_STATE if ckpts else None


def load_log_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    state_path = find_trainer_state(path)
    if state_path is None:
        raise InputError(f"no {TRAINER_STATE} here (nor in a checkpoint-* folder)", path=path)
    state = _read_json(state_path)
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise InputError("missing, or not a list of objects", path=state_path, field="log_history")
    return history


# ---------------------------------------------------------------- tables

def _pct(x: float | None, *, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _ci(iv: dict[str, Any] | None) -> str:
    if not iv:
        return "–"
    return f"{_pct(iv['estimate'], signed=True)} [{_pct(iv['low'], signed=True)}, {_pct(iv['high'], signed=True)}]"


def _mode_label(mode: str) -> str:
    return "CoT" if mode == "cot" else mode


def scores_markdown(scores: dict[str, Any]) -> str:
    """The eval summary: one row per mode, then one table per breakdown with a column per mode."""
    modes = scores.get("modes", {})
    lines = []
    head = [f"model: `{scores.get('model', '?')}`", f"data: `{scores.get('data', '?')}`"]
    if scores.get("settings", {}).get("scoring"):
        head.append(f"scoring: {scores['settings']['scoring']}")
    if scores.get("settings", {}).get("shuffle_images"):
        head.append("**images shuffled across questions**")
    lines.append(" · ".join(head))
    lines.append("")
    lines.append("| mode | n | accuracy (%) | 95% CI (Wilson) | format failures (%) | truncated | "
                 "repetitive (%) | cut before an answer (%) |")
    lines.append("|---|---:|---:|---|---:|---:|---:|---:|")
    for mode, m in modes.items():
        ci = m.get("accuracy_ci95")
        ci_txt = f"[{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "–"
        lines.append(f"| {_mode_label(mode)} | {m['n']} | {_pct(m['accuracy'])} | {ci_txt} | "
                     f"{_pct(m.get('format_failure_rate'))} | {m.get('truncated', '–')} | "
                     f"{_pct(m.get('repetition_rate'))} | {_pct(m.get('truncated_without_answer_rate'))} |")
    for key in BREAKDOWNS:
        buckets: dict[str, dict[str, dict]] = {}
        for mode, m in modes.items():
            for bucket, b in (m.get("by", {}).get(key) or {}).items():
                buckets.setdefault(bucket, {})[mode] = b
        if not buckets:
            continue
        lines += ["", f"by {key}:", ""]
        lines.append(f"| {key} | n | " + " | ".join(f"{_mode_label(mo)} (%)" for mo in modes) + " |")
        lines.append("|---|---:|" + "---:|" * len(modes))
        for bucket in sorted(buckets):
            row = buckets[bucket]
            n = max(b["n"] for b in row.values())
            cells = [_pct(row[mo]["accuracy"]) if mo in row else "–" for mo in modes]
            lines.append(f"| {bucket} | {n} | " + " | ".join(cells) + " |")
        if key == "skill":
            lines += ["", SKILL_NOTE]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- comparison

def paired_difference(a: dict[str, int], b: dict[str, int], *, n_boot: int = 10_000, seed: int = 0,
                      keep: set[str] | None = None) -> dict[str, Any] | None:
    """mean(b) - mean(a) on shared pids (only those in `keep`, when given), with a paired-bootstrap 95% interval."""
    from mmpo.eval.stats import paired_bootstrap

    shared = sorted((set(a) & set(b)) if keep is None else (set(a) & set(b) & keep))
    if not shared:
        return None
    iv = paired_bootstrap([a[p] for p in shared], [b[p] for p in shared], n_boot=n_boot, seed=seed)
    return iv.to_dict()


def paired_comparisons(runs: dict[str, EvalRun], pairs: Sequence[tuple[str, str]], modes: Sequence[str], *,
                       seed: int = 0, n_boot: int = 10_000, keep: dict[str, set[str]] | None = None) -> list[dict]:
    """For each (a, b) of `pairs` and each mode both have: mean(a) - mean(b), paired on shared questions.

    Returns [{"a", "b", "mode", "n", "diff", "ci95", "significant"}] (an interval excluding 0 is significant);
    `keep[a]`: only these pids for a (evals of other data, paired on the questions both have).
    """
    out = []
    for a, b in pairs:
        ra, rb = runs[a], runs[b]
        for mode in modes:
            if mode not in ra.modes() or mode not in rb.modes():
                continue
            iv = paired_difference(rb.outcomes(mode), ra.outcomes(mode), n_boot=n_boot, seed=seed,
                                   keep=(keep or {}).get(a))
            if iv is None:
                continue
            out.append({"a": a, "b": b, "mode": mode, "n": iv["n"], "diff": iv["estimate"],
                        "ci95": [iv["low"], iv["high"]], "significant": not (iv["low"] <= 0.0 <= iv["high"])})
    return out


def models_table(scores: dict[str, dict[str, Any]]) -> str:
    """One row per model: direct and CoT accuracy, CoT - direct, CoT format failures (in %)."""
    lines = ["| model | direct | CoT | CoT - direct | format failures (CoT) |", "|---|---|---|---|---|"]
    for name, s in scores.items():
        d, c = s["modes"].get("direct"), s["modes"].get("cot")
        gap = f"{100 * (c['accuracy'] - d['accuracy']):+.1f}" if d and c else "–"
        lines.append(f"| {name} | {_pct(d and d['accuracy'])} | {_pct(c and c['accuracy'])} | {gap} | "
                     f"{_pct(c and c['format_failure_rate'])}{'%' if c else ''} |")
    return "\n".join(lines)


def differences_table(comparisons: Sequence[dict[str, Any]]) -> str:
    """The rows of `paired_comparisons`: a - b per mode, in points, with the 95% interval."""
    lines = ["| comparison | mode | difference (points) | 95% CI (paired bootstrap) |", "|---|---|---|---|"]
    for c in comparisons:
        lo, hi = c["ci95"]
        lines.append(f"| {c['a']} - {c['b']} | {c['mode']} | {100 * c['diff']:+.1f} | "
                     f"[{100 * lo:+.1f}, {100 * hi:+.1f}] |")
    return "\n".join(lines)


def rounds_markdown(summary: dict[str, Any]) -> str:
    """What `mmpo iterate` prints: every round's accuracies, then each round against round 0."""
    scores = {f"round {e['round']} (`{e['model']}`)": e["scores"] for e in summary["rounds"]}
    return models_table(scores) + "\n\n" + differences_table(summary.get("comparisons", []))


def data_identity(run: EvalRun) -> str:
    fp = run.scores.get("data_fingerprint")
    if fp:
        return str(fp)
    # Evals written before fingerprints: the data file they name and how many records it had.
    return f"{run.scores.get('data')}|{run.scores.get('n_records')}"


def _question_hashes(run: EvalRun) -> dict[str, str]:
    if run.predictions is None or not all("qhash" in p for p in run.predictions):
        raise MMPOError(f"{run.name}: its predictions carry no question hashes (an eval from an older mmpo); "
                        "evaluate it again to compare it with evals of other data")
    return {str(p["pid"]): p["qhash"] for p in run.predictions}


def compare(runs: Sequence[EvalRun], *, baseline: str | None = None, n_boot: int = 10_000,
            seed: int = 0, same_questions_only: bool = False) -> dict[str, Any]:
    """Per-model rows: accuracies, CoT - direct, format failures, and paired differences vs the baseline.

    Evals of different data (their questions differ) are refused: pids repeat across files, so pairing
    them would compare different questions. `same_questions_only` pairs them on the questions both have
    (same pid, text, options, answer and image) instead, and says how many.
    """
    if not runs:
        raise MMPOError("nothing to compare: give at least one eval")
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise MMPOError(f"model names must be unique, got {names}; pass --names")
    base_name = baseline or names[0]
    if base_name not in names:
        raise MMPOError(f"baseline {base_name!r} is not one of the models {names}")
    base = runs[names.index(base_name)]
    keep: dict[str, set[str] | None] = {r.name: None for r in runs}
    different = [r for r in runs if data_identity(r) != data_identity(base)]
    if different and not same_questions_only:
        listed = "; ".join(f"{r.name}: {r.scores.get('data')} ({r.scores.get('n_records')} records)"
                           for r in [base, *different])
        raise MMPOError(f"these evals are of different data ({listed}); their questions cannot be paired by pid. "
                        "Compare evals of one data file, or pass --same-questions-only to pair only the questions "
                        "both have (same pid, text, options, answer and image)")
    if different:
        base_hashes = _question_hashes(base)
        for r in different:
            theirs = _question_hashes(r)
            keep[r.name] = {p for p, h in theirs.items() if base_hashes.get(p) == h}
    all_modes = list(dict.fromkeys(mo for r in runs for mo in r.modes()))
    rows = []
    for r in runs:
        modes = r.modes()
        row: dict[str, Any] = {"name": r.name, "source": r.source, "paired": r.predictions is not None}
        for mo in all_modes:
            m = modes.get(mo)
            row[mo] = None if m is None else {
                "n": m["n"], "accuracy": m["accuracy"], "format_failure_rate": m.get("format_failure_rate"),
                "repetition_rate": m.get("repetition_rate")}
        if "direct" in modes and "cot" in modes:
            row["cot_minus_direct"] = modes["cot"]["accuracy"] - modes["direct"]["accuracy"]
            row["cot_minus_direct_ci95"] = (
                paired_difference(r.outcomes("direct"), r.outcomes("cot"), n_boot=n_boot, seed=seed)
                if r.predictions is not None else None)
        vs = {}
        if r is not base:
            for mo in all_modes:
                if mo in modes and mo in base.modes() and r.predictions is not None and base.predictions is not None:
                    vs[mo] = paired_difference(base.outcomes(mo), r.outcomes(mo), n_boot=n_boot, seed=seed,
                                               keep=keep[r.name])
        row["vs_baseline_ci95"] = vs
        rows.append(row)
    return {"baseline": base_name, "modes": all_modes, "n_boot": n_boot, "seed": seed, "rows": rows,
            "same_questions_only": {n: len(k) for n, k in keep.items() if k is not None}}


def comparison_markdown(comparison: dict[str, Any]) -> str:
    modes = comparison["modes"]
    base = comparison["baseline"]
    cols = ["model"] + [f"{_mode_label(mo)} acc (%)" for mo in modes]
    both = "direct" in modes and "cot" in modes
    if both:
        cols.append("CoT − direct (pts) [95% CI]")
    cols += [f"format fail {_mode_label(mo)} (%)" for mo in modes]
    cols += [f"repetitive {_mode_label(mo)} (%)" for mo in modes]
    cols += [f"Δ {_mode_label(mo)} vs {base} (pts) [95% CI]" for mo in modes]
    lines = ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    notes = []
    base_row = next(r for r in comparison["rows"] if r["name"] == base)
    for row in comparison["rows"]:
        cells = [row["name"] + (" (baseline)" if row["name"] == base else "")]
        cells += [_pct(row[mo]["accuracy"]) if row.get(mo) else "–" for mo in modes]
        if both:
            if "cot_minus_direct" not in row:
                cells.append("–")
            elif row.get("cot_minus_direct_ci95"):
                cells.append(_ci(row["cot_minus_direct_ci95"]))
            else:
                cells.append(_pct(row["cot_minus_direct"], signed=True))
        cells += [_pct(row[mo]["format_failure_rate"]) if row.get(mo) else "–" for mo in modes]
        cells += [_pct(row[mo]["repetition_rate"]) if row.get(mo) and row[mo].get("repetition_rate") is not None
                  else "–" for mo in modes]
        for mo in modes:
            if row["name"] == base:
                cells.append("·")
            elif row["vs_baseline_ci95"].get(mo):
                iv = row["vs_baseline_ci95"][mo]
                full = iv["n"] == (row[mo] or {}).get("n") == (base_row.get(mo) or {}).get("n")
                cells.append(_ci(iv) + ("" if full else f" (n={iv['n']})"))
            else:
                cells.append("–")
        if not row["paired"]:
            notes.append(f"{row['name']}: no predictions.jsonl next to its scores, so no paired intervals.")
        lines.append("| " + " | ".join(cells) + " |")
    n_sizes = sorted({row[mo]["n"] for row in comparison["rows"] for mo in modes if row.get(mo)})
    lines += ["", f"n = {', '.join(map(str, n_sizes))} questions. Intervals: paired bootstrap over questions "
              f"({comparison['n_boot']} resamples, seed {comparison['seed']}), on the questions both evals share "
              "(n shown when fewer than either eval's)."]
    for name, n in (comparison.get("same_questions_only") or {}).items():
        notes.append(f"{name}: evaluated on other data; its differences use the {n} questions it shares with "
                     f"{base} (same pid, text, options, answer and image).")
    lines += notes
    return "\n".join(lines) + "\n"


def _as_runs(evals: Iterable[Any], names: Sequence[str] | None) -> list[EvalRun]:
    evals = list(evals)
    if names is not None and len(names) != len(evals):
        raise MMPOError(f"got {len(names)} names for {len(evals)} evals")
    runs = []
    for i, item in enumerate(evals):
        name = names[i] if names is not None else None
        if isinstance(item, EvalRun):
            if name is not None:
                item = EvalRun(name, item.scores, item.predictions, item.source)
            runs.append(item)
        else:
            runs.append(load_eval(item, name=name))
    return runs


def write_comparison(evals: Iterable[Any], out_dir: str | os.PathLike, *, names: Sequence[str] | None = None,
                     baseline: str | None = None, n_boot: int = 10_000, seed: int = 0,
                     title: str | None = None, same_questions_only: bool = False) -> dict[str, Any]:
    """Write report.md, comparison.json and direct_vs_cot.png; return the comparison (with its markdown).

    `evals`: eval dirs, scores.json paths, or `EvalRun`s (for models evaluated in memory).
    """
    from mmpo.data.files import write_json
    from mmpo.eval import plots

    runs = _as_runs(evals, names)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comparison = compare(runs, baseline=baseline, n_boot=n_boot, seed=seed, same_questions_only=same_questions_only)
    md = "## Direct vs chain-of-thought accuracy\n\n" + comparison_markdown(comparison)
    points = [(r["name"], r["direct"]["accuracy"], r["cot"]["accuracy"]) for r in comparison["rows"]
              if r.get("direct") and r.get("cot")]
    if points:
        fig_path = out_dir / "direct_vs_cot.png"
        kwargs = {"title": title} if title else {}
        plots.direct_vs_cot(points, fig_path, **kwargs)
        comparison["figure"] = str(fig_path)
        md += f"\nFigure: `{fig_path.name}` (points under the 45° line: CoT lowers accuracy).\n"
    else:
        md += "\nNo model has both direct and CoT scores, so there is no direct-vs-CoT figure.\n"
    comparison["markdown"] = md
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    write_json(out_dir / "comparison.json", comparison)
    return comparison


def write_training_curves(runs: Iterable[Any], out_dir: str | os.PathLike, *,
                          names: Sequence[str] | None = None) -> Path:
    """training_curves.png from run dirs / trainer_state.json paths, or (name, log_history) pairs."""
    from mmpo.eval import plots

    histories: dict[str, list[dict]] = {}
    runs = list(runs)
    if names is not None and len(names) != len(runs):
        raise MMPOError(f"got {len(names)} names for {len(runs)} training runs")
    for i, item in enumerate(runs):
        if isinstance(item, tuple):
            name, history = item
        else:
            p = Path(item)
            history = load_log_history(p)
            name = p.parent.name if p.is_file() else p.name
        if names is not None:
            name = names[i]
        if name in histories:
            raise MMPOError(f"training run name {name!r} appears twice; pass --names")
        histories[name] = history
    out = Path(out_dir) / "training_curves.png"
    try:
        plots.training_curves(histories, out)
    except ValueError as exc:
        raise MMPOError(f"training curves: {exc}") from None
    return out
