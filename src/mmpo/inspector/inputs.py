"""What each path given to `mmpo inspect` is, told by its files (docs/formats.md):

    found = find_inputs(["samples.jsonl", "pairs/", "evals/mpo", "report/", "demo-out/"])
    found.samples, found.pairs, found.evals, found.reports, found.records

- a samples file: `mmpo sample` output, a JSONL whose lines have `prompt` and `responses`
- a pairs folder: `meta.json` (MMPR layout), or the meta.json itself
- an eval folder: `scores.json` next to `predictions.jsonl` (or either file)
- a report folder: `report.md` or `comparison.json` (and the PNGs beside them)
- a demo folder: `results.json`, with `samples/`, `pairs/`, `eval/*/`, `report/` and `data/`

A path that is none of these is an `InputError` naming it and what was expected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mmpo.data.files import parse_json
from mmpo.errors import InputError

EXPECTED = ("a samples file (mmpo sample), a pairs folder (meta.json), an eval folder (scores.json + "
            "predictions.jsonl), a report folder (report.md) or a demo folder (results.json)")


@dataclass
class Inputs:
    """The inputs found, by kind, in the order given (a demo folder adds its parts)."""

    samples: list[Path] = field(default_factory=list)
    pairs: list[Path] = field(default_factory=list)       # folders holding meta.json
    evals: list[tuple[str, Path]] = field(default_factory=list)   # (name, folder)
    reports: list[Path] = field(default_factory=list)
    records: list[Path] = field(default_factory=list)     # benchmark files to find eval questions in
    compare: tuple[str, str] | None = None                # the gained/lost view's first choice (A, B)
    notes: list[str] = field(default_factory=list)
    given: list[tuple[str, str]] = field(default_factory=list)   # (kind, path) as the user gave them

    def add_eval(self, folder: Path, name: str | None = None) -> None:
        """Add an eval folder under a name no other eval has (its folder name, else parent/name)."""
        taken = {n for n, _ in self.evals}
        if any(folder.resolve() == f.resolve() for _, f in self.evals):
            return
        name = name or folder.name
        if name in taken:
            name = f"{folder.parent.name}/{folder.name}"
        base, k = name, 2
        while name in taken:
            name, k = f"{base} ({k})", k + 1
        self.evals.append((name, folder))


def find_inputs(paths: list[str | os.PathLike]) -> Inputs:
    """Sort the given paths into samples files, pairs folders, evals, reports and demo parts."""
    if not paths:
        raise InputError(f"nothing to inspect: give {EXPECTED}")
    found = Inputs()
    for p in paths:
        path = Path(p)
        kind = classify(path)
        found.given.append((kind, str(path)))
        if kind == "samples":
            found.samples.append(path)
        elif kind == "pairs":
            found.pairs.append(path if path.is_dir() else path.parent)
        elif kind == "eval":
            found.add_eval(path if path.is_dir() else path.parent)
        elif kind == "report":
            found.reports.append(path if path.is_dir() else path.parent)
        else:
            _add_demo(path, found)
    return found


def classify(path: Path) -> str:
    """samples, pairs, eval, report or demo; an InputError for anything else."""
    if not path.exists():
        raise InputError("does not exist", path=path)
    if path.is_dir():
        if (path / "results.json").is_file():
            return "demo"
        if (path / "meta.json").is_file():
            return "pairs"
        if (path / "scores.json").is_file():
            if not (path / "predictions.jsonl").is_file():
                raise InputError("an eval folder needs predictions.jsonl next to scores.json", path=path)
            return "eval"
        if (path / "report.md").is_file() or (path / "comparison.json").is_file():
            return "report"
        raise InputError(f"a folder mmpo inspect does not recognise; expected {EXPECTED}", path=path)
    if path.name == "meta.json":
        return "pairs"
    if path.name in ("scores.json", "predictions.jsonl"):
        return classify(path.parent)
    if path.name in ("report.md", "comparison.json"):
        return "report"
    if path.suffix == ".jsonl":
        return _jsonl_kind(path)
    raise InputError(f"not a file mmpo inspect reads; expected {EXPECTED}", path=path)


def _jsonl_kind(path: Path) -> str:
    """A JSONL file is a samples file when its first line has `prompt` and `responses`."""
    with path.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            obj = parse_json(raw, path=path, line=lineno)
            if isinstance(obj, dict) and "responses" in obj and "prompt" in obj:
                return "samples"
            if isinstance(obj, dict) and {"pid", "mode", "verdict"} <= set(obj):
                raise InputError("a predictions file: give its eval folder (with scores.json)", path=path)
            raise InputError(f"not a samples file (no 'prompt' and 'responses'); expected {EXPECTED}",
                             path=path, line=lineno)
    raise InputError("empty file", path=path)


def _add_demo(out: Path, found: Inputs) -> None:
    """A demo folder's parts: its samples, pairs, evals (start model first), report and test data."""
    try:
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=out / "results.json", line=exc.lineno) from None
    start = results.get("start_model") if isinstance(results, dict) else None
    # A run with several seeds keeps each seed's samples and pairs in seedN/; the first seed is shown.
    roots = [out] if (out / "pairs" / "meta.json").is_file() else sorted(out.glob("seed*/"))[:1]
    for root in roots:
        found.samples += sorted((root / "samples").glob("*.jsonl"))
        if (root / "pairs" / "meta.json").is_file():
            found.pairs.append(root / "pairs")
        if root != out:
            found.notes.append(f"{out}: a run with several seeds; samples and pairs shown are {root.name}'s")
    evals = sorted(d for d in (out / "eval").glob("*/") if (d / "scores.json").is_file()
                   and (d / "predictions.jsonl").is_file())
    # The models of results.json in its order (start model, mpo, its controls), then the checks.
    models = list(results.get("models") or {}) if isinstance(results, dict) else []
    evals.sort(key=lambda d: (models.index(d.name) if d.name in models else len(models),
                              d.name.startswith("val-"), d.name))
    for d in evals:
        found.add_eval(d)
    names = [n for n, _ in found.evals]
    if start in names and "mpo" in names and found.compare is None:
        found.compare = (start, "mpo")
    if (out / "report").is_dir():
        found.reports.append(out / "report")
    if (out / "data").is_dir():
        found.records += sorted((out / "data").glob("*.jsonl"))
