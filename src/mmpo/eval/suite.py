"""`mmpo eval --suite paper --data-root DIR`: every benchmark of the paper's table whose files lie under
DIR, each evaluated into OUT/NAME, and a word on each one skipped (docs/benchmarks.md).

    found, skipped = find_suite_files("benchmarks/", judge=False)   # {name: path}, {name: reason}
    results = run_suite(EvalOptions(model="runs/mpo", out="evals/mpo", suite="paper", data_root="benchmarks/"))

A benchmark's files are found by the names it ships under (`Benchmark.files`, globs matched against
file and folder names, case-insensitively, anywhere below DIR, through links to folders; a glob with
a folder part, such as "MathVista/testmini.json", matches the last parts of a path below DIR, part by
part, so a `*` never crosses a "/": `glob_matches`). Its globs are tried in order (the first is the
preferred split, e.g. testmini before the full set); the first glob that matches exactly one file or
folder wins. A glob matching several is reported as a skip naming them (pass that one with
`--benchmark NAME --data PATH`), never a guess. The suite's own --out is not searched.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from pathlib import Path
from typing import Any

from mmpo.errors import InputError, MMPOError

SUITE_FILE = "suite.json"


def _candidates(root: Path, exclude: Path | None = None) -> list[Path]:
    """Every file and folder below `root`, through links to folders (a data root is often links to
    where the data lie; a folder reached twice is searched once), but none in `exclude` (the suite's
    own output folder)."""
    out = []
    seen = {root.resolve()} | ({exclude.resolve()} if exclude is not None else set())
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        keep = []
        for d in dirnames:
            real = (here / d).resolve()
            if real not in seen:
                seen.add(real)
                keep.append(d)
        dirnames[:] = keep
        out += [here / d for d in dirnames] + [here / f for f in filenames]
    return sorted(out)


def glob_matches(rel: Path, pattern: str) -> bool:
    """Whether `rel` (a path relative to --data-root) ends in parts matching `pattern`'s, each part with
    `fnmatch`, case-insensitively: "testmini.json" matches any file of that name, "MathVista/testmini.json"
    only one inside a folder named MathVista."""
    want = [p.lower() for p in pattern.strip("/").split("/") if p]
    have = [p.lower() for p in rel.parts]
    if not want or len(have) < len(want):
        return False
    return all(fnmatch.fnmatchcase(h, w) for h, w in zip(have[-len(want):], want))


def find_suite_files(data_root: str | os.PathLike, *, judge: bool,
                     exclude: str | os.PathLike | None = None) -> tuple[dict[str, Path], dict[str, str]]:
    """({benchmark: its file or folder}, {benchmark: why it is skipped}) under `data_root`, in the
    paper's order. `judge`: whether a judge was configured (judge-scored benchmarks need one).
    `exclude`: a folder not searched (the suite's --out, when it lies below --data-root: its OUT/pope
    would otherwise match POPE's folder name on a rerun)."""
    from mmpo.benchmarks import BENCHMARK_NAMES, available, get_benchmark

    root = Path(data_root)
    if not root.is_dir():
        raise MMPOError(f"--data-root {root}: not a folder")
    paths = _candidates(root, None if exclude is None else Path(exclude))
    found: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    have = set(available())
    for name in BENCHMARK_NAMES:
        if name not in have:
            skipped[name] = "not available in this version of mmpo"
            continue
        bench = get_benchmark(name)
        hit, why = None, None
        for pattern in bench.files:
            matches = [p for p in paths if glob_matches(p.relative_to(root), pattern)]
            # a match inside another match (a folder's own files) is the same data set
            matches = [p for p in matches if not any(q != p and q in p.parents for q in matches)]
            if len(matches) == 1:
                hit = matches[0]
                break
            if len(matches) > 1 and why is None:
                why = (f"several files match {pattern!r}: " + ", ".join(str(m) for m in matches[:4])
                       + f"; evaluate one with --benchmark {name} --data PATH")
        if hit is None:
            skipped[name] = why or f"no file named {' or '.join(bench.files) or '(none declared)'} under {root}"
        elif bench.kind == "judge" and not judge:
            skipped[name] = f"found {hit}, but it is judge-scored: give --judge-model, --judge-base-url, --judge-prompt"
        else:
            found[name] = hit
    return found, skipped


def run_suite(opts: Any) -> dict[str, Any]:
    """Evaluate every benchmark found (`find_suite_files`) into OUT/NAME; OUT/suite.json lists what ran
    (with its primary scores), what was skipped and why, and what failed on bad input (the error; the
    other benchmarks still run). Returns that content."""
    from mmpo.data.files import write_json
    from mmpo.eval.run import run_eval

    if not opts.out or not opts.model:
        raise MMPOError("--suite needs --model and --out")
    judge = any(getattr(opts, k, None) for k in ("judge_model", "judge_base_url", "judge_prompt"))
    if judge:  # a judge half given fails now, not after the rule-scored benchmarks ran
        opts.check_judge()
    found, skipped = find_suite_files(opts.data_root, judge=judge, exclude=opts.out)
    modes = _suite_modes(opts, found, skipped)
    if not found:
        raise MMPOError(f"--data-root {opts.data_root}: no benchmark to run; "
                        + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    out = Path(opts.out)
    ran: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name, path in found.items():
        print(f"== {name}: {path}", flush=True)
        one = dataclasses.replace(opts, suite=None, data_root=None, benchmark=name, data=str(path),
                                  out=str(out / name), modes=modes[name])
        try:
            result = run_eval(one)
        except InputError as exc:  # one bad file: the others still run; the suite then exits non-zero
            failed[name] = str(exc)
            print(f"{name} failed: {exc}", flush=True)
            continue
        block = result.scores["benchmark"]
        ran[name] = {"data": str(path), "out": str(out / name), "primary": block["primary"],
                     "scale": block["scale"], "scores": {m: block["modes"][m]["primary"] for m in block["modes"]}}
    summary = {"suite": opts.suite, "data_root": str(opts.data_root), "model": opts.model, "ran": ran,
               "skipped": skipped, "failed": failed}
    write_json(out / SUITE_FILE, summary)
    return summary


def _suite_modes(opts: Any, found: dict[str, Path], skipped: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """The modes each found benchmark is asked in: those of --modes it asks (the judge-scored ones ask
    directly only). One that asks none of them moves from `found` to `skipped`, with the reason."""
    from mmpo.benchmarks import BENCHMARK_NAMES, get_benchmark

    out = {}
    for name in list(found):
        asks = get_benchmark(name).modes
        modes = tuple(m for m in opts.modes if m in asks)
        if modes:
            out[name] = modes
        else:
            skipped[name] = (f"found {found.pop(name)}, but it is asked in {', '.join(asks)} only "
                             f"(--modes {','.join(opts.modes)})")
    ordered = {n: skipped.pop(n) for n in BENCHMARK_NAMES if n in skipped}
    skipped.update(ordered)  # in the paper's order again
    return out


def suite_markdown(summary: dict[str, Any]) -> str:
    lines = ["| benchmark | data | " + " | ".join(("direct", "cot")) + " |", "|---|---|---|---|"]
    for name, r in summary["ran"].items():
        pct = r.get("scale") == "fraction"
        cells = [("-" if r["scores"].get(m) is None else f"{100 * r['scores'][m]:.1f}" if pct
                  else f"{r['scores'][m]:.2f}") for m in ("direct", "cot")]
        lines.append(f"| {name} ({r['primary']}) | {r['data']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"skipped {name}: {why}" for name, why in summary["skipped"].items()]
    lines += [f"FAILED {name}: {why}" for name, why in summary.get("failed", {}).items()]
    return "\n".join(lines)


__all__ = ["SUITE_FILE", "find_suite_files", "glob_matches", "run_suite", "suite_markdown"]
