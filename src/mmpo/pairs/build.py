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
from collections import Counter
from pathlib import Path
from typing import Any

from mmpo.data.files import write_json
from mmpo.errors import ON_ERROR, MMPOError, check_choice
from mmpo.pairs.samples import VERDICTS, iter_samples

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


def build_pairs(paths: list[str | os.PathLike], out_dir: str | os.PathLike, *, max_pairs_per_prompt: int = 15,
                seed: int = 0, on_error: str = "raise", name: str | None = None) -> dict[str, Any]:
    """Read samples files, write the MMPR layout into out_dir, return the stats (also in stats.json)."""
    if max_pairs_per_prompt < 1:
        raise MMPOError(f"--max-pairs-per-prompt must be >= 1, got {max_pairs_per_prompt}")
    check_choice("--on-error", on_error, ON_ERROR)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MMPOError(f"--out {out_dir} is a file; pairs are written into a folder (meta.json + one JSONL per subset)")
    skips: list[dict[str, Any]] = []
    subsets: dict[str, list[dict[str, Any]]] = {}
    images: dict[str, list[str]] = {}
    hist = Counter({b: 0 for b in PASS_RATE_BUCKETS})
    verdicts = Counter({v: 0 for v in (*VERDICTS, "unlabelled")})
    kinds = Counter({"correctness": 0, "format": 0, "dropout_ntp": 0})
    no_pairs = Counter({"all_correct": 0, "all_wrong": 0, "no_ground_truth_without_ntp": 0, "other": 0})
    skipped = Counter({"substring": 0, "over_cap": 0, "ntp_identical": 0})
    n_prompts = n_resp = n_trunc = with_answer = 0

    for _path, _line, s in iter_samples(paths, on_error=on_error, skips=skips):
        n_prompts += 1
        resp = s["responses"]
        n_resp += len(resp)
        n_trunc += sum(bool(r.get("truncated")) for r in resp)
        v = Counter(r.get("verdict") or "unlabelled" for r in resp)
        verdicts.update(v)
        has_gt = s.get("answer") not in (None, "")
        if has_gt:
            with_answer += 1
            hist[pass_rate_bucket(v["correct"], len(resp))] += 1
        got = prompt_pairs(s, max_pairs=max_pairs_per_prompt, seed=seed)
        skipped.update(got["counts"])
        base = _subset_name(name or s.get("source") or "mmpo")
        ratio = (s.get("settings") or {}).get("dropout_ratio")
        n_here = 0
        for kind in ("correctness", "format", "dropout_ntp"):
            if not got[kind]:
                continue
            subset = base + (SUFFIX[kind] if kind in SUFFIX else _ratio_tag(ratio))
            answer_gt = None if kind == "dropout_ntp" or not has_gt else _answer_text(s["answer"])
            for chosen, rejected in got[kind]:
                subsets.setdefault(subset, []).append({
                    "image": s["image"], "question": s["prompt"], "chosen": chosen,
                    "rejected": rejected, "answer_gt": answer_gt})
                if s["image"] is not None:
                    images.setdefault(subset, []).append(s["image"])
            kinds[kind] += len(got[kind])
            n_here += len(got[kind])
        if n_here == 0:
            if not has_gt and not any("ntp_prefix" in r for r in resp):
                no_pairs["no_ground_truth_without_ntp"] += 1
            elif has_gt and v["correct"] == len(resp):
                no_pairs["all_correct"] += 1
            elif has_gt and v["correct"] == 0:
                no_pairs["all_wrong"] += 1
            else:
                no_pairs["other"] += 1

    meta = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for subset, rows in subsets.items():
        root = _common_root(images.get(subset, []))
        for row in rows:
            if row["image"] is None:
                del row["image"]  # text-only: the key is absent, as in MMPR (the authors' reader fails on null)
            else:
                row["image"] = os.path.relpath(os.path.abspath(row["image"]), root)
        ann = out_dir / f"{subset}.jsonl"
        tmp = ann.with_name(ann.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, ann)
        # Absolute, as the authors' loader opens it from any working directory; mmpo's reader still
        # finds it next to meta.json when the folder moves.
        meta[subset] = {"root": root, "annotation": str(ann.resolve()), "data_augment": False,
                        "repeat_time": 1, "length": len(rows)}
    write_json(out_dir / "meta.json", meta)

    stats = {
        "files": [str(p) for p in paths],
        "prompts": n_prompts,
        "prompts_with_answer": with_answer,
        "prompts_without_answer": n_prompts - with_answer,
        "responses": n_resp,
        "verdicts": dict(verdicts),
        "format_failures": verdicts["format_failure"],
        "truncated_responses": n_trunc,
        "pass_rate_histogram": {b: hist[b] for b in PASS_RATE_BUCKETS},
        "pairs": {**dict(kinds), "total": sum(kinds.values())},
        "prompts_without_pairs": dict(no_pairs),
        "pairs_not_made": dict(skipped),
        "skips": {"count": len(skips), "items": skips},
        "subsets": {k: v["length"] for k, v in meta.items()},
        "max_pairs_per_prompt": max_pairs_per_prompt,
        "seed": seed,
    }
    write_json(out_dir / "stats.json", stats)
    return stats


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


def prompt_pairs(sample: dict[str, Any], *, max_pairs: int = 15, seed: int = 0) -> dict[str, Any]:
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
