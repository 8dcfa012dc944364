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

from mmpo.data.files import (
    JsonlAppender,
    OutputLock,
    check_distinct,
    parse_json,
    truncate_partial_tail,
    writable_dir,
    write_json,
)
from mmpo.data.fingerprint import record_hash
from mmpo.data.layout import SAMPLES_IMAGES_SUFFIX, sample_line, samples_stats_path
from mmpo.errors import InputError, MMPOError, check_choice
from mmpo.sample.options import SAMPLE_STYLES, SampleOptions, parse_shard
from mmpo.sample.responses import prompt_seed, response_item, split_words

__all__ = ["SAMPLE_STYLES", "SampleOptions", "parse_shard", "prompt_seed", "read_prompts", "run_sampling"]


def run_sampling(opts: SampleOptions, *, on_mismatch: str = "raise") -> dict[str, Any]:
    """Run (or resume) the stage; returns a summary also written to `<out>.stats.json`.

    A rerun keeps each line whose record is unchanged (its hash, `mmpo.data.fingerprint`) and samples
    the rest; a file written with other settings or another model's weights is refused
    (`on_mismatch="raise"`) or sampled afresh (`"replace"`). The output is locked for the whole run
    (`OutputLock`): a second process on the same --out stops.
    """
    from mmpo.models.load import check_checkpoint_dir

    check_choice("on_mismatch", on_mismatch, ("raise", "replace"))
    for name in ("model", "data", "out"):
        if not getattr(opts, name):
            raise MMPOError(f"--{name} is required")
    out = Path(opts.out)
    if out.is_dir():
        raise MMPOError(f"--out {out} is a folder; give the samples file's path (e.g. {out / 'samples.jsonl'})")
    check_distinct(out, {"--data": opts.data, "--model": opts.model})
    check_checkpoint_dir(opts.model)
    writable_dir(out.parent)
    with OutputLock(out):
        return _run_sampling(opts, out, on_mismatch)


def _run_sampling(opts: SampleOptions, out: Path, on_mismatch: str) -> dict[str, Any]:
    from mmpo.models.load import weights_digest

    skips: list[dict[str, Any]] = []
    records = _shard_records(opts, skips)
    settings = {**opts.settings(), "weights": weights_digest(opts.model)}
    done, stale = _existing(out, settings, {r["pid"]: r["_qhash"] for r in records}, on_mismatch, opts.data)
    if stale:
        print(f"{out}: {stale} line(s) were sampled from records that changed since; sampling them again",
              file=sys.stderr, flush=True)
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
    if stale:
        _reorder(out, [r["pid"] for r in records])  # the resampled lines back in input order
    seconds = time.perf_counter() - t0
    summary = {"out": str(out), "prompts_in_shard": len(records), "already_done": len(done),
               "recomputed": stale, "written": n_written, "responses": n_resp, "seconds": round(seconds, 3),
               "responses_per_s": round(n_resp / seconds, 3) if seconds > 0 and n_resp else None,
               "skips": {"count": len(skips), "items": skips}}
    if opts.engine != "hf":  # where the responses came from (addresses are not part of the resume key)
        summary["engine"] = {"engine": opts.engine, "base_url": list(opts.base_url), "served_model": opts.served_model}
    write_json(samples_stats_path(out), summary)
    return summary


def _shard_records(opts: SampleOptions, skips: list) -> list[dict[str, Any]]:
    """This shard's records, in input order, each with the prompt text it is sampled with and its hash.

    A record its prompt cannot be built for (`--prompt-source query` without a query) stops the run
    here, before any model loads, or is counted under `--on-error skip`.
    """
    shard_i, shard_n = parse_shard(opts.shard)
    records = read_prompts(opts.data, on_error=opts.on_error, skips=skips,
                           images_dir=str(opts.out) + SAMPLES_IMAGES_SUFFIX)
    if opts.limit is not None:
        records = records[: opts.limit]
    out = []
    for rec in records[shard_i::shard_n]:
        try:
            rec["_prompt"] = prompt_for(rec, opts.prompt_style, opts.prompt_source)
        except InputError as exc:
            if opts.on_error != "skip":
                raise
            _skip(skips, exc)
            continue
        rec["_qhash"] = record_hash(rec)
        out.append(rec)
    return out


def _write_samples(opts: SampleOptions, out: Path, records, settings, done: set[str], skips, bar) -> tuple[int, int]:
    """Sample every prompt not in `done` and append its line; returns (lines written, responses)."""
    refused = _refused_before_loading(opts, [r for r in records if r["pid"] not in done])
    # Fixed chunks of the shard, so a resumed batch holds the same prompts as the first try. A server
    # answers each prompt alone (its own seed), so its chunks are only sized to keep it busy.
    step = opts.batch_size if opts.engine == "hf" else max(opts.batch_size, 4 * opts.concurrency)
    with JsonlAppender(out, locked=True) as sink:
        return _write_chunks(opts, records, settings, done, skips, bar, refused, step, sink)


def _write_chunks(opts, records, settings, done, skips, bar, refused, step, sink) -> tuple[int, int]:
    from mmpo.data.images import load_image
    from mmpo.engines.session import close_model, open_model

    model = processor = None
    source = Path(opts.data).stem
    n_written = n_resp = 0
    try:
        for start in range(0, len(records), step):
            chunk = records[start:start + step]
            if all(r["pid"] in done for r in chunk):
                continue
            if model is None:
                model, processor = open_model(opts, opts.model)
                if opts.dropout_ntp:
                    _check_text_only(processor)
            batch, images = [], []
            for rec in chunk:
                try:
                    if rec["pid"] in refused:
                        raise refused[rec["pid"]]
                    images.append(None if rec["image_path"] is None else
                                  load_image(rec["image_path"], source=rec["_source"], **rec["_where"]))
                    batch.append(rec)
                except InputError as exc:
                    _skip_record(opts, rec, exc, done, skips, bar)
            for rec, resp in _generate(opts, model, processor, batch, images, done, skips, bar):
                if rec["pid"] in done:
                    continue
                sink.write(sample_line(rec, rec["_prompt"], resp, settings, source=source, qhash=rec["_qhash"]))
                n_written += 1
                n_resp += len(resp)
                if bar is not None:
                    bar.update(1)
    finally:
        close_model(model)  # a server mmpo started stops here, also on an error or Ctrl-C
    return n_written, n_resp


def _skip_record(opts: SampleOptions, rec, exc: InputError, done: set[str], skips, bar) -> None:
    """A bad record: raised, or (`--on-error skip`) counted once, whatever batch it sits in."""
    if opts.on_error != "skip":
        raise exc
    if rec["pid"] not in done:
        _skip(skips, exc)
        if bar is not None:
            bar.update(1)


def _refused_before_loading(opts: SampleOptions, pending: list[dict[str, Any]]) -> dict[str, InputError]:
    """The pending records whose image the model's processor refuses by a rule mmpo knows (an aspect ratio),
    found from image headers before the model loads: the first raises, or all are skipped later."""
    from mmpo.models.load import load_processor
    from mmpo.models.processors import refused_images

    if not any(r["image_path"] is not None for r in pending):
        return {}
    bad = refused_images(load_processor(opts.model, trust_remote_code=opts.trust_remote_code), pending)
    if bad and opts.on_error != "skip":
        raise next(iter(bad.values()))
    return {pending[i]["pid"]: exc for i, exc in bad.items()}


def _generate(opts: SampleOptions, model, processor, batch, images, done: set[str], skips, bar) -> list[tuple]:
    """(record, responses) for the batch; a record the processor refuses (a rule found only when encoding)
    is found alone, raised or skipped, and the rest sampled."""
    from mmpo.data.chat import chat_prompt
    from mmpo.models.processors import encode_failures

    if not batch:
        return []
    try:
        return list(zip(batch, _responses(opts, model, processor, batch, images)))
    except ValueError as exc:
        items = [(chat_prompt(processor, r["_prompt"], image=im is not None), im) for r, im in zip(batch, images)]
        bad = encode_failures(processor, items, exc)
        if not bad:
            raise
    for i, reason in bad.items():
        rec = batch[i]
        _skip_record(opts, rec, InputError(reason, path=rec["_source"], field="image", **rec["_where"]), done,
                     skips, bar)
    keep = [k for k in range(len(batch)) if k not in bad]
    return _generate(opts, model, processor, [batch[k] for k in keep], [images[k] for k in keep], done, skips, bar)



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


def _existing(out: Path, settings: dict[str, Any], wanted: dict[str, str], on_mismatch: str,
              data: str) -> tuple[set[str], int]:
    """(pids already complete in `out`, lines dropped because their record changed).

    A partial last line (a kill mid-write) is dropped first. Every line must carry `settings`, else
    the file is refused or, with `on_mismatch="replace"`, started over; a pid this shard does not
    hold is refused (another --data, --shard or --limit); a line whose record hash differs from the
    record's now is dropped from the file, to be sampled again.
    """
    if not out.exists():
        return set(), 0
    truncate_partial_tail(out)
    done, kept, stale, unknown = set(), [], 0, []
    with out.open("r", encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            obj = _line(raw, out, lineno)
            if obj.get("settings") != settings:
                if on_mismatch == "replace":
                    out.unlink()
                    return set(), 0
                diff = sorted(k for k in set(settings) | set(obj.get("settings") or {})
                              if (obj.get("settings") or {}).get(k) != settings.get(k))
                raise InputError(f"written with different settings ({', '.join(diff)}); rerun the same command "
                                 "to resume, or choose a new --out", path=out, line=lineno, field="settings")
            pid = str(obj.get("pid"))
            if pid not in wanted:
                unknown.append(pid)
            elif obj.get("qhash") == wanted[pid]:
                done.add(pid)
                kept.append(raw)
            else:
                stale += 1
    if unknown:
        raise InputError(f"has {len(unknown)} pid(s) not in this shard of {data} (e.g. {sorted(unknown)[0]!r}); "
                         "resume with the same --data/--shard/--limit or choose a new --out", path=out, field="pid")
    if stale:
        _rewrite(out, kept)
    return done, stale


def _line(raw: str, out: Path, lineno: int) -> dict[str, Any]:
    try:
        obj = parse_json(raw, path=out, line=lineno)
    except InputError as exc:
        raise InputError(f"{exc.reason} in an existing output; use a new --out", path=out, line=lineno) from None
    if not isinstance(obj, dict):
        raise InputError("malformed line in an existing output; use a new --out", path=out, line=lineno)
    return obj


def _rewrite(out: Path, lines: list[str]) -> None:
    """Replace `out` by these whole lines, atomically."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(lines)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)


def _reorder(out: Path, order: list[str]) -> None:
    """Put the lines of `out` in the shard's input order (lines sampled again were appended last)."""
    rank = {pid: i for i, pid in enumerate(order)}
    with out.open("r", encoding="utf-8") as fh:
        lines = fh.readlines()
    lines.sort(key=lambda raw: rank.get(str(json.loads(raw).get("pid")), len(rank)))
    _rewrite(out, lines)


def prompt_for(rec: dict[str, Any], style: str, source: str) -> str:
    """The record's prompt text; a record the prompt source cannot serve is an InputError naming it."""
    from mmpo.data.prompts import build_prompt

    try:
        return build_prompt(rec, style, source)
    except ValueError as exc:
        raise InputError(str(exc), path=rec.get("_source"), field="query", **(rec.get("_where") or {})) from None



def _responses(opts, model, processor, batch, images) -> list[list[dict[str, Any]]]:
    from mmpo.data.chat import chat_prompt
    from mmpo.engines.session import EngineSession

    if isinstance(model, EngineSession):
        from mmpo.sample.engine import engine_responses

        return engine_responses(opts, model, batch, images)
    from mmpo.models.load import capped_length
    from mmpo.sample.prefill import decode, draw_samples

    texts = [chat_prompt(processor, r["_prompt"], image=im is not None) for r, im in zip(batch, images)]
    seeds = [prompt_seed(opts.seed, r["pid"]) for r in batch]
    drawn = draw_samples(model, processor, texts, images, n=opts.n, seeds=seeds, temperature=opts.temperature,
                         top_k=opts.top_k, max_new_tokens=capped_length(model, opts.max_new_tokens))
    out = []
    for rec, comps in zip(batch, drawn):
        resp = [response_item(rec, decode(processor, c), c.truncated) for c in comps]
        if opts.dropout_ntp and rec.get("answer") in (None, "") and rec["image_path"] is not None:
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
    from mmpo.models.load import capped_length
    from mmpo.sample.prefill import decode, draw_samples

    todo = [(j, p) for j, r in enumerate(resp) if (p := split_words(r["text"], opts.dropout_ratio)) is not None]
    if not todo:
        return
    head = chat_prompt(processor, rec["_prompt"], image=False)
    texts = [head + p for _, p in todo]
    seeds = [prompt_seed(opts.seed, rec["pid"], f"ntp{j}") for j, _ in todo]
    drawn = draw_samples(model, processor, texts, None, n=1, seeds=seeds, temperature=opts.temperature,
                         top_k=opts.top_k, max_new_tokens=capped_length(model, opts.max_new_tokens))
    for (j, prefix), (c,) in zip(todo, drawn):
        resp[j]["ntp_prefix"] = prefix
        resp[j]["ntp_continuation"] = decode(processor, c)
        resp[j]["ntp_truncated"] = c.truncated
