"""The inspector's lists, read with each stage's own reader and written as site tables.

- `write_samples`: `mmpo sample` files (`mmpo.pairs.samples.iter_samples`), one row per prompt with
  its responses and pass rate; also what pairs need to show pids, question types and verdicts.
- `write_pairs`: MMPR pairs folders (`mmpo.data.pairs.load_pairs`, each line once), chosen and
  rejected with their verdicts: from the samples they came from when those are at hand (given, or
  named in the folder's stats.json), else from the subset's kind (`mmpo.pairs.build.pair_kind`).
- `write_evals`: eval folders (`mmpo.eval.report.load_eval`), one row per question with every
  mode's answer; questions and images from the benchmark records the scores name (or --data).

Nothing read is dropped silently: skipped lines are listed, and what could not be shown is a note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mmpo.errors import InputError
from mmpo.inspector.site import Site

UNKNOWN = "unknown"
NO_ANSWER = "no gold answer"


def _answer(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return json.dumps(value) if isinstance(value, list) else str(value)


def _side(text: str, resp: dict[str, Any] | None, verdict: str) -> dict[str, Any]:
    out = {"text": text, "verdict": verdict}
    if resp is not None:
        out["extracted"] = resp.get("extracted")
        out["truncated"] = bool(resp.get("truncated"))
    return out


class SampleIndex:
    """What a pair needs from the prompt it came from, keyed by (image path, prompt text)."""

    def __init__(self):
        self.by_key: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.files: set[str] = set()

    def add(self, path: Path, sample: dict[str, Any]) -> None:
        image = None if sample["image"] is None else os.path.abspath(sample["image"])
        resp = sample["responses"]
        self.by_key.setdefault((image, sample["prompt"]), {
            "pid": sample["pid"], "qtype": (sample.get("record") or {}).get("question_type") or UNKNOWN,
            "question": sample.get("question"),
            "has_answer": _answer(sample.get("answer")) is not None,
            "correct": sum(r.get("verdict") == "correct" for r in resp), "n": len(resp),
            "responses": {r["text"]: r for r in resp}})
        self.files.add(os.path.abspath(path))

    def find(self, image: str | None, question: str) -> dict[str, Any] | None:
        return self.by_key.get((None if image is None else os.path.abspath(image), question))


def write_samples(site: Site, paths: list[Path], *, on_error: str, skips: list[dict[str, Any]],
                  index: SampleIndex) -> dict[str, Any] | None:
    """The samples list: a row per prompt (image, question, answer, pass rate, every response)."""
    from mmpo.pairs.build import PASS_RATE_BUCKETS, pass_rate_bucket
    from mmpo.pairs.samples import iter_samples

    if not paths:
        return None
    table = site.table("samples", vocab=("qtype", "bucket"), plain=("pid",))
    found: list[dict[str, Any]] = []
    for path, line, s in iter_samples(paths, on_error=on_error, skips=found):
        index.add(path, s)
        resp = s["responses"]
        answer = _answer(s.get("answer"))
        correct = sum(r.get("verdict") == "correct" for r in resp)
        qtype = (s.get("record") or {}).get("question_type") or UNKNOWN
        bucket = pass_rate_bucket(correct, len(resp)) if answer is not None else NO_ANSWER
        question = s.get("question") or s["prompt"]
        row = {"pid": s["pid"], "image": site.image(s["image"]), "question": question,
               "prompt": s["prompt"] if s["prompt"] != question else None, "answer": answer, "qtype": qtype, "correct": correct, "n": len(resp),
               "truncated": sum(bool(r.get("truncated")) for r in resp), "source": f"{path}:{line}",
               "responses": [{k: r[k] for k in ("text", "extracted", "verdict", "truncated", "ntp_prefix",
                                                 "ntp_continuation") if k in r} for r in resp]}
        table.add(row, qtype=qtype, bucket=bucket, pid=s["pid"],
                  text=f"{s['pid']} {row['question']} {answer or ''}")
    skips += [{**k, "what": "samples line"} for k in found]
    return {**table.close({"bucket": [*PASS_RATE_BUCKETS, NO_ANSWER]}), "files": [str(p) for p in paths]}


def _question_text(messages: list[dict[str, Any]]) -> str:
    parts = [p.get("text", "") for m in messages if m.get("role") == "user"
             for p in (m["content"] if isinstance(m["content"], list) else [])
             if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(parts)


def _stats_samples(folder: Path) -> list[Path]:
    """Samples files a pairs folder's stats.json names that still exist (for verdicts and pass rates)."""
    try:
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    files = stats.get("files") if isinstance(stats, dict) else None
    return [Path(f) for f in files or [] if isinstance(f, str) and Path(f).is_file()]


def write_pairs(site: Site, folders: list[Path], *, on_error: str, skips: list[dict[str, Any]],
                index: SampleIndex, notes: list[str]) -> dict[str, Any] | None:
    """The pairs list: a row per annotation line, chosen and rejected side by side."""
    from mmpo.data.pairs import load_pairs
    from mmpo.pairs.build import PASS_RATE_BUCKETS, pair_kind, pass_rate_bucket
    from mmpo.pairs.samples import iter_samples

    if not folders:
        return None
    for folder in folders:  # join with the samples the pairs were built from, when they are at hand
        extra = [p for p in _stats_samples(folder) if os.path.abspath(p) not in index.files]
        if extra:
            bad: list[dict[str, Any]] = []
            for path, _line, s in iter_samples(extra, on_error="skip", skips=bad):
                index.add(path, s)
            notes.append(f"{folder}: pids, pass rates and verdicts from {', '.join(map(str, extra))} "
                         "(named in its stats.json)" + (f"; {len(bad)} bad line(s) there not used" if bad else ""))
    table = site.table("pairs", vocab=("subset", "verdict", "qtype", "bucket"), plain=("pid",))
    unmatched = 0
    for folder in folders:
        pairs = load_pairs(folder, on_error=on_error, repeat=False)
        skips += [{**k, "what": "pairs line"} for k in pairs.skipped]
        for p in pairs.pairs:
            image = p.images[0] if p.images and isinstance(p.images[0], str) else None
            question = _question_text(p.messages)
            s = index.find(image, question)
            kind = pair_kind(p.subset)
            if s is None:
                unmatched += 1
                cv, rv = {"correctness": ("correct", "incorrect"), "format": ("correct", "format_failure"),
                          "dropout_ntp": ("original", "without image")}.get(kind, (UNKNOWN, UNKNOWN))
                chosen, rejected = _side(p.chosen, None, cv), _side(p.rejected, None, rv)
            else:
                c, r = s["responses"].get(p.chosen), s["responses"].get(p.rejected)
                chosen = _side(p.chosen, c, (c or {}).get("verdict") or ("original" if c else UNKNOWN))
                rejected = _side(p.rejected, r, (r or {}).get("verdict") or
                                 ("without image" if kind == "dropout_ntp" else UNKNOWN))
            answer = _answer(p.answer_gt)
            pid = s["pid"] if s else None
            qtype = s["qtype"] if s else UNKNOWN
            if s is None:
                bucket = UNKNOWN
            else:
                bucket = pass_rate_bucket(s["correct"], s["n"]) if s["has_answer"] else NO_ANSWER
            verdict = f"{chosen['verdict']} vs {rejected['verdict']}"
            shown = (s or {}).get("question") or question
            row = {"pid": pid, "subset": p.subset, "kind": kind, "image": site.image(image), "question": shown,
                   "prompt": question if question != shown else None, "answer": answer, "qtype": qtype,
                   "pass": [s["correct"], s["n"]] if s else None, "source": f"{p.source}:{p.line}",
                   "chosen": chosen, "rejected": rejected}
            # Search sees the question itself, not the instructions every prompt shares.
            table.add(row, subset=p.subset or UNKNOWN, verdict=verdict, qtype=qtype, bucket=bucket, pid=pid,
                      text=f"{pid or ''} {shown} {answer or ''}")
    if unmatched:
        notes.append(f"{unmatched} pair(s) not found in any samples file: their pid, question type and pass rate "
                     "are unknown and their verdicts follow the subset's kind (give the samples file too)")
    return {**table.close({"bucket": [*PASS_RATE_BUCKETS, NO_ANSWER, UNKNOWN]}),
            "folders": [str(f) for f in folders]}


class RecordFinder:
    """Benchmark records by file, read once, to show an eval's questions and images."""

    def __init__(self, explicit: Iterable[Path], found: Iterable[Path]):
        self.explicit = list(explicit)
        self.found = list(found)
        self.cache: dict[str, dict[str, dict[str, Any]]] = {}

    def _read(self, path: Path, benchmark: str | None = None) -> dict[str, dict[str, Any]]:
        from mmpo.data.records import load_records

        key = f"{benchmark or ''}\0{os.path.abspath(path)}"
        if key not in self.cache:
            if benchmark:  # a named benchmark's file, read as it ships (a TSV, a parquet, a dataset folder)
                from mmpo.benchmarks import get_benchmark

                records = get_benchmark(benchmark).read(path)
            else:
                records = load_records(path)
            self.cache[key] = {str(r["pid"]): r for r in records}
        return self.cache[key]

    def for_scores(self, data: Any, benchmark: str | None = None) -> tuple[dict[str, dict[str, Any]], str | None]:
        """(records by pid, the file they came from) for a scores.json's `data`, or ({}, None); a named
        benchmark's records are read by that benchmark (its own file first, then --data)."""
        named = []
        if isinstance(data, str) and data:
            named.append(Path(data))
            named += [p for p in self.found if p.name == Path(data).name]
        if benchmark:  # its own file first (what the eval read), then --data, each read by the benchmark
            for path in [*named, *self.explicit]:
                if path.exists():
                    return self._read(path, benchmark), str(path)
            return {}, None
        for path in [*self.explicit, *named]:
            if path.is_file():
                return self._read(path), str(path)
        return {}, None


# The fields every prediction has; the rest are the benchmark's own (POPE's gold and pred, a judge's reply).
PREDICTION_FIELDS = ("pid", "mode", "response", "extracted", "verdict", "num_tokens", "truncated", "qhash",
                     "score", "judge_unparsed", "image_from")


def _group_label(value: Any) -> str:
    """A prediction's breakdown group as a filter value (a list, as POPE's subsets, joined)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or UNKNOWN
    return UNKNOWN if value is None else str(value)


def _benchmark(scores: dict[str, Any]) -> dict[str, Any] | None:
    """A named benchmark's block of scores.json, as the page shows it: title, primary metric and scale, and
    per mode its primary value, metrics and breakdown groups."""
    block = scores.get("benchmark")
    if not isinstance(block, dict) or not block.get("name"):
        return None
    modes = {}
    for mode, s in (block.get("modes") or {}).items():
        if isinstance(s, dict):
            modes[mode] = {"primary": s.get("primary"), "n": s.get("n"), "metrics": s.get("metrics") or {},
                           "by": s.get("by") or {}}
    return {"name": block["name"], "title": block.get("title") or block["name"], "kind": block.get("kind"),
            "primary": block.get("primary", "accuracy"), "scale": block.get("scale", "fraction"), "modes": modes}


def write_evals(site: Site, evals: list[tuple[str, Path]], records: RecordFinder,
                notes: list[str]) -> list[dict[str, Any]]:
    """One list per eval: a row per question, each mode's answer side by side; for a named benchmark also
    its fields per prediction (a judge's reply and score), its metrics and a filter per breakdown that is
    a prediction field (POPE's subset)."""
    from mmpo.eval.report import load_eval

    out = []
    for k, (name, folder) in enumerate(evals):
        run = load_eval(folder, name=name)
        modes = list((run.scores.get("settings") or {}).get("modes") or run.modes())
        by_pid: dict[str, dict[str, dict[str, Any]]] = {}
        for pred in run.predictions or []:
            by_pid.setdefault(str(pred["pid"]), {})[pred["mode"]] = pred
        bench = _benchmark(run.scores)
        unreadable = False
        try:
            recs, data_file = records.for_scores(run.scores.get("data"), bench and bench["name"])
        except Exception as exc:  # noqa: BLE001 - the predictions are still worth showing
            recs, data_file, unreadable = {}, None, True
            notes.append(f"eval {name}: its records ({run.scores.get('data')!r}) could not be read ({exc}); "
                         "questions and images not shown")
        group_keys: dict[str, str] = {}   # breakdown -> the prediction field holding it (POPE: subset -> subsets)
        if bench:
            preds = run.predictions or []
            for key in dict.fromkeys(k for s in bench["modes"].values() for k in s["by"]):
                field = next((f for f in (key, f"{key}s") if preds and all(f in p for p in preds)), None)
                if field:
                    group_keys[key] = field
        if not recs and not unreadable:
            notes.append(f"eval {name}: questions and images not shown, its records "
                         f"({run.scores.get('data')!r}) are not found here; pass --data FILE")
        missing = 0
        vocab = ("qtype", *(f"v_{m}" for m in modes), *(f"g_{k}" for k in group_keys))
        table = site.table(f"eval/{k}", vocab=vocab, plain=("pid", "differ"))
        for pid, preds in by_pid.items():
            rec = recs.get(pid)
            missing += bool(recs) and rec is None
            shown = recs.get(str(next(iter(preds.values())).get("image_from") or pid)) or rec
            row = {"pid": pid, "question": rec["question"] if rec else None,
                   "image": site.image_of(shown.get("image_ref", shown.get("image_path"))) if shown else None,
                   "image_from": next(iter(preds.values())).get("image_from"),
                   "answer": _answer(rec.get("answer")) if rec else None,
                   "choices": rec.get("choices") if rec else None,
                   "qtype": (rec.get("question_type") or UNKNOWN) if rec else UNKNOWN,
                   "modes": {m: {f: p.get(f) for f in ("response", "extracted", "verdict", "num_tokens", "truncated")}
                             for m, p in preds.items()}}
            for m, p in preds.items():
                if "score" in p:
                    row["modes"][m]["score"] = p["score"]
                if p.get("judge_unparsed"):
                    row["modes"][m]["judge_unparsed"] = True
                own = {k: v for k, v in p.items() if k not in PREDICTION_FIELDS}
                if own:
                    row["modes"][m]["fields"] = own
            first = next(iter(preds.values()))
            groups = {f"g_{k}": _group_label(first.get(f)) for k, f in group_keys.items()}
            extracted = {str(p.get("extracted")) for p in preds.values()}
            verdicts = {f"v_{m}": (preds[m]["verdict"] or "unlabelled") if m in preds else "missing" for m in modes}
            table.add(row, qtype=row["qtype"], pid=pid, differ=int(len(preds) > 1 and len(extracted) > 1),
                      text=f"{pid} {row['question'] or ''} {row['answer'] or ''}", **verdicts, **groups)
        if missing:
            notes.append(f"eval {name}: {missing} question(s) not in {data_file}, shown without question or image")
        acc = {m: s.get("accuracy") for m, s in run.modes().items()}
        out.append({**table.close(), "name": name, "folder": str(folder), "modes": modes, "accuracy": acc,
                    "model": run.scores.get("model"), "data": data_file or run.scores.get("data"),
                    "benchmark": bench, "groups": list(group_keys)})
    return out


def write_reports(site: Site, reports: list[Path]) -> list[dict[str, Any]]:
    """Each report folder's markdown (report.md, results.md) as HTML and its PNGs copied."""
    from mmpo.inspector.markdown import to_html

    out = []
    for k, folder in enumerate(reports):
        parts = []
        for name in ("results.md", "report.md"):
            if (folder / name).is_file():
                parts.append({"name": name, "html": to_html((folder / name).read_text(encoding="utf-8"))})
        figures = [{"name": png.name, "src": site.copy_file(png, f"report/{k}/{png.name}")}
                   for png in sorted(folder.glob("*.png"))]
        if not parts and not figures:
            raise InputError("a report folder without report.md, results.md or PNGs", path=folder)
        out.append({"folder": str(folder), "parts": parts, "figures": figures})
    return out
