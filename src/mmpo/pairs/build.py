"""Preference pairs from sampled responses, the MPO paper's way, written in the MMPR layout.

Usage (through the CLI):
    mmpo pairs samples.shard0.jsonl samples.shard1.jsonl --out pairs/ --max-pairs-per-prompt 15

Input: the JSONL files `mmpo sample` writes (one line per prompt; read by `mmpo.pairs.samples`).
Rules, per prompt:
- correctness pairs: a correct response (chosen) x an incorrect one (rejected), skipping a pair
  whose chosen extracted answer is a substring of the rejected extracted answer (e.g. "2" / "12"),
  at most K pairs, drawn with a seed derived from (seed, pid) so shard order does not matter;
- format pairs: a correct response x a format failure (no final answer), at most K;
- DropoutNTP pairs (prompts without ground truth, sampled with `--dropout-ntp`): the original
  response is chosen; its first part continued by the model without the image is rejected, at most K.
Identical texts are paired once.

Output in DIR:
- `meta.json`: subset name -> {root, annotation, data_augment, repeat_time, length}. `root` (the
  images' common folder) and `annotation` are absolute paths, as the authors' loader opens them from
  any working directory (mmpo's reader also finds an annotation next to meta.json after a move);
  each line's `image` is relative to `root`, and absent for a text-only pair.
- `<name>_pairs_vqa_correctness_rules.jsonl`, `<name>_pairs_vqa_format_rules.jsonl`,
  `<name>_sr0.5_wo_image.jsonl` (the ratio is the one used at sampling): lines
  `{"image", "question", "chosen", "rejected", "answer_gt"}` (`answer_gt` is null for DropoutNTP).
  `question` is the user-turn prompt text the model saw, without chat template or image tag.
- `stats.json`: counts, pass-rate histogram, pairs by kind, prompts without pairs, skips.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from mmpo.data.files import write_json, write_jsonl
from mmpo.data.layout import PAIRS_META, PAIRS_STATS, VERDICTS
from mmpo.errors import MMPOError
from mmpo.pairs.options import PairOptions
from mmpo.pairs.samples import iter_samples

STAGING = ".staging"  # a rerun's files, written here before they replace the folder's

SUFFIX = {
    "correctness": "_pairs_vqa_correctness_rules",
    "format": "_pairs_vqa_format_rules",
}

# Pass-rate buckets (share of a prompt's responses that are correct): stats.json's histogram and
# the inspector's pass-rate filter.
PASS_RATE_BUCKETS = ("0%", "1-25%", "26-50%", "51-75%", "76-99%", "100%")


def pass_rate_bucket(n_correct: int, n: int) -> str:
    """The PASS_RATE_BUCKETS entry of a prompt with n_correct correct responses out of n."""
    if n_correct == 0:
        return PASS_RATE_BUCKETS[0]
    if n_correct == n:
        return PASS_RATE_BUCKETS[-1]
    pct = 100.0 * n_correct / n
    return PASS_RATE_BUCKETS[1 + min(3, int((pct - 1e-9) // 25))]


def build_pairs(opts: PairOptions) -> dict[str, Any]:
    """Read samples files, write the MMPR layout into opts.out, return the stats (also in stats.json).

    The files are written aside first, then put in place with meta.json last (`_put_in_place`): a
    kill leaves the old complete set, the new one, or a folder without meta.json that every reader
    refuses, never a meta.json beside subset files of another run.
    """
    if not opts.samples:
        raise MMPOError("no samples files given")
    if not opts.out:
        raise MMPOError("--out is required")
    out_dir = Path(opts.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise MMPOError(f"--out {out_dir} is a file; pairs are written into a folder (meta.json + one JSONL per subset)")
    tally = _Tally()
    for _path, _line, s in iter_samples(opts.samples, on_error=opts.on_error, skips=tally.skips):
        tally.add(s, prompt_pairs(s, max_pairs=opts.max_pairs_per_prompt, seed=opts.seed), opts.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {"files": [str(p) for p in opts.samples], **tally.summary(),
             "subsets": {k: len(v) for k, v in tally.subsets.items()},
             "max_pairs_per_prompt": opts.max_pairs_per_prompt, "seed": opts.seed}
    _write_layout(out_dir, tally.subsets, tally.images, stats)
    return stats


class _Tally:
    """The pairs of every prompt, by subset, and the counts stats.json reports."""

    def __init__(self):
        self.skips: list[dict[str, Any]] = []
        self.subsets: dict[str, list[dict[str, Any]]] = {}
        self.images: dict[str, list[str]] = {}
        self.hist = Counter({b: 0 for b in PASS_RATE_BUCKETS})
        self.verdicts = Counter({v: 0 for v in (*VERDICTS, "unlabelled")})
        self.kinds = Counter({"correctness": 0, "format": 0, "dropout_ntp": 0})
        self.no_pairs = Counter({"all_correct": 0, "all_wrong": 0, "no_ground_truth_without_ntp": 0, "other": 0})
        self.skipped = Counter({"substring": 0, "over_cap": 0, "ntp_identical": 0})
        self.prompts = self.responses = self.truncated = self.with_answer = 0

    def add(self, s: dict[str, Any], got: dict[str, Any], name: str | None) -> None:
        resp = s["responses"]
        self.prompts += 1
        self.responses += len(resp)
        self.truncated += sum(bool(r.get("truncated")) for r in resp)
        v = Counter(r.get("verdict") or "unlabelled" for r in resp)
        self.verdicts.update(v)
        has_gt = s.get("answer") not in (None, "")
        if has_gt:
            self.with_answer += 1
            self.hist[pass_rate_bucket(v["correct"], len(resp))] += 1
        self.skipped.update(got["counts"])
        base = _subset_name(name or s.get("source") or "mmpo")
        ratio = (s.get("settings") or {}).get("dropout_ratio")
        n_here = 0
        for kind in ("correctness", "format", "dropout_ntp"):
            subset = base + (SUFFIX[kind] if kind in SUFFIX else _ratio_tag(ratio))
            answer_gt = None if kind == "dropout_ntp" or not has_gt else _answer_text(s["answer"])
            for chosen, rejected in got[kind]:
                self.subsets.setdefault(subset, []).append({
                    "image": s["image"], "question": s["prompt"], "chosen": chosen,
                    "rejected": rejected, "answer_gt": answer_gt})
                if s["image"] is not None:
                    self.images.setdefault(subset, []).append(s["image"])
            self.kinds[kind] += len(got[kind])
            n_here += len(got[kind])
        if n_here == 0:
            self.no_pairs[_why_no_pairs(s, v, has_gt)] += 1

    def summary(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "prompts_with_answer": self.with_answer,
                "prompts_without_answer": self.prompts - self.with_answer, "responses": self.responses,
                "verdicts": dict(self.verdicts), "format_failures": self.verdicts["format_failure"],
                "truncated_responses": self.truncated,
                "pass_rate_histogram": {b: self.hist[b] for b in PASS_RATE_BUCKETS},
                "pairs": {**dict(self.kinds), "total": sum(self.kinds.values())},
                "prompts_without_pairs": dict(self.no_pairs), "pairs_not_made": dict(self.skipped),
                "skips": {"count": len(self.skips), "items": self.skips}}


def _why_no_pairs(s: dict[str, Any], v: Counter, has_gt: bool) -> str:
    if not has_gt and not any("ntp_prefix" in r for r in s["responses"]):
        return "no_ground_truth_without_ntp"
    if has_gt and v["correct"] == len(s["responses"]):
        return "all_correct"
    if has_gt and v["correct"] == 0:
        return "all_wrong"
    return "other"


def _write_layout(out_dir: Path, subsets: dict[str, list[dict]], images: dict[str, list[str]],
                  stats: dict[str, Any]) -> dict[str, Any]:
    """One JSONL per subset, stats.json and meta.json in `out_dir`, written aside and put in place,
    meta.json last."""
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # what a killed run left
    staging.mkdir()
    meta = {}
    for subset, rows in subsets.items():
        root = _common_root(images.get(subset, []))
        for row in rows:
            if row["image"] is None:
                del row["image"]  # text-only: the key is absent, as in MMPR (the authors' reader fails on null)
            else:
                row["image"] = os.path.relpath(os.path.abspath(row["image"]), root)
        write_jsonl(staging / f"{subset}.jsonl", rows)
        # Absolute, as the authors' loader opens it from any working directory; mmpo's reader still
        # finds it next to meta.json when the folder moves.
        meta[subset] = {"root": root, "annotation": str((out_dir / f"{subset}.jsonl").resolve()),
                        "data_augment": False, "repeat_time": 1, "length": len(rows)}
    write_json(staging / PAIRS_STATS, stats)
    write_json(staging / PAIRS_META, meta)
    _put_in_place(staging, out_dir, [f"{k}.jsonl" for k in meta] + [PAIRS_STATS])
    return meta


def _put_in_place(staging: Path, out_dir: Path, names: list[str]) -> None:
    """Move the staged files (subsets, stats.json) and meta.json into `out_dir`: the old meta.json goes
    first (the folder is then refused by readers), meta.json comes last; old subset files no longer
    listed go."""
    old_meta = out_dir / PAIRS_META
    old_names = set()
    if old_meta.is_file():
        try:
            old_names = {Path(v["annotation"]).name for v in json.loads(old_meta.read_text(encoding="utf-8")).values()
                         if isinstance(v, dict) and v.get("annotation")}
        except (ValueError, AttributeError):
            old_names = set()
        old_meta.unlink()
    for name in names:
        os.replace(staging / name, out_dir / name)
    os.replace(staging / PAIRS_META, out_dir / PAIRS_META)
    for name in old_names - set(names):
        if Path(name).name == name and name.endswith(".jsonl"):
            (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(staging, ignore_errors=True)


def _norm(ans: str | None) -> str:
    return re.sub(r"\s+", " ", (ans or "").strip().lower())


def _unique(responses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """First response of each distinct text, in order (identical samples make one pair, not many)."""
    seen, out = set(), []
    for r in responses:
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
    return out


def _draw(candidates: list, k: int, rng: random.Random) -> tuple[list, int]:
    """At most k candidates, drawn without replacement, kept in candidate order; returns (kept, dropped)."""
    if len(candidates) <= k:
        return candidates, 0
    keep = sorted(rng.sample(range(len(candidates)), k))
    return [candidates[i] for i in keep], len(candidates) - k


def prompt_pairs(sample: dict[str, Any], *, max_pairs: int, seed: int) -> dict[str, Any]:
    """Pairs of one prompt: {"correctness": [...], "format": [...], "dropout_ntp": [...], "counts": {...}}.

    Each pair is (chosen_text, rejected_text). The draw depends only on (seed, pid, kind), so the
    result does not depend on which shard or position the prompt came from.
    """
    resp = sample["responses"]
    pid = sample["pid"]
    correct = _unique([r for r in resp if r.get("verdict") == "correct"])
    incorrect = _unique([r for r in resp if r.get("verdict") == "incorrect"])
    failed = _unique([r for r in resp if r.get("verdict") == "format_failure"])
    counts = Counter()

    cands = []
    for c in correct:
        for r in incorrect:
            ca, ra = _norm(c.get("extracted")), _norm(r.get("extracted"))
            # A rejected answer containing the right one (e.g. "12" for "2", "2, 3" for "2") is
            # likely a near-miss or a parsing artefact; the paper drops such pairs.
            if ca and ca in ra:
                counts["substring"] += 1
                continue
            cands.append((c["text"], r["text"]))
    corr, dropped = _draw(cands, max_pairs, random.Random(f"{seed}:{pid}:correctness"))
    counts["over_cap"] += dropped

    cands = [(c["text"], r["text"]) for c in correct for r in failed]
    fmt, dropped = _draw(cands, max_pairs, random.Random(f"{seed}:{pid}:format"))
    counts["over_cap"] += dropped

    cands = []
    for r in _unique([r for r in resp if "ntp_prefix" in r]):
        rejected = r["ntp_prefix"] + r["ntp_continuation"]
        if rejected == r["text"]:
            # The image-free continuation reproduced the original: no preference signal.
            counts["ntp_identical"] += 1
            continue
        cands.append((r["text"], rejected))
    ntp, dropped = _draw(cands, max_pairs, random.Random(f"{seed}:{pid}:dropout_ntp"))
    counts["over_cap"] += dropped
    return {"correctness": corr, "format": fmt, "dropout_ntp": ntp, "counts": counts}


def _subset_name(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("_")
    return name or "mmpo"


def _ratio_tag(ratio: Any) -> str:
    return f"_sr{float(ratio):g}_wo_image" if ratio is not None else "_sr0.5_wo_image"


def pair_kind(subset: str | None) -> str | None:
    """The kind of pairs a subset holds, read from its name's MMPR suffix: correctness, format,
    dropout_ntp, or None for a name without one."""
    for kind, suffix in SUFFIX.items():
        if subset and subset.endswith(suffix):
            return kind
    return "dropout_ntp" if subset and subset.endswith("_wo_image") else None


def _answer_text(answer: Any) -> str:
    return json.dumps(answer) if isinstance(answer, list) else str(answer)


def _common_root(images: list[str]) -> str:
    if not images:
        return str(Path.cwd().resolve())
    dirs = sorted({os.path.dirname(os.path.abspath(p)) for p in images})
    return os.path.commonpath(dirs)


def format_summary(stats: dict[str, Any]) -> str:
    """The printed summary of a pairs run (a few lines a person reads)."""
    p = stats["pairs"]
    v = stats["verdicts"]
    hist = ", ".join(f"{k}: {n}" for k, n in stats["pass_rate_histogram"].items())
    nop = stats["prompts_without_pairs"]
    lines = [
        f"prompts: {stats['prompts']} ({stats['prompts_with_answer']} with an answer, "
        f"{stats['prompts_without_answer']} without)",
        f"responses: {stats['responses']} (correct {v['correct']}, incorrect {v['incorrect']}, "
        f"format failures {v['format_failure']}, unlabelled {v['unlabelled']}; truncated {stats['truncated_responses']})",
        f"pass rate per prompt: {hist}",
        f"pairs: {p['total']} (correctness {p['correctness']}, format {p['format']}, dropout-ntp {p['dropout_ntp']})",
        f"prompts without pairs: all correct {nop['all_correct']}, all wrong {nop['all_wrong']}, "
        f"no answer and no dropout-ntp {nop['no_ground_truth_without_ntp']}, other {nop['other']}",
        f"pairs not made: substring rule {stats['pairs_not_made']['substring']}, over the cap "
        f"{stats['pairs_not_made']['over_cap']}, dropout-ntp identical {stats['pairs_not_made']['ntp_identical']}",
        f"skipped lines: {stats['skips']['count']}",
    ]
    for item in stats["skips"]["items"][:10]:
        field = f" field '{item['field']}'" if item.get("field") else ""
        lines.append(f"  skipped {item['file']}:{item['line']}{field}: {item['reason']}")
    return "\n".join(lines)
