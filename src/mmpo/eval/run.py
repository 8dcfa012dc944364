"""Direct-answer vs chain-of-thought evaluation on a MathVista-schema benchmark.

    result = run_eval(EvalOptions(model="models/tiny", data="data/test.jsonl", out="evals/tiny"))  # mmpo eval
    records = load_eval_records("data/test.jsonl")
    result = evaluate_model(model, processor, records, EvalOptions(modes=("cot",)))   # in memory
    result.scores["modes"]["cot"]["accuracy"], result.predictions[0]["verdict"]

Direct mode asks for the answer alone (`build_prompt(record, "direct")`), CoT mode uses the paper's prompt
(`build_prompt(record, "cot")`, the one sampling uses). Decoding is greedy and batched; every response is
scored with `mmpo.answers.check_answer`. `evaluate_into` writes an output folder (predictions appended as they
come, then scores.json) and resumes it: a rerun reuses the predictions made under the same key (`eval_key`:
weights and settings) of records whose hash is unchanged, and answers the rest. `run_eval` (`mmpo eval`),
`mmpo iterate` and the demo all write their folders through it.

A named benchmark (`opts.benchmark`, `mmpo.benchmarks`) replaces the three generic parts: its reader
reads the files as they ship, its prompts ask, its rule scores (`prompt_of`, `verdict_fields`), and
scores.json gets a "benchmark" block with its own metrics per mode (`benchmark_scores`).

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

from mmpo.data.files import (
    JsonlAppender,
    OutputLock,
    parse_json,
    read_jsonl,
    truncate_partial_tail,
    writable_dir,
    write_json,
    write_jsonl,
)
from mmpo.data.fingerprint import data_fingerprint, record_hash
from mmpo.data.layout import EVAL_KEY_FILE, PREDICTIONS_FILE, SCORES_FILE
from mmpo.engines.session import EngineSession, close_model
from mmpo.errors import InputError, MMPOError, check_choice
from mmpo.eval.options import EvalOptions

NONE_BUCKET = "(none)"


@dataclass
class EvalResult:
    predictions: list[dict[str, Any]]  # one per record and mode, in file order
    scores: dict[str, Any]  # the scores.json content


def run_eval(opts: EvalOptions) -> EvalResult:
    """`mmpo eval`: DIR/predictions.jsonl (appended as answers come) and DIR/scores.json.

    Rerunning the same command after an interruption keeps the predictions already written and
    finishes the rest; a directory holding predictions made with other settings, or of a model
    whose weights changed since, is refused.
    """
    from mmpo.data.files import check_distinct
    from mmpo.engines.session import open_model
    from mmpo.models.load import check_checkpoint_dir, load_processor, weights_digest
    from mmpo.models.processors import refused_images

    for name in ("model", "data", "out"):
        if not getattr(opts, name):
            raise MMPOError(f"--{name} is required")
    check_distinct(opts.out, {"--model": opts.model, "--data": opts.data})
    records = load_eval_records(opts.data, limit=opts.limit, benchmark=opts.benchmark)
    check_checkpoint_dir(opts.model)
    if opts.shuffle_images:
        derangement(len(records), opts.seed)  # fail now on a single record, not after loading the model
    refused = refused_images(load_processor(opts.model, trust_remote_code=opts.trust_remote_code), records)
    if refused:  # a benchmark with a question left out would not compare with other runs: stop
        raise next(iter(refused.values()))
    device = (opts.device or _default_device()) if opts.engine == "hf" else None
    return evaluate_into(opts.out, records, opts, key=eval_key(opts, weights_digest(opts.model)),
                         load=lambda: open_model(opts, opts.model, device=device, dtype=opts.dtype),
                         extra_settings={"limit": opts.limit, "device": None if device is None else str(device)})


def eval_key(opts: EvalOptions, weights: str) -> dict[str, Any]:
    """What an evaluation folder's predictions were computed under: the weights and the answer settings.

    Each prediction also records its question's hash, so a changed record is answered again on resume.
    """
    return json.loads(json.dumps({"weights": weights, **opts.answer_settings()}))


def evaluate_into(out_dir: str | os.PathLike, records: Sequence[dict[str, Any]], opts: EvalOptions, *,
                  key: dict[str, Any], load: Callable[[], tuple[Any, Any]], on_mismatch: str = "raise",
                  extra_settings: dict[str, Any] | None = None, model_name: str | None = None) -> EvalResult:
    """Evaluate into an output folder, resuming what an earlier run with the same `key` wrote there.

    `key` (`eval_key`): what decides the answers, kept in DIR/.eval-settings.json. Predictions made
    under an equal key, of a record whose hash is unchanged, are reused and the rest answered; a folder
    written under another key is refused (`on_mismatch="raise"`) or evaluated afresh (`"replace"`).
    `load()` gives (model, processor), called only when answers are missing. Writes
    DIR/predictions.jsonl (in record order once complete) and DIR/scores.json.
    """
    check_choice("on_mismatch", on_mismatch, ("raise", "replace"))
    check_prompts(records, opts)
    bench = _judged_benchmark(opts)
    if bench is not None:
        opts.check_judge(bench.name)  # before any model loads
    out = writable_dir(out_dir)
    with OutputLock(out / PREDICTIONS_FILE):
        done, changed = _reusable(out, records, opts, key, on_mismatch)
        done = rescored(done, records, opts)
        write_json(out / EVAL_KEY_FILE, key)
        have = {(str(p["pid"]), p["mode"]) for p in done}
        missing = sum((rec["pid"], m) not in have for rec in records for m in opts.modes)
        if done or changed:
            print(f"{out}: reusing {len(done)} predictions (same weights, settings and records), "
                  f"answering {missing} ({changed} of them again, as their record changed)", flush=True)
        model, processor = load() if missing else (None, None)
        try:
            with JsonlAppender(out / PREDICTIONS_FILE, fsync_every=64, locked=True) as sink:
                result = evaluate_model(model, processor, records, opts, done=done, on_prediction=sink.write,
                                        model_name=model_name)
        finally:
            close_model(model)  # a server mmpo started stops here, also on an error or Ctrl-C
        if bench is not None:
            result = _judged(out, bench, records, result, opts)
        write_jsonl(out / PREDICTIONS_FILE, result.predictions)  # record order, as an uninterrupted run
    result.scores["settings"].update(extra_settings or {})
    if isinstance(model, EngineSession):
        result.scores["settings"]["engine_run"] = model.settings()
    if done or changed:
        result.scores["resumed_predictions"] = len(done)
        result.scores["recomputed_predictions"] = changed
    write_json(out / SCORES_FILE, result.scores)
    return result


def question_hash(record: dict[str, Any], opts: EvalOptions) -> str:
    """What a prediction was answered from: the record's hash (`record_hash`) and, under a named
    benchmark, also its prompts and metadata (MathVerse asks its own query texts; OlympiadBench keeps
    its tolerance in metadata), so a change to either is answered again on resume."""
    if not opts.benchmark:
        return record_hash(record)
    import hashlib

    from mmpo.benchmarks import get_benchmark

    bench = get_benchmark(opts.benchmark)
    body = json.dumps([record_hash(record), record.get("metadata"), [bench.prompt(record, m) for m in bench.modes]],
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def rescored(predictions: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], opts: EvalOptions
             ) -> list[dict[str, Any]]:
    """Reused predictions of a named benchmark with their verdict fields recomputed from the response by the
    benchmark's current rule (cheap; a rule fixed since the first run applies to every line)."""
    if not opts.benchmark:
        return list(predictions)
    by_pid = {rec["pid"]: rec for rec in records}
    return [{**p, **verdict_fields(p.get("response"), by_pid[str(p["pid"])], p["mode"], opts)} for p in predictions]


def _judged_benchmark(opts: EvalOptions):
    """The named benchmark when an LLM judge scores it, else None."""
    if not opts.benchmark:
        return None
    from mmpo.benchmarks import get_benchmark

    bench = get_benchmark(opts.benchmark)
    return bench if bench.kind == "judge" else None


def _judged(out: Path, bench, records, result: EvalResult, opts: EvalOptions) -> EvalResult:
    """The predictions scored by the judge (DIR/judgements.jsonl, reused on a rerun), and their scores."""
    from mmpo.judge.options import JUDGE_SETTINGS
    from mmpo.judge.run import judge_predictions

    preds = judge_predictions(out, bench, records, result.predictions, opts, progress=opts.progress)
    scores = dict(result.scores)
    scores["modes"] = score_predictions(records, preds, opts.modes)
    scores["benchmark"] = benchmark_scores(bench.name, preds, opts.modes)
    scores["judge"] = {"model": opts.judge_model, "prompt": opts.judge_prompt,
                       "prompt_sha256": preds[0]["judge"]["prompt_sha256"] if preds else None,
                       "unparsed": sum(bool(p.get("judge_unparsed")) for p in preds), "decides": list(JUDGE_SETTINGS)}
    scores["notes"] = {**scores.get("notes", {}),
                       "judge": "the per-mode accuracy counts answers at or above the benchmark's threshold as correct "
                                "and an unparsed judgement as not correct; the benchmark block leaves unparsed "
                                "judgements out of its means"}
    return EvalResult(predictions=preds, scores=scores)


def _reusable(out: Path, records, opts: EvalOptions, key: dict[str, Any], on_mismatch: str) -> tuple[list, int]:
    """The predictions in `out` that stand for the current records under `key` (the file keeps only
    those), and how many were dropped because their record changed."""
    pred_path, key_path = out / PREDICTIONS_FILE, out / EVAL_KEY_FILE
    if not (pred_path.exists() and pred_path.stat().st_size > 0):
        return [], 0
    old = parse_json(key_path.read_text(encoding="utf-8"), path=key_path) if key_path.exists() else None
    if old != key:
        if on_mismatch == "raise":
            diff = sorted(k for k in key if old is None or old.get(k) != key[k])
            raise MMPOError(f"{pred_path} holds predictions from a run with other settings "
                            f"({', '.join(diff) if old else 'unknown settings'}); use a new --out or delete it")
        pred_path.unlink()
        return [], 0
    truncate_partial_tail(pred_path)
    hashes = {rec["pid"]: question_hash(rec, opts) for rec in records}  # once per record, not per mode
    wanted = {(pid, m): h for pid, h in hashes.items() for m in opts.modes}
    lines = read_jsonl(pred_path)
    kept = [p for p in lines if wanted.get((str(p["pid"]), p["mode"])) == p.get("qhash")]
    if len(kept) != len(lines):
        write_jsonl(pred_path, kept)  # answers to records that changed (or left) go before new ones come
    changed = sum((str(p["pid"]), p["mode"]) in wanted for p in lines) - len(kept)
    return kept, changed


def check_prompts(records: Sequence[dict[str, Any]], opts: EvalOptions) -> None:
    """Every record's prompt in every mode can be built (`--prompt-source query` needs a query), before a
    model loads; the first that cannot is an InputError naming its record."""
    for rec in records:
        for mode in opts.modes:
            try:
                prompt_of(rec, mode, opts)
            except ValueError as exc:
                raise InputError(str(exc), path=rec.get("_source"), field="query",
                                 **(rec.get("_where") or {"line": rec.get("_line")})) from None


def prompt_of(record: dict[str, Any], mode: str, opts: EvalOptions) -> str:
    """The question as asked in `mode`: the named benchmark's prompt, else mmpo's (`build_prompt`)."""
    if opts.benchmark:
        from mmpo.benchmarks import get_benchmark

        return get_benchmark(opts.benchmark).prompt(record, mode)
    from mmpo.data.prompts import build_prompt

    return build_prompt(record, mode, opts.prompt_source)


def verdict_fields(response: str | None, record: dict[str, Any], mode: str, opts: EvalOptions) -> dict[str, Any]:
    """The scored fields of one prediction: extracted and verdict (and the benchmark's own, score first)."""
    if opts.benchmark:
        from mmpo.benchmarks import get_benchmark

        return get_benchmark(opts.benchmark).check(response, record, mode)
    from mmpo.answers import check_answer

    v = check_answer(response, record, scoring=opts.scoring, lenient=_lenient(mode))
    return {"extracted": v.extracted, "verdict": v.verdict}


def _lenient(mode: str) -> bool | None:
    """Direct answers are bare ("B", "12"), so they are read leniently; CoT and boxed responses must state
    their answer in the asked format (strict under default scoring; mathvista scoring is always lenient)."""
    return True if mode == "direct" else None


def evaluate_model(model: Any, processor: Any, records: Sequence[dict[str, Any]], opts: EvalOptions | None = None,
                   *, images: Sequence[Any] | None = None, done: Iterable[dict] = (), on_prediction: Any = None,
                   model_name: str | None = None) -> EvalResult:
    """Evaluate an in-memory model on `records` (validated MathVista-schema dicts with answers).

    `opts`: the settings (`EvalOptions`; its model, data and out are not needed here). `images[i]`: the
    PIL image of `records[i]` (default: loaded from each record's `image_path`). `done`: predictions from
    an interrupted run to reuse; `on_prediction(pred)`: called for each new prediction (e.g. to append it
    to a file). With `shuffle_images` each question gets another record's image (a seeded derangement),
    to check that accuracy depends on the image.
    """
    opts = opts or EvalOptions()
    records = list(records)
    if images is not None and len(images) != len(records):
        raise MMPOError(f"got {len(images)} images for {len(records)} records")
    for rec in records:
        if rec.get("answer") in (None, ""):
            raise InputError("missing required field (eval needs answers)", path=rec.get("_source"),
                             line=rec.get("_line"), field="answer")
    perm = derangement(len(records), opts.seed) if opts.shuffle_images else list(range(len(records)))
    done_map = {(str(p["pid"]), p["mode"]): p for p in done}
    start = time.perf_counter()
    new = _answer(model, processor, records, opts, perm, images, done_map, on_prediction)
    elapsed = time.perf_counter() - start
    predictions = [new.get((rec["pid"], m)) or done_map[(rec["pid"], m)] for rec in records for m in opts.modes]
    default_name = opts.model if opts.model is not None else getattr(getattr(model, "config", None),
                                                                     "_name_or_path", None)
    scores = {
        "model": model_name if model_name is not None else default_name,
        "data": opts.data if opts.data is not None else (records[0].get("_source") if records else None),
        "n_records": len(records),
        "data_fingerprint": data_fingerprint(records),
        "settings": {**opts.answer_settings(), "decoding": "greedy",
                     "extraction": {m: "lenient" if _lenient(m) or opts.scoring == "mathvista" else "strict"
                                    for m in opts.modes}},
        "notes": {"skill": "skill buckets overlap: a record with several skills counts once in each"},
        "elapsed_s": round(elapsed, 3),
        "modes": score_predictions(records, predictions, opts.modes),
    }
    if opts.benchmark:
        scores["benchmark"] = benchmark_scores(opts.benchmark, predictions, opts.modes)
    return EvalResult(predictions=predictions, scores=scores)


def _answer(model, processor, records, opts: EvalOptions, perm, images, done_map, on_prediction) -> dict:
    """Greedy answers to every (record, mode) not in `done_map`, scored; returns them by (pid, mode).

    Records go through in chunks: images are loaded per chunk (bounded memory) and predictions are
    handed out per chunk, so an interrupted run keeps most of its work.
    """
    from mmpo.data.images import load_record_images

    todo = [(i, m) for i in range(len(records)) for m in opts.modes if (records[i]["pid"], m) not in done_map]
    bar = _bar(opts, len(records) * len(opts.modes), len(todo))
    new: dict[tuple[str, str], dict[str, Any]] = {}
    # Dropout off while answering (the demo may pass a model straight from training); restored after.
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        chunk = max(1, opts.batch_size) * 8
        pending = sorted({i for i, _ in todo})
        for c in range(0, len(pending), chunk):
            idx = pending[c:c + chunk]
            src = [perm[i] for i in idx]
            imgs = [images[j] for j in src] if images is not None else load_record_images([records[j] for j in src])
            for mode in opts.modes:
                sel = [(k, i) for k, i in enumerate(idx) if (records[i]["pid"], mode) not in done_map]
                for pred in _answer_mode(model, processor, records, opts, mode, sel, imgs, perm, bar):
                    new[(pred["pid"], mode)] = pred
                    if on_prediction is not None:
                        on_prediction(pred)
    finally:
        if was_training:
            model.train()
        if bar is not None:
            bar.close()
    return new


def _answer_mode(model, processor, records, opts: EvalOptions, mode: str, sel, imgs, perm, bar) -> list[dict]:
    """One mode's answers to the (chunk position, record index) pairs `sel`, as predictions."""
    from mmpo.eval.generate import greedy_generate
    from mmpo.models.load import capped_length

    if not sel:
        return []
    items = [(prompt_of(records[i], mode, opts), imgs[k]) for k, i in sel]
    try:
        if isinstance(model, EngineSession):
            from mmpo.eval.engine import engine_greedy

            gens = engine_greedy(model, [str(records[i]["pid"]) for _, i in sel], items,
                                 capped_length(model, opts.limit_for(mode)), bar)
        else:
            gens = greedy_generate(model, processor, items, max_new_tokens=capped_length(model, opts.limit_for(mode)),
                                   batch_size=opts.batch_size, progress=bar)
    except ValueError as exc:
        _refusal(processor, records, sel, items, exc)
        raise
    out = []
    for (_, i), g in zip(sel, gens):
        rec = records[i]
        pred = {"pid": rec["pid"], "mode": mode, "response": g.text,
                **verdict_fields(g.text, rec, mode, opts), "num_tokens": g.num_tokens, "truncated": g.truncated,
                "qhash": question_hash(rec, opts)}
        if opts.shuffle_images:
            pred["image_from"] = records[perm[i]]["pid"]
        out.append(pred)
    return out


def benchmark_scores(name: str, predictions: Sequence[dict[str, Any]], modes: Sequence[str]) -> dict[str, Any]:
    """scores.json's "benchmark" block: the benchmark's own metrics of each mode (`Benchmark.summarize`)."""
    from mmpo.benchmarks import get_benchmark

    bench = get_benchmark(name)
    return {"name": bench.name, "title": bench.title, "kind": bench.kind, "primary": bench.primary,
            "scale": bench.scale, "source": bench.source,
            "modes": {m: bench.summarize([p for p in predictions if p["mode"] == m]) for m in modes}}


def _refusal(processor, records, sel, items, exc: Exception) -> None:
    """A batch the processor refused: raise an InputError naming the first record it refuses alone."""
    from mmpo.data.chat import chat_prompt
    from mmpo.models.processors import encode_failures

    bad = encode_failures(processor, [(chat_prompt(processor, t, image=im is not None), im) for t, im in items], exc)
    for k, reason in bad.items():
        rec = records[sel[k][1]]
        raise InputError(reason, path=rec.get("_source"), field="image",
                         **(rec.get("_where") or {"line": rec.get("_line")})) from None


def _bar(opts: EvalOptions, total: int, todo: int):
    if not opts.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=total - todo, desc="eval", unit="answer", dynamic_ncols=True)


def load_eval_records(path: str | os.PathLike, *, limit: int | None = None,
                      benchmark: str | None = None) -> list[dict[str, Any]]:
    """Validated records that all have an answer (`mmpo.data.records.read_records`: any file or dataset
    folder it reads; a named benchmark's own reader). Images are checked to exist now, before any model
    is loaded."""
    from mmpo.data.records import read_records

    if limit is not None and limit < 1:
        raise MMPOError(f"--limit must be >= 1, got {limit}")
    if benchmark:
        from mmpo.benchmarks import get_benchmark

        records = get_benchmark(benchmark).read(path)
    else:
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
