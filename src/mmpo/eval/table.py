"""The paper's Table 1: several benchmarks (rows) by several models in direct and CoT mode (columns).

    table = benchmark_table(runs, baseline="base", n_boot=10_000, seed=0)   # runs: EvalRun, named by model
    write_table(table, "report/")        # report/table.md, report/table.csv, report/table.json

Each eval is one model on one benchmark. A named benchmark's eval (`mmpo eval --benchmark NAME`) carries
`scores["benchmark"]` = {"name", "title", "kind", "primary", "scale", "modes": {mode: summarize(...)}};
a generic eval (a MathVista-schema records file) counts as one benchmark named by its data file, with
accuracy as its primary metric. A cell is the benchmark's primary metric (in % for scale "fraction",
else in the benchmark's own scale). For every model but the baseline, the difference to the baseline
comes with a paired-bootstrap 95% interval: questions (pids both evals have, with equal content hash)
are resampled and the benchmark's own `summarize` recomputed on both models' resampled predictions
(`mmpo.eval.stats.paired_bootstrap_statistic`), so an F1 or a judge's mean score is bootstrapped as
what it is. The breakdown groups of `summarize` (POPE's subsets, MathVerse's versions) are sub-rows
with their own intervals from the same replicates. Questions scored together are resampled as whole
units: by the prediction field a Benchmark names as `bootstrap_unit`, else by `circular_of` (CRPE's
rotations of one question); a unit drawn twice enters twice (pid and unit suffixed `#k`). Where two evals did not ask the same questions
(other pids or other content), where predictions are missing, or where the benchmark's module is not
in this mmpo, the difference has no interval and a footnote says why.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmpo.errors import MMPOError
from mmpo.eval.report import EvalRun

__all__ = ["benchmark_info", "benchmark_table", "model_names", "needs_table", "table_csv", "table_markdown",
           "write_benchmark_report", "write_table"]

MODE_ORDER = ("direct", "cot")


def _generic_summary(m: dict[str, Any]) -> dict[str, Any]:
    by = {k: {g: {"accuracy": b["accuracy"], "n": b["n"]} for g, b in (groups or {}).items() if "accuracy" in b}
          for k, groups in (m.get("by") or {}).items()}
    return {"primary": m["accuracy"], "n": m["n"], "metrics": {"accuracy": m["accuracy"]},
            "by": {k: v for k, v in by.items() if v}}


def benchmark_info(run: EvalRun) -> dict[str, Any]:
    """What the table needs of one eval: the benchmark's name, title, kind, primary, scale, and per mode
    its summary ({"primary", "n", "metrics", "by"}); `generic` for an eval of a plain records file."""
    block = run.scores.get("benchmark")
    if isinstance(block, dict) and block.get("name"):
        return {"name": str(block["name"]), "title": str(block.get("title") or block["name"]),
                "kind": block.get("kind", "rules"), "primary": block.get("primary", "accuracy"),
                "scale": block.get("scale", "fraction"), "generic": False, "modes": dict(block.get("modes") or {})}
    data = run.scores.get("data")
    name = Path(str(data)).name if data else "(unknown data)"
    return {"name": name, "title": name, "kind": "rules", "primary": "accuracy", "scale": "fraction",
            "generic": True, "modes": {mo: _generic_summary(m) for mo, m in run.modes().items()}}


def needs_table(runs: Sequence[EvalRun]) -> bool:
    """The table is written when any eval is of a named benchmark, or the evals span several benchmarks."""
    infos = [benchmark_info(r) for r in runs]
    return any(not i["generic"] for i in infos) or len({i["name"] for i in infos}) > 1


def _group_value(group: dict[str, Any], primary: str) -> float | None:
    if isinstance(group.get(primary), (int, float)):
        return float(group[primary])
    nums = [v for k, v in group.items() if k != "n" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(nums[0]) if len(nums) == 1 else None


def _statistic(bench: Any, primary: str):
    """predictions -> {"": primary, "by/<breakdown>/<group>": value} (the breakdowns with one value per group)."""

    def stat(preds):
        s = bench.summarize(preds)
        out = {"": s.get("primary")}
        for key, groups in (s.get("by") or {}).items():
            for g, vals in (groups or {}).items():
                out[f"by/{key}/{g}"] = _group_value(vals, primary) if isinstance(vals, dict) else None
        return out

    return stat


def _nanmean(values: Sequence[Any]) -> float | None:
    got = [float(v) for v in values if v is not None]
    return sum(got) / len(got) if got else None


def _close(x: Any, y: Any) -> bool:
    return isinstance(x, (int, float)) and isinstance(y, (int, float)) and abs(float(x) - float(y)) <= 1e-9


def _mean_path(bench: Any, primary: str, a: list[dict], b: list[dict]):
    """(scores of a, scores of b, group masks) when the statistic is the mean of each prediction's `score`
    (None left out), checked on the full lists and three sub-lists of each; else None. A breakdown's groups
    join when a prediction field of the breakdown's name gives the membership and each group's value is its
    mean score too. Then the bootstrap is vectorised (`paired_bootstrap_means`): exact, and fast."""
    if bench is None:  # a generic eval: accuracy of the verdicts
        return [float(p.get("verdict") == "correct") for p in a], [float(p.get("verdict") == "correct") for p in b], {}
    if not all("score" in p for p in (*a, *b)):
        return None
    fulls = []
    try:
        for preds in (a, b):
            for k, sub in enumerate((preds, preds[::2], preds[1::2], preds[: len(preds) // 2 or 1])):
                s = bench.summarize(sub)
                if not sub or not _close(s.get("primary"), _nanmean([p["score"] for p in sub])):
                    return None
                if k == 0:
                    fulls.append(s)
    except Exception:  # a summarize that cannot take a sub-list is not a mean either
        return None
    masks = {}
    for key, groups in (fulls[0].get("by") or {}).items():
        if not all(key in p for p in (*a, *b)) or [str(p[key]) for p in a] != [str(p[key]) for p in b]:
            continue
        ok = {}
        for g in groups or {}:
            member = [str(p[key]) == str(g) for p in a]
            mean_a = _nanmean([p["score"] for p, m in zip(a, member) if m])
            mean_b = _nanmean([p["score"] for p, m in zip(b, member) if m])
            ga = _group_value(groups[g], primary) if isinstance(groups[g], dict) else None
            gb_vals = ((fulls[1].get("by") or {}).get(key) or {}).get(g)
            gb = _group_value(gb_vals, primary) if isinstance(gb_vals, dict) else None
            if not (_close(ga, mean_a) and _close(gb, mean_b)):
                break
            ok[f"by/{key}/{g}"] = member
        else:
            masks.update(ok)
    return [p["score"] for p in a], [p["score"] for p in b], masks


# Prediction fields that tie questions scored together, when the benchmark names no `bootstrap_unit`:
# CRPE's `circular_of` (the question whose option rotations count as one).
UNIT_FIELDS = ("circular_of",)


def _unit_field(bench: Any, a: list[dict], b: list[dict]) -> str | None:
    field = getattr(bench, "bootstrap_unit", None) or next(
        (f for f in UNIT_FIELDS if all(f in p for p in (*a, *b))), None)
    return field if field and all(field in p for p in (*a, *b)) else None


def _relabel(unit: str | None):
    """A repeated draw made distinct: pid (and the unit field) suffixed with the repeat's number."""
    def relabel(p: dict, k: int) -> dict:
        q = {**p, "pid": f"{p['pid']}#{k}"}
        if unit:
            q[unit] = f"{p[unit]}#{k}"
        return q

    return relabel


def _clusters(bench: Any, a: list[dict], b: list[dict]) -> list[str] | None:
    """Per question the unit it is resampled with, when the benchmark names one (`bootstrap_unit`: a
    prediction field, as CRPE's original question whose rotations are scored together) and both evals
    carry it alike; else None (each question alone)."""
    field = _unit_field(bench, a, b)
    if field is None:
        return None
    ca, cb = [str(p[field]) for p in a], [str(p[field]) for p in b]
    return ca if ca == cb else None


def _same_questions(a: EvalRun, b: EvalRun, mode: str) -> tuple[list[str], str | None]:
    """(the pids to pair, in order; None) when both evals asked the same questions in `mode`, else
    ([], why not)."""
    pa = {str(p["pid"]): p for p in a.predictions or [] if p["mode"] == mode}
    pb = {str(p["pid"]): p for p in b.predictions or [] if p["mode"] == mode}
    hashed = all("qhash" in p for p in (*pa.values(), *pb.values()))
    if hashed:
        same = [pid for pid in pa if pid in pb and pa[pid]["qhash"] == pb[pid]["qhash"]]
    else:
        from mmpo.eval.report import data_identity  # evals before question hashes: the data file and its size

        same = [pid for pid in pa if pid in pb] if data_identity(a) == data_identity(b) else []
    if len(same) == len(pa) == len(pb) and same:
        return sorted(same), None
    how = "same pid and question hash" if hashed else "same pid and data fingerprint"
    return [], (f"{len(pb)} and {len(pa)} questions, {len(same)} of them the same ({how}): "
                "not the same questions, so no interval")


def _get_benchmark(name: str):
    from mmpo.benchmarks import get_benchmark

    try:
        return get_benchmark(name), None
    except MMPOError as exc:
        return None, str(exc)


def _modes(runs: Sequence[EvalRun]) -> list[str]:
    seen = list(dict.fromkeys(mo for r in runs for mo in benchmark_info(r)["modes"]))
    return [m for m in MODE_ORDER if m in seen] + [m for m in seen if m not in MODE_ORDER]


def benchmark_table(runs: Sequence[EvalRun], *, baseline: str | None = None, n_boot: int = 10_000,
                    seed: int = 0, n_boot_summarize: int | None = None) -> dict[str, Any]:
    """The table as data (what table.json holds). `runs[i].name` is the model's column; several evals of
    one model (one per benchmark) share it. Rows follow `mmpo.benchmarks.BENCHMARK_NAMES`, unknown
    benchmarks (generic evals) after them in the order given. `n_boot`: resamples where the metric is a
    mean score (vectorised); `n_boot_summarize` (default `n_boot`): where `summarize` runs per resample."""
    from mmpo.benchmarks import BENCHMARK_NAMES

    if not runs:
        raise MMPOError("nothing to tabulate: give at least one eval")
    models = list(dict.fromkeys(r.name for r in runs))
    base = baseline or models[0]
    if base not in models:
        raise MMPOError(f"baseline {base!r} is not one of the models {models}")
    modes = _modes(runs)
    slow_boot = n_boot if n_boot_summarize is None else n_boot_summarize
    grid: dict[str, dict[str, tuple[EvalRun, dict[str, Any]]]] = {}
    for r in runs:
        info = benchmark_info(r)
        row = grid.setdefault(info["name"], {})
        if r.name in row:
            raise MMPOError(f"two evals of model {r.name!r} on {info['title']}: {row[r.name][0].source} and "
                            f"{r.source}; pass --names to tell them apart")
        row[r.name] = (r, info)
    order = [n for n in BENCHMARK_NAMES if n in grid] + [n for n in grid if n not in BENCHMARK_NAMES]
    notes: list[str] = []

    def note(text: str) -> int:
        if text not in notes:
            notes.append(text)
        return notes.index(text) + 1

    boot = {"n_boot": n_boot, "slow_boot": slow_boot, "seed": seed, "slow_used": False}
    rows = [_table_row(name, grid[name], models, modes, base, note, boot) for name in order]
    slow_used = boot["slow_used"]
    return {"models": models, "baseline": base, "modes": modes, "n_boot": n_boot, "seed": seed,
            "n_boot_summarize": slow_boot if slow_used and slow_boot != n_boot else None,
            "rows": rows, "notes": notes}


def _table_row(name: str, cells: dict, models: list[str], modes: list[str], base: str, note, boot: dict
               ) -> dict[str, Any]:
    """One benchmark's row: each model's primary per mode, its groups, and the paired differences."""
    first = next(iter(cells.values()))[1]
    primary, scale, title = first["primary"], first["scale"], first["title"]
    for r, info in cells.values():
        if (info["primary"], info["scale"]) != (primary, scale):
            raise MMPOError(f"{title}: {r.source} reports {info['primary']} ({info['scale']}), another eval "
                            f"{primary} ({scale}); evaluate both with the same mmpo")
    bench, why_not = (None, None) if first["generic"] else _get_benchmark(name)
    row = {"name": name, "title": title, "kind": first["kind"], "primary": primary, "scale": scale,
           "generic": first["generic"], "cells": {}, "diffs": {}, "groups": []}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for m in models:
        if m not in cells:
            row["cells"][m] = None
            continue
        r, info = cells[m]
        row["cells"][m] = {mo: ({"value": s.get("primary"), "n": s.get("n")} if (s := info["modes"].get(mo))
                                else None) for mo in modes}
        row["cells"][m]["source"] = r.source
        for mo in modes:
            for key, gs in ((info["modes"].get(mo) or {}).get("by") or {}).items():
                for g, vals in (gs or {}).items():
                    v = _group_value(vals, primary) if isinstance(vals, dict) else None
                    if v is None:
                        continue
                    grp = groups.setdefault((key, str(g)), {"breakdown": key, "group": str(g), "cells": {},
                                                            "diffs": {}})
                    grp["cells"].setdefault(m, {})[mo] = {"value": v, "n": vals.get("n")}
    base_cell = cells.get(base)
    for m in models:
        if m == base or m not in cells:
            continue
        row["diffs"][m] = {}
        if base_cell is None:
            row["no_baseline"] = note(f"{title}: the baseline {base} has no eval of it, so no differences")
            continue
        for mo in modes:
            d = _mode_diff(base_cell, cells[m], m, base, mo, row, bench, why_not, groups, note, boot)
            if d is not None:
                row["diffs"][m][mo] = d
    row["groups"] = list(groups.values())  # in the benchmark's own order (POPE: random, popular, adversarial)
    return row


def _mode_diff(base_cell, cell, m: str, base: str, mo: str, row: dict, bench, why_not, groups: dict, note,
               boot: dict) -> dict[str, Any] | None:
    """Model `m` minus the baseline in mode `mo`, with its paired interval (or a note saying why none);
    the groups' intervals from the same resamples go into `groups`."""
    from mmpo.eval.stats import paired_bootstrap_means, paired_bootstrap_statistic

    (ra, ia), (rb, ib) = base_cell, cell
    title, primary = row["title"], row["primary"]
    sa, sb = ia["modes"].get(mo), ib["modes"].get(mo)
    if not sa or not sb or sa.get("primary") is None or sb.get("primary") is None:
        return None
    d: dict[str, Any] = {"estimate": float(sb["primary"]) - float(sa["primary"])}
    reason = None
    if ra.predictions is None or rb.predictions is None:
        who = ra if ra.predictions is None else rb
        reason = f"{who.name} on {title}: no predictions.jsonl next to {who.source}, so no interval"
    elif not row["generic"] and bench is None:
        reason = f"{title}: {why_not}; the values are the evals' own, without intervals"
    else:
        pids, why = _same_questions(ra, rb, mo)
        if why:
            reason = f"{m} vs {base} on {title}: {why}"
    if reason:
        d["note"] = note(reason)
        return d
    pa = {str(p["pid"]): p for p in ra.predictions if p["mode"] == mo}
    pb = {str(p["pid"]): p for p in rb.predictions if p["mode"] == mo}
    la, lb = [pa[p] for p in pids], [pb[p] for p in pids]
    clusters = _clusters(bench, la, lb)
    fast = _mean_path(bench, primary, la, lb) if clusters is None else None
    boot["slow_used"] = boot["slow_used"] or fast is None
    if fast is not None:
        ivs = paired_bootstrap_means(fast[0], fast[1], groups=fast[2], n_boot=boot["n_boot"], seed=boot["seed"])
    else:
        ivs = paired_bootstrap_statistic(la, lb, _statistic(bench, primary), n_boot=boot["slow_boot"],
                                         seed=boot["seed"], clusters=clusters,
                                         relabel=_relabel(clusters and _unit_field(bench, la, lb)))
    for key, iv in ivs.items():
        if key.startswith("by/"):
            _, bk, g = key.split("/", 2)
            if (bk, g) in groups:
                groups[(bk, g)]["diffs"].setdefault(m, {})[mo] = {
                    "estimate": iv.estimate, "low": iv.low, "high": iv.high, "n": iv.n}
    main = ivs.get("")
    if main is None:
        return None
    return {"estimate": main.estimate, "low": main.low, "high": main.high, "n": main.n}


# ---------------------------------------------------------------- formatting

def _mode_label(mode: str) -> str:
    return "CoT" if mode == "cot" else mode


def _unit(scale: str) -> str:
    return "%" if scale == "fraction" else scale


def _num(x: float | None, scale: str, *, signed: bool = False) -> str:
    if x is None or x != x:  # None or NaN
        return "-"
    v = 100 * x if scale == "fraction" else x
    spec = "+.1f" if scale == "fraction" and signed else ".1f" if scale == "fraction" else "+.2f" if signed else ".2f"
    return format(v, spec)


def _diff_text(d: dict[str, Any] | None, scale: str) -> str:
    if not d:
        return "-"
    text = _num(d["estimate"], scale, signed=True)
    if "low" in d:
        text += f" [{_num(d['low'], scale, signed=True)}, {_num(d['high'], scale, signed=True)}]"
    if "note" in d:
        text += f" ({d['note']})"
    return text


def _columns(table: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, model, mode) per data column: kind "value" (each model) or "diff" (each model but the baseline)."""
    cols = [("value", m, mo) for m in table["models"] for mo in table["modes"]]
    cols += [("diff", m, mo) for m in table["models"] if m != table["baseline"] for mo in table["modes"]]
    return cols


def _n_text(cells: dict[str, Any], models: Sequence[str], modes: Sequence[str]) -> str:
    ns = [str(c[mo]["n"]) for m in models if (c := cells.get(m)) for mo in modes if c.get(mo) and c[mo].get("n")]
    uniq = list(dict.fromkeys(ns))
    return uniq[0] if len(uniq) == 1 else "/".join(uniq) if uniq else "-"


def _label(row: dict[str, Any]) -> str:
    return f"{row['title']} ({row['primary']}, {_unit(row['scale'])})"


def table_markdown(table: dict[str, Any]) -> str:
    """table.md: a row per benchmark and one per breakdown group under it; "-" where a model has no eval."""
    base, models, modes = table["baseline"], table["models"], table["modes"]
    cols = _columns(table)
    head = ["benchmark", "n"] + [f"{m} {_mode_label(mo)}" if k == "value" else f"{m} − {base} {_mode_label(mo)}"
                                 for k, m, mo in cols]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(cols)]

    def cells(row_cells, diffs, scale):
        out = []
        for k, m, mo in cols:
            if k == "value":
                c = (row_cells.get(m) or {}).get(mo)
                out.append(_num(c["value"], scale) if c else "-")
            else:
                out.append(_diff_text((diffs.get(m) or {}).get(mo), scale))
        return out

    for row in table["rows"]:
        label = f"**{_label(row)}**" + (f" ({row['no_baseline']})" if row.get("no_baseline") else "")
        lines.append("| " + " | ".join([label, _n_text(row["cells"], models, modes),
                                        *cells(row["cells"], row["diffs"], row["scale"])]) + " |")
        for g in row["groups"]:
            lines.append("| " + " | ".join([f"{row['title']} · {g['breakdown']}: {g['group']}",
                                            _n_text(g["cells"], models, modes),
                                            *cells(g["cells"], g["diffs"], row["scale"])]) + " |")
    lines += ["", f"Baseline: {base}. Values: each benchmark's primary metric (% where its scale is a fraction; "
              "differences in points). Intervals: 95% paired bootstrap over the questions both evals asked "
              f"({table['n_boot']} resamples"
              + (f"; {table['n_boot_summarize']} where the benchmark's summarize runs on each"
                 if table.get("n_boot_summarize") else "")
              + f", seed {table['seed']}), the benchmark's metric recomputed on each resample. n: questions per "
              "eval (several when the evals differ). \"-\": no eval of that model on that benchmark."]
    for k, text in enumerate(table["notes"], start=1):  # a paragraph each, so that none runs into the next
        lines += ["", f"({k}) {text}"]
    return "\n".join(lines) + "\n"


def _raw(x: float | None, scale: str) -> str:
    if x is None or x != x:
        return ""
    return f"{round(100 * x if scale == 'fraction' else x, 6):g}"


def table_csv(table: dict[str, Any]) -> str:
    """table.csv: one line per benchmark (breakdown and group empty) and per breakdown group; a column per
    model and mode (the value, in `unit`), and per other model and mode the difference to the baseline with
    its interval (`... low`, `... high`; empty without one); `notes` holds the footnotes of the line."""
    base, models, modes = table["baseline"], table["models"], table["modes"]
    head = ["benchmark", "title", "breakdown", "group", "metric", "unit", "n"]
    head += [f"{m} {mo}" for m in models for mo in modes]
    for m in models:
        if m != base:
            for mo in modes:
                head += [f"{m} - {base} {mo}", f"{m} - {base} {mo} low", f"{m} - {base} {mo} high"]
    head.append("notes")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)

    def line(row, breakdown, group, row_cells, diffs):
        scale = row["scale"]
        out = [row["name"], row["title"], breakdown, group, row["primary"], _unit(scale),
               _n_text(row_cells, models, modes).replace("-", "")]
        out += [_raw(((row_cells.get(m) or {}).get(mo) or {}).get("value"), scale) for m in models for mo in modes]
        refs = [table["notes"][row["no_baseline"] - 1]] if row.get("no_baseline") and not breakdown else []
        for m in models:
            if m == base:
                continue
            for mo in modes:
                d = (diffs.get(m) or {}).get(mo) or {}
                out += [_raw(d.get("estimate"), scale), _raw(d.get("low"), scale), _raw(d.get("high"), scale)]
                if "note" in d and table["notes"][d["note"] - 1] not in refs:
                    refs.append(table["notes"][d["note"] - 1])
        out.append(" ".join(refs))
        w.writerow(out)

    for row in table["rows"]:
        line(row, "", "", row["cells"], row["diffs"])
        for g in row["groups"]:
            line(row, g["breakdown"], g["group"], g["cells"], g["diffs"])
    return buf.getvalue()


def write_table(table: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """DIR/table.md, DIR/table.csv and DIR/table.json (the table as data); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "table.md", "csv": out / "table.csv", "json": out / "table.json"}
    paths["md"].write_text(table_markdown(table), encoding="utf-8")
    paths["csv"].write_text(table_csv(table), encoding="utf-8")
    paths["json"].write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return paths


def model_names(runs: Sequence[EvalRun], inputs: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """The model (column) of each eval: `names[i]` when given one per eval (as `--names a,b,c`), each
    KEY=NAME of `names` when all have one (KEY: the scores' `model` as written, its last path part, or the
    eval dir as given), else the scores' `model`: its last path part (`runs/mpo` -> `mpo`), or the whole
    string where two models share that part. Evals of one model on several benchmarks share a column."""
    models = [str(r.scores.get("model") or Path(inputs[i]).name) for i, r in enumerate(runs)]
    short = [Path(m.rstrip("/\\")).name or m for m in models]
    clash = {s for s in short if len({m for m, t in zip(models, short) if t == s}) > 1}
    default = [m if s in clash else s for m, s in zip(models, short)]
    if not names:
        return default
    if all("=" in n for n in names):
        mapping = dict(n.split("=", 1) for n in names)
        used, out = set(), []
        for i, d in enumerate(default):
            keys = [k for k in (models[i], short[i], str(inputs[i]), str(inputs[i]).rstrip("/")) if k in mapping]
            used.update(keys)
            out.append(mapping[keys[0]] if keys else d)
        unused = [k for k in mapping if k not in used]
        if unused:
            raise MMPOError(f"--names: {', '.join(unused)} match no eval's model or dir (models: "
                            f"{', '.join(dict.fromkeys(models))})")
        return out
    if len(names) != len(runs):
        raise MMPOError(f"--names needs one name per eval ({len(runs)}) or MODEL=NAME items, got {len(names)}")
    return list(names)


def write_benchmark_report(runs: Sequence[EvalRun], out_dir: str | os.PathLike, *, baseline: str | None = None,
                           n_boot: int = 10_000, seed: int = 0, same_questions_only: bool = False,
                           n_boot_summarize: int | None = None) -> dict[str, Any]:
    """`mmpo report` over evals of named benchmarks or of several: table.md/.csv/.json, and report.md.

    One benchmark: report.md and comparison.json as `write_comparison` writes them (accuracy, format
    failures, the direct-vs-CoT figure), then the table. Several: report.md holds the table, then per
    benchmark that comparison of its evals (or why there is none); comparison.json holds those by
    benchmark; direct_vs_cot.png a point per model and benchmark whose metric is a fraction. Returns {"table", "markdown", "paths", "figure"}.
    """
    from mmpo.data.files import write_json
    from mmpo.eval.report import compare, comparison_markdown, write_comparison

    out = Path(out_dir)
    table = benchmark_table(runs, baseline=baseline, n_boot=n_boot, seed=seed, n_boot_summarize=n_boot_summarize)
    paths = write_table(table, out)
    table_md = "## Benchmarks\n\n" + table_markdown(table)
    by_bench: dict[str, list[EvalRun]] = {}
    for r in runs:
        by_bench.setdefault(benchmark_info(r)["name"], []).append(r)
    figure = None
    if len(by_bench) == 1:
        base = baseline if baseline in {r.name for r in runs} else None
        comp = write_comparison(runs, out, baseline=base, n_boot=n_boot, seed=seed,
                                same_questions_only=same_questions_only)
        md = comp["markdown"] + "\n" + table_md
        figure = comp.get("figure")
    else:
        parts, comps = [table_md], {}
        for row in table["rows"]:
            group = by_bench[row["name"]]
            base = baseline if baseline in {r.name for r in group} else None
            parts.append(f"\n## {row['title']}: direct vs chain-of-thought accuracy\n")
            try:
                comp = compare(group, baseline=base, n_boot=n_boot, seed=seed,
                               same_questions_only=same_questions_only)
            except MMPOError as exc:
                parts.append(f"No comparison: {exc}\n")
                continue
            comps[row["name"]] = comp
            parts.append(comparison_markdown(comp))
        points = [(f"{m} · {row['title']}", c["direct"]["value"], c["cot"]["value"]) for row in table["rows"]
                  if row["scale"] == "fraction" for m, c in row["cells"].items()
                  if c and c.get("direct") and c.get("cot") and c["direct"]["value"] is not None
                  and c["cot"]["value"] is not None]
        if points:
            from mmpo.eval import plots

            figure = str(out / "direct_vs_cot.png")
            plots.direct_vs_cot(points, figure, title="Direct vs chain-of-thought, per benchmark")
            parts.insert(1, "\nFigure: `direct_vs_cot.png`, each model on each benchmark scored as a fraction at "
                            "(direct, CoT) of its primary metric (points under the 45° line: CoT lowers it).\n")
        md = "\n".join(parts)
        write_json(out / "comparison.json", {"benchmarks": comps})
    (out / "report.md").write_text(md, encoding="utf-8")
    return {"table": table, "markdown": md, "paths": paths, "figure": figure}
