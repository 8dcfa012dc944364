"""The sampling stage: prompt records in, one JSON line per prompt out; resumable and shardable.

    from mmpo.sample.run import SampleOptions, run_sampling
    summary = run_sampling(SampleOptions(model="models/tiny", data="data/train.jsonl", n=8, out="s.jsonl"))

Input: benchmark or prompt records in any form `mmpo.data.records.read_records` reads (JSONL, JSON,
parquet, `datasets` folders; MathVista, M3CoT, ScienceQA, MathVerse shapes, or plain JSONL with
`image, question[, answer]`). Extra fields pass through; records without an answer are open-ended;
records without an image are text-only prompts. Images embedded in the data are written once into
`<out>.images/`. The question text is the record's official `query` when it has one
(`prompt_source="auto"`), or mmpo's layout (`"mmpo"`).

Output line (in the shard's input order):
    {"pid", "prompt" (user-turn text, no chat template), "image" (absolute path, or null), "question",
     "answer", "source" (data file stem), "record" (MathVista fields), "truncated" (count),
     "responses": [{"text", "extracted", "verdict", "truncated"
                    [, "ntp_prefix", "ntp_continuation", "ntp_truncated"]}],
     "settings": {...}}
`verdict` is correct | incorrect | format_failure (`mmpo.answers.check_answer`), or null when the
record has no answer. With `dropout_ntp`, each response of an answer-less record also carries the
DropoutNTP continuation: its first `dropout_ratio` of words continued by the model without the image.

Crash safety: lines are appended one whole line at a time (`JsonlAppender`). A rerun drops a
partial last line, skips prompts already written and recomputes the rest. Each prompt's seed is
derived from (seed, pid), and batches are fixed chunks of the shard (a partly written batch is
recomputed whole), so the file ends identical to an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from mmpo.data.files import JsonlAppender, OutputLock, truncate_partial_tail, writable_dir, write_json
from mmpo.data.layout import SAMPLES_IMAGES_SUFFIX, sample_line, samples_stats_path
from mmpo.errors import InputError, MMPOError
from mmpo.sample.options import SAMPLE_STYLES, SampleOptions, parse_shard

__all__ = ["SAMPLE_STYLES", "SampleOptions", "parse_shard", "prompt_seed", "read_prompts", "run_sampling"]


def run_sampling(opts: SampleOptions) -> dict[str, Any]:
    """Run (or resume) the stage; returns a summary also written to `<out>.stats.json`.

    The output is locked for the whole run (`OutputLock`): a second process on the same --out stops.
    """
    out = Path(opts.out)
    if out.is_dir():
        raise MMPOError(f"--out {out} is a folder; give the samples file's path (e.g. {out / 'samples.jsonl'})")
    writable_dir(out.parent)
    with OutputLock(out):
        return _run_sampling(opts, out)


def _run_sampling(opts: SampleOptions, out: Path) -> dict[str, Any]:
    skips: list[dict[str, Any]] = []
    records = _shard_records(opts, skips)
    settings = opts.settings()
    done = _existing(out, settings)
    unknown = done - {r["pid"] for r in records}
    if unknown:
        raise InputError(f"has {len(unknown)} pid(s) not in this shard of {opts.data} (e.g. {sorted(unknown)[0]!r}); "
                         "resume with the same --data/--shard/--limit or choose a new --out", path=out, field="pid")
    t0 = time.perf_counter()
    bar = None
    if opts.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), initial=sum(r["pid"] in done for r in records), unit="prompt",
                   desc="mmpo sample", file=sys.stderr, dynamic_ncols=True)
    try:
        n_written, n_resp = _write_samples(opts, out, records, settings, done, skips, bar)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    summary = {"out": str(out), "prompts_in_shard": len(records), "already_done": len(done),
               "written": n_written, "responses": n_resp, "seconds": round(seconds, 3),
               "responses_per_s": round(n_resp / seconds, 3) if seconds > 0 and n_resp else None,
               "skips": {"count": len(skips), "items": skips}}
    write_json(samples_stats_path(out), summary)
    return summary


def _shard_records(opts: SampleOptions, skips: list) -> list[dict[str, Any]]:
    """This shard's records, in input order, each with the prompt text it is sampled with."""
    from mmpo.data.prompts import build_prompt

    shard_i, shard_n = parse_shard(opts.shard)
    records = read_prompts(opts.data, on_error=opts.on_error, skips=skips,
                           images_dir=str(opts.out) + SAMPLES_IMAGES_SUFFIX)
    if opts.limit is not None:
        records = records[: opts.limit]
    records = records[shard_i::shard_n]
    for rec in records:
        rec["_prompt"] = build_prompt(rec, opts.prompt_style, opts.prompt_source)
    return records


def _write_samples(opts: SampleOptions, out: Path, records, settings, done: set[str], skips, bar) -> tuple[int, int]:
    """Sample every prompt not in `done` and append its line; returns (lines written, responses)."""
    from mmpo.data.images import load_image
    from mmpo.models import load_model

    model = processor = None
    source = Path(opts.data).stem
    n_written = n_resp = 0
    with JsonlAppender(out, locked=True) as sink:
        # Fixed chunks of the shard, so a resumed batch holds the same prompts as the first try.
        for start in range(0, len(records), opts.batch_size):
            chunk = records[start:start + opts.batch_size]
            if all(r["pid"] in done for r in chunk):
                continue
            if model is None:
                model, processor = load_model(opts.model, trust_remote_code=opts.trust_remote_code)
                if opts.dropout_ntp:
                    _check_text_only(processor)
            batch, images = [], []
            for rec in chunk:
                try:
                    images.append(None if rec["image_path"] is None else
                                  load_image(rec["image_path"], source=rec["_source"], **rec["_where"]))
                    batch.append(rec)
                except InputError as exc:
                    if opts.on_error != "skip":
                        raise
                    if rec["pid"] not in done:
                        _skip(skips, exc)
                        if bar is not None:
                            bar.update(1)
            if not batch:
                continue
            for rec, resp in zip(batch, _responses(opts, model, processor, batch, images)):
                if rec["pid"] in done:
                    continue
                sink.write(sample_line(rec, rec["_prompt"], resp, settings, source=source))
                n_written += 1
                n_resp += len(resp)
                if bar is not None:
                    bar.update(1)
    return n_written, n_resp


def prompt_seed(seed: int, pid: str, salt: str = "") -> int:
    """A 63-bit seed from (seed, pid): the same prompt gets the same samples in any shard or rerun."""
    digest = hashlib.sha256(f"{seed}\x00{pid}\x00{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def read_prompts(data: str | os.PathLike, *, on_error: str = "raise",
                 skips: list[dict[str, Any]] | None = None, images_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Validated prompt records (`mmpo.data.records.read_records`); bad ones raise or go to `skips`.

    A record's image is a file path, or bytes embedded in the data (parquet, `datasets` folders),
    which are written once into `images_dir` so that the samples and pairs files can name a file.
    Records without an image are text-only prompts.
    """
    from mmpo.data.records import read_records

    records = read_records(data, on_error=on_error, skip=lambda exc: _skip(skips, exc))
    for rec in records:
        if isinstance(rec["image_ref"], dict):
            if images_dir is None:
                raise MMPOError("records with embedded images need a folder to write them into")
            rec["image_path"] = _write_embedded(rec["image_ref"], Path(images_dir))
    return records


def _write_embedded(ref: dict[str, Any], folder: Path) -> str:
    """The embedded image as a file named by its content (written once, atomically)."""
    digest = hashlib.sha256(ref["bytes"]).hexdigest()[:20]
    suffix = Path(str(ref.get("path") or "")).suffix.lower()
    if suffix not in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"):
        suffix = ".png"
    path = folder / f"{digest}{suffix}"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(ref["bytes"])
        os.replace(tmp, path)
    return str(path.resolve())


def _skip(skips, exc: InputError) -> None:
    if skips is not None:
        skips.append({"file": exc.path, "line": exc.line, "record": exc.record, "field": exc.field,
                      "reason": exc.reason})


def _existing(out: Path, settings: dict[str, Any]) -> set[str]:
    """Pids already complete in `out` (after dropping a partial last line); settings must match."""
    if not out.exists():
        return set()
    truncate_partial_tail(out)
    done = set()
    with out.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                raise InputError("malformed line in an existing output; use a new --out", path=out,
                                 line=lineno) from None
            if obj.get("settings") != settings:
                diff = sorted(k for k in set(settings) | set(obj.get("settings") or {})
                              if (obj.get("settings") or {}).get(k) != settings.get(k))
                raise InputError(f"written with different settings ({', '.join(diff)}); rerun the same command "
                                 "to resume, or choose a new --out", path=out, line=lineno, field="settings")
            done.add(str(obj.get("pid")))
    return done


def _split_words(text: str, ratio: float) -> str | None:
    """The text up to the end of its first `ratio` share of whitespace-separated words (None if < 2 words)."""
    spans, pos = [], 0
    for word in text.split():
        start = text.index(word, pos)
        pos = start + len(word)
        spans.append(pos)
    if len(spans) < 2:
        return None
    k = min(len(spans) - 1, max(1, int(len(spans) * ratio)))
    return text[: spans[k - 1]]


def _responses(opts, model, processor, batch, images) -> list[list[dict[str, Any]]]:
    from mmpo.answers import check_answer, extract_answer
    from mmpo.data.chat import chat_prompt
    from mmpo.sample.prefill import decode, draw_samples

    texts = [chat_prompt(processor, r["_prompt"], image=im is not None) for r, im in zip(batch, images)]
    seeds = [prompt_seed(opts.seed, r["pid"]) for r in batch]
    drawn = draw_samples(model, processor, texts, images, n=opts.n, seeds=seeds, temperature=opts.temperature,
                         top_k=opts.top_k, max_new_tokens=opts.max_new_tokens)
    out = []
    for rec, comps in zip(batch, drawn):
        has_gt = rec.get("answer") not in (None, "")
        resp = []
        for c in comps:
            text = decode(processor, c)
            if has_gt:
                v = check_answer(text, rec)
                item = {"text": text, "extracted": v.extracted, "verdict": v.verdict}
            else:
                item = {"text": text, "extracted": extract_answer(text), "verdict": None}
            item["truncated"] = c.truncated
            resp.append(item)
        if opts.dropout_ntp and not has_gt and rec["image_path"] is not None:
            _dropout_ntp(opts, model, processor, rec, resp)
        out.append(resp)
    return out


def _check_text_only(processor) -> None:
    """DropoutNTP continues responses without the image; some processors (PaliGemma's) refuse that."""
    from mmpo.data.chat import chat_prompt, encode

    try:
        encode(processor, [chat_prompt(processor, "x", image=False)])
    except ValueError as exc:
        raise MMPOError(f"--dropout-ntp continues responses without the image, which this model's processor "
                        f"({type(processor).__name__}) refuses: {exc}") from None


def _dropout_ntp(opts, model, processor, rec, resp) -> None:
    """Continue the first part of each response without the image (the rejected side of DropoutNTP)."""
    from mmpo.data.chat import chat_prompt
    from mmpo.sample.prefill import decode, draw_samples

    todo = [(j, p) for j, r in enumerate(resp) if (p := _split_words(r["text"], opts.dropout_ratio)) is not None]
    if not todo:
        return
    head = chat_prompt(processor, rec["_prompt"], image=False)
    texts = [head + p for _, p in todo]
    seeds = [prompt_seed(opts.seed, rec["pid"], f"ntp{j}") for j, _ in todo]
    drawn = draw_samples(model, processor, texts, None, n=1, seeds=seeds, temperature=opts.temperature,
                         top_k=opts.top_k, max_new_tokens=opts.max_new_tokens)
    for (j, prefix), (c,) in zip(todo, drawn):
        resp[j]["ntp_prefix"] = prefix
        resp[j]["ntp_continuation"] = decode(processor, c)
        resp[j]["ntp_truncated"] = c.truncated
