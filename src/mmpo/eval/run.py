"""Direct-answer vs chain-of-thought evaluation on a MathVista-schema benchmark.

    result = run_eval("models/tiny", "data/test.jsonl", "evals/tiny")         # what `mmpo eval` runs
    records = load_eval_records("data/test.jsonl")
    result = evaluate_model(model, processor, records, modes=("direct", "cot"))   # in memory
    result.scores["modes"]["cot"]["accuracy"], result.predictions[0]["verdict"]

Direct mode asks for the answer alone (`build_prompt(record, "direct")`), CoT mode uses the paper's prompt
(`build_prompt(record, "cot")`, the one sampling uses). Decoding is greedy and batched; every response is
scored with `mmpo.answers.check_answer`. `evaluate_into` writes an output folder (predictions appended as they
come, then scores.json) and resumes it: a rerun reuses the predictions made under the same key (weights,
records, settings). `run_eval` (`mmpo eval`) and the demo both write their folders through it.

Scores: per mode n, accuracy (fraction) with a Wilson 95% interval, format-failure rate, truncated count, the
share of degenerately repetitive responses (`mmpo.eval.repetition`) and of responses cut before any answer, and
breakdowns by question_type, answer_type, metadata.category and skill (metadata.skills). A record with
several skills counts in each, so skill buckets overlap; the other breakdowns partition the records.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.answers import SCORINGS
from mmpo.data.files import (
    JsonlAppender,
    OutputLock,
    read_jsonl,
    truncate_partial_tail,
    writable_dir,
    write_json,
)
from mmpo.data.prompts import PROMPT_SOURCES
from mmpo.errors import InputError, MMPOError, check_choice

NONE_BUCKET = "(none)"
SETTINGS_FILE = ".eval-settings.json"
SCORES_FILE = "scores.json"
PREDICTIONS_FILE = "predictions.jsonl"


@dataclass
class EvalResult:
    predictions: list[dict[str, Any]]  # one per record and mode, in file order
    scores: dict[str, Any]  # the scores.json content


def run_eval(model_path: str | os.PathLike, data_path: str | os.PathLike, out_dir: str | os.PathLike, *,
             modes: Sequence[str] = ("direct", "cot"), scoring: str = "default", max_new_tokens: int = 512,
             batch_size: int = 8, limit: int | None = None, shuffle_images: bool = False, seed: int = 0,
             device: str | None = None, dtype: str | None = None, progress: bool = True,
             direct_max_new_tokens: int | None = None, prompt_source: str = "auto",
             trust_remote_code: bool = False) -> EvalResult:
    """`mmpo eval`: DIR/predictions.jsonl (appended as answers come) and DIR/scores.json.

    Rerunning the same command after an interruption keeps the predictions already written and
    finishes the rest; a directory holding predictions made with other settings, or of a model
    whose weights changed since, is refused.
    """
    from mmpo.models import load_model
    from mmpo.models.load import check_checkpoint_dir, weights_digest

    modes = _check_modes(modes)
    check_choice("--scoring", scoring, SCORINGS)
    check_choice("--prompt-source", prompt_source, PROMPT_SOURCES)
    if max_new_tokens < 1 or batch_size < 1 or (direct_max_new_tokens is not None and direct_max_new_tokens < 1):
        raise MMPOError("--max-new-tokens, --direct-max-new-tokens and --batch-size must be >= 1")
    records = load_eval_records(data_path, limit=limit)
    check_checkpoint_dir(model_path)
    if shuffle_images:
        derangement(len(records), seed)  # fail now on a single record, not after loading the model
    key = {"model": str(model_path), "data": str(data_path), "modes": modes, "scoring": scoring,
           "max_new_tokens": max_new_tokens, "batch_size": batch_size, "limit": limit,
           "shuffle_images": shuffle_images, "seed": seed, "weights": weights_digest(model_path),
           "prompt_source": prompt_source}
    if direct_max_new_tokens is not None:
        key["direct_max_new_tokens"] = direct_max_new_tokens
    device = device or _default_device()
    return evaluate_into(out_dir, records, key=key, load=lambda: load_model(model_path, device=device, dtype=dtype,
                                                                   trust_remote_code=trust_remote_code),
                         extra_settings={"limit": limit, "device": str(device)}, modes=modes, scoring=scoring,
                         max_new_tokens=max_new_tokens, batch_size=batch_size,
                         direct_max_new_tokens=direct_max_new_tokens, shuffle_images=shuffle_images, seed=seed,
                         progress=progress, model_name=str(model_path), data_name=str(data_path),
                         prompt_source=prompt_source)


def evaluate_into(out_dir: str | os.PathLike, records: Sequence[dict[str, Any]], *, key: dict[str, Any],
                  load: Callable[[], tuple[Any, Any]], on_mismatch: str = "raise",
                  extra_settings: dict[str, Any] | None = None, **options: Any) -> EvalResult:
    """Evaluate into an output folder, resuming what an earlier run with the same `key` wrote there.

    `key`: everything that decides the answers (weights, records, settings), kept in
    DIR/.eval-settings.json. Predictions made under an equal key are reused and the rest appended
    as they come; a folder written under another key is refused (`on_mismatch="raise"`) or
    evaluated afresh (`"replace"`). `load()` gives (model, processor), called only when answers
    are missing. `options` go to `evaluate_model`; `extra_settings` join the scores' settings.
    Writes DIR/predictions.jsonl and DIR/scores.json.
    """
    check_choice("on_mismatch", on_mismatch, ("raise", "replace"))
    out = writable_dir(out_dir)
    with OutputLock(out / PREDICTIONS_FILE):
        return _evaluate_into(out, records, key, load, on_mismatch, extra_settings, options)


def _evaluate_into(out: Path, records, key, load, on_mismatch, extra_settings, options) -> EvalResult:
    pred_path, key_path = out / PREDICTIONS_FILE, out / SETTINGS_FILE
    key = json.loads(json.dumps(key))  # as it reads back from the file (tuples become lists)
    done: list[dict[str, Any]] = []
    if pred_path.exists() and pred_path.stat().st_size > 0:
        old = json.loads(key_path.read_text(encoding="utf-8")) if key_path.exists() else None
        if old == key:
            truncate_partial_tail(pred_path)
            done = read_jsonl(pred_path)
        elif on_mismatch == "raise":
            diff = sorted(k for k in key if old is None or old.get(k) != key[k])
            raise MMPOError(f"{pred_path} holds predictions from a run with other settings "
                            f"({', '.join(diff) if old else 'unknown settings'}); use a new --out or delete it")
        else:
            pred_path.unlink()
    write_json(key_path, key)
    modes = options.get("modes", ("direct", "cot"))
    have = {(str(p["pid"]), p["mode"]) for p in done}
    missing = any((rec["pid"], m) not in have for rec in records for m in modes)
    model, processor = load() if missing else (None, None)
    if done:
        print(f"{out}: reusing {len(done)} predictions (same weights, records and settings)", flush=True)
    with JsonlAppender(pred_path, fsync_every=64, locked=True) as sink:
        result = evaluate_model(model, processor, records, done=done, on_prediction=sink.write, **options)
    result.scores["settings"].update(extra_settings or {})
    if done:
        result.scores["resumed_predictions"] = len(done)
    write_json(out / SCORES_FILE, result.scores)
    return result


def _lenient(mode: str) -> bool | None:
    """Direct answers are bare ("B", "12"), so they are read leniently; CoT and boxed responses must state
    their answer in the asked format (strict under default scoring; mathvista scoring is always lenient)."""
    return True if mode == "direct" else None


def _check_modes(modes: Sequence[str]) -> list[str]:
    from mmpo.data.prompts import PROMPT_STYLES

    modes = list(dict.fromkeys(modes))
    if not modes:
        raise MMPOError("no modes given")
    for m in modes:
        if m not in PROMPT_STYLES:
            raise MMPOError(f"unknown mode {m!r}; choose from {', '.join(PROMPT_STYLES)}")
    return modes


def evaluate_model(model: Any, processor: Any, records: Sequence[dict[str, Any]], *,
                   modes: Sequence[str] = ("direct", "cot"), scoring: str = "default", max_new_tokens: int = 512,
                   prompt_source: str = "auto",
                   batch_size: int = 8, shuffle_images: bool = False, seed: int = 0,
                   images: Sequence[Any] | None = None, progress: bool = True, done: Iterable[dict] = (),
                   on_prediction: Any = None, model_name: str | None = None,
                   data_name: str | None = None, direct_max_new_tokens: int | None = None) -> EvalResult:
    """Evaluate an in-memory model on `records` (validated MathVista-schema dicts with answers).

    `images[i]`: the PIL image of `records[i]` (default: loaded from each record's `image_path`).
    `shuffle_images`: pair each question with another record's image (a seeded derangement), to check
    that accuracy depends on the image. `done`: predictions from an interrupted run to reuse;
    `on_prediction(pred)`: called for each new prediction (e.g. to append it to a file).
    `direct_max_new_tokens`: a tighter length limit for direct answers (default: `max_new_tokens`);
    a model that keeps talking after its short answer otherwise costs a full CoT budget per answer.
    """
    from mmpo.answers import check_answer
    from mmpo.data.images import load_record_images
    from mmpo.data.prompts import build_prompt
    from mmpo.eval.generate import greedy_generate

    modes = _check_modes(modes)
    check_choice("scoring", scoring, SCORINGS)
    check_choice("prompt_source", prompt_source, PROMPT_SOURCES)
    records = list(records)
    if images is not None and len(images) != len(records):
        raise MMPOError(f"got {len(images)} images for {len(records)} records")
    for rec in records:
        if rec.get("answer") in (None, ""):
            raise InputError("missing required field (eval needs answers)", path=rec.get("_source"),
                             line=rec.get("_line"), field="answer")
    perm = derangement(len(records), seed) if shuffle_images else list(range(len(records)))
    done_map = {(str(p["pid"]), p["mode"]): p for p in done}
    todo = [(i, m) for i in range(len(records)) for m in modes if (records[i]["pid"], m) not in done_map]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records) * len(modes), initial=len(records) * len(modes) - len(todo),
                   desc="eval", unit="answer", dynamic_ncols=True)
    start = time.perf_counter()
    new: dict[tuple[str, str], dict[str, Any]] = {}
    # Dropout off while answering (the demo may pass a model straight from training); restored after.
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        # Records go through in chunks: images are loaded per chunk (bounded memory) and predictions are
        # handed out per chunk, so an interrupted run keeps most of its work.
        chunk = max(1, batch_size) * 8
        pending_records = sorted({i for i, _ in todo})
        for c in range(0, len(pending_records), chunk):
            idx = pending_records[c:c + chunk]
            src = [perm[i] for i in idx]
            imgs = [images[j] for j in src] if images is not None else load_record_images([records[j] for j in src])
            for mode in modes:
                sel = [(k, i) for k, i in enumerate(idx) if (records[i]["pid"], mode) not in done_map]
                if not sel:
                    continue
                items = [(build_prompt(records[i], mode, prompt_source), imgs[k]) for k, i in sel]
                limit = direct_max_new_tokens if mode == "direct" and direct_max_new_tokens else max_new_tokens
                gens = greedy_generate(model, processor, items, max_new_tokens=limit,
                                       batch_size=batch_size, progress=bar)
                for (_, i), g in zip(sel, gens):
                    rec = records[i]
                    v = check_answer(g.text, rec, scoring=scoring, lenient=_lenient(mode))
                    pred = {"pid": rec["pid"], "mode": mode, "response": g.text, "extracted": v.extracted,
                            "verdict": v.verdict, "num_tokens": g.num_tokens, "truncated": g.truncated,
                            "qhash": record_hash(rec)}
                    if shuffle_images:
                        pred["image_from"] = records[perm[i]]["pid"]
                    new[(rec["pid"], mode)] = pred
                    if on_prediction is not None:
                        on_prediction(pred)
    finally:
        if was_training:
            model.train()
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - start

    predictions = [new.get((rec["pid"], m)) or done_map[(rec["pid"], m)] for rec in records for m in modes]
    scores = {
        "model": model_name if model_name is not None else getattr(getattr(model, "config", None),
                                                                   "_name_or_path", None),
        "data": data_name if data_name is not None else (records[0].get("_source") if records else None),
        "n_records": len(records),
        "data_fingerprint": data_fingerprint(records),
        "settings": {"modes": modes, "scoring": scoring, "max_new_tokens": max_new_tokens,
                     "prompt_source": prompt_source,
                     **({"direct_max_new_tokens": direct_max_new_tokens} if direct_max_new_tokens else {}),
                     "batch_size": batch_size, "shuffle_images": shuffle_images, "seed": seed,
                     "decoding": "greedy",
                     "extraction": {m: "lenient" if _lenient(m) or scoring == "mathvista" else "strict"
                                    for m in modes}},
        "notes": {"skill": "skill buckets overlap: a record with several skills counts once in each"},
        "elapsed_s": round(elapsed, 3),
        "modes": score_predictions(records, predictions, modes),
    }
    return EvalResult(predictions=predictions, scores=scores)

def record_hash(rec: dict[str, Any]) -> str:
    """What identifies a question across files: its text, options, answer and image (by file name or bytes).

    `mmpo report` pairs two evals only on questions whose hashes agree (pids alone repeat across data).
    """
    import hashlib

    ref = rec.get("image_ref", rec.get("image_path"))
    image = (hashlib.sha256(ref["bytes"]).hexdigest() if isinstance(ref, dict) and ref.get("bytes")
             else os.path.basename(str(ref)) if ref else None)
    body = json.dumps([rec.get("question"), rec.get("choices"), rec.get("answer"), image], default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def data_fingerprint(records: Sequence[dict[str, Any]]) -> str:
    """One hash of every (pid, question) of an eval's records, in any order."""
    import hashlib

    items = sorted(f"{r['pid']}\x00{record_hash(r)}" for r in records)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def load_eval_records(path: str | os.PathLike, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Validated records that all have an answer (`mmpo.data.records.read_records`: any file or dataset
    folder it reads). Images are checked to exist now, before any model is loaded."""
    from mmpo.data.records import read_records

    if limit is not None and limit < 1:
        raise MMPOError(f"--limit must be >= 1, got {limit}")
    records = read_records(path, require_answer=True)
    if limit is not None:
        records = records[:limit]
    if not records:
        raise InputError("no records to evaluate", path=path)
    return records


def derangement(n: int, seed: int) -> list[int]:
    """A permutation with no fixed point (Sattolo's algorithm: one random n-cycle), deterministic per seed."""
    if n < 2:
        raise MMPOError("--shuffle-images needs at least 2 records")
    perm = list(range(n))
    rng = random.Random(seed)
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i, never i itself: this is what makes it a single cycle
        perm[i], perm[j] = perm[j], perm[i]
    return perm

def _buckets(rec: dict[str, Any], key: str) -> list[str]:
    meta = rec.get("metadata") or {}
    if key in ("question_type", "answer_type"):
        return [str(rec.get(key) or NONE_BUCKET)]
    if key == "category":
        return [str(meta.get("category") or NONE_BUCKET)]
    skills = meta.get("skills") or []
    if isinstance(skills, str):
        skills = [skills]
    return [str(s) for s in dict.fromkeys(skills)] or [NONE_BUCKET]


def score_predictions(records: Sequence[dict[str, Any]], predictions: Iterable[dict[str, Any]],
                      modes: Sequence[str]) -> dict[str, Any]:
    """Per-mode scores of `records` from their predictions (a prediction per record and mode)."""
    from mmpo.eval.repetition import is_repetitive
    from mmpo.eval.stats import wilson_interval

    by_key = {(str(p["pid"]), p["mode"]): p for p in predictions}
    out: dict[str, Any] = {}
    for mode in modes:
        n = correct = ff = truncated = tokens = repetitive = stuck = 0
        by: dict[str, dict[str, dict[str, int]]] = {k: {} for k in ("question_type", "answer_type", "category",
                                                                    "skill")}
        for rec in records:
            p = by_key.get((rec["pid"], mode))
            if p is None:
                raise MMPOError(f"no {mode} prediction for pid {rec['pid']!r}")
            ok = p["verdict"] == "correct"
            n += 1
            correct += ok
            ff += p["verdict"] == "format_failure"
            truncated += bool(p.get("truncated"))
            repetitive += is_repetitive(p.get("response"))
            # Ran out of tokens before stating an answer: the budget, or a loop, ate the answer.
            stuck += bool(p.get("truncated")) and p["verdict"] == "format_failure"
            tokens += int(p.get("num_tokens") or 0)
            for key, table in by.items():
                for b in _buckets(rec, key):
                    cell = table.setdefault(b, {"n": 0, "correct": 0})
                    cell["n"] += 1
                    cell["correct"] += ok
        for table in by.values():
            for cell in table.values():
                cell["accuracy"] = cell["correct"] / cell["n"]
        iv = wilson_interval(correct, n)
        out[mode] = {"n": n, "correct": correct, "accuracy": correct / n, "accuracy_ci95": [iv.low, iv.high],
                     "format_failures": ff, "format_failure_rate": ff / n, "truncated": truncated,
                     "repetitive": repetitive, "repetition_rate": repetitive / n,
                     "truncated_without_answer_rate": stuck / n,
                     "mean_new_tokens": tokens / n,
                     "by": {k: dict(sorted(v.items())) for k, v in by.items()}}
    return out

def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
