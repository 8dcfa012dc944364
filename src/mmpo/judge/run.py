"""Judge a judge-scored benchmark's predictions and keep every judgement in `judgements.jsonl`.

    scored = judge_predictions(out_dir, bench, records, predictions, opts)   # predictions + score/verdict/judge

For each prediction (a dict with `pid`, `mode`, `response`) the judge prompt (`JudgeOptions.judge_prompt`,
`mmpo.judge.template`) is filled with the record's fields and the response and sent to the judge
(`mmpo.engines.client.ChatClient`, temperature 0, text only: the published judges see no image), and
the reply is parsed by the benchmark (`bench.parse`). One line per judgement is appended to
`OUT/judgements.jsonl` (fields: `JUDGEMENT_FIELDS`), flushed and fsynced, under the file's lock:

    {"pid", "mode", "judge_model", "prompt_sha256", "qhash", "fields_sha256", "response_sha256", "reply",
     "truncated", "score", "parsed", "parse_error"}

`score` is the judge's rating on the benchmark's scale (None when the reply cannot be read; then
`parse_error` says why); `parsed` holds what else the reply gave (LLaVA-Bench: the reference's rating).
A rerun reuses the latest judgement of a (pid, mode) made by the same judge model with the same prompt
file (sha256 of its bytes) on the same record (`qhash`, `mmpo.data.fingerprint.record_hash`, and
`fields_sha256`, of the benchmark's judge fields: a caption or reference changed) and the same response
(`response_sha256`);
anything else is judged again, so a changed answer or prompt is never scored by a stale judgement. A
killed run leaves at most a partial last line, which the rerun cuts (`truncate_partial_tail`).

Each prediction returned carries `score`, `verdict` ("correct"/"incorrect" by the benchmark's threshold,
"format_failure" for an empty response whatever the judge said, None when the judge's reply was
unparsed), `judge_unparsed` (True only then) and `judge` (`{"model", "prompt_sha256", "reply"}`).

Without the CLI (a subprocess a test can kill):
    python -m mmpo.judge.run --benchmark mm-vet --data mm-vet.json --predictions predictions.jsonl \
        --out DIR --judge-base-url URL --judge-model NAME --judge-prompt FILE
prints the benchmark's summary as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmpo.engines.client import ChatClient, ChatRequest
from mmpo.errors import MMPOError
from mmpo.judge.options import JudgeOptions
from mmpo.judge.template import JudgeTemplate

JUDGEMENTS = "judgements.jsonl"
KEY_FIELDS = ("pid", "mode", "judge_model", "prompt_sha256", "qhash", "fields_sha256", "response_sha256")
JUDGEMENT_FIELDS = (*KEY_FIELDS, "reply", "truncated", "score", "parsed", "parse_error")


def response_sha256(response: str | None) -> str:
    return hashlib.sha256((response or "").encode("utf-8")).hexdigest()


def record_qhash(record: Mapping[str, Any]) -> str:
    from mmpo.data.fingerprint import record_hash

    return record_hash(dict(record))


class JudgeClient(ChatClient):
    """The engines' client, asking with the plain OpenAI fields only (a hosted judge refuses vLLM's)."""

    def _body(self, req: ChatRequest) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": req.text}], "n": 1, "temperature": req.temperature,
                "max_tokens": req.max_tokens}


def fields_sha256(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def read_judgements(path: Path) -> dict[tuple[str, ...], dict[str, Any]]:
    """Finished judgements keyed by `KEY_FIELDS`; the latest line wins."""
    from mmpo.data.files import iter_jsonl

    out: dict[tuple, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for _, obj in iter_jsonl(path):
        try:
            key = tuple(str(obj[k]) for k in KEY_FIELDS)
        except KeyError:
            continue  # not a judgement line of this version: judged again
        out[key] = obj
    return out


def judgement_line(pred: Mapping[str, Any], bench: Any, key: tuple[str, ...], reply: str | None,
                   truncated: bool) -> dict[str, Any]:
    parsed = bench.parse(reply)
    error = None
    if parsed is None:
        error = ("empty reply" if not (reply or "").strip() else
                 f"no {bench.title} judgement found in the reply ({bench.judge_format})")
    extra = {k: v for k, v in (parsed or {}).items() if k != "score"}
    return {**dict(zip(KEY_FIELDS, key)), "reply": reply, "truncated": truncated, "score": None if parsed is None else float(parsed["score"]),
            "parsed": extra or None, "parse_error": error}


def apply_judgement(pred: Mapping[str, Any], line: Mapping[str, Any], bench: Any) -> dict[str, Any]:
    """The prediction with the judgement's score, verdict, judge_unparsed flag and judge fields."""
    out = dict(pred)
    empty = not (pred.get("response") or "").strip()
    unparsed = line.get("score") is None
    parsed = {"score": line["score"], **(line.get("parsed") or {})} if not unparsed else None
    out["score"] = None if unparsed else float(line["score"])
    out.update({k: v for k, v in (line.get("parsed") or {}).items()})
    if empty:
        out["verdict"] = "format_failure"
    else:
        out["verdict"] = None if unparsed else bench.verdict_of(parsed)
    out["judge_unparsed"] = unparsed
    out["judge"] = {"model": line["judge_model"], "prompt_sha256": line["prompt_sha256"], "reply": line.get("reply"),
                    "parse_error": line.get("parse_error")}
    return out


def judge_predictions(out_dir: str | os.PathLike, bench: Any, records: Sequence[Mapping[str, Any]],
                      predictions: Sequence[Mapping[str, Any]], opts: JudgeOptions, *,
                      progress: bool = True) -> list[dict[str, Any]]:
    """Every prediction judged (reusing `out_dir/judgements.jsonl`), in the order given."""
    from mmpo.data.files import JsonlAppender, OutputLock, truncate_partial_tail

    if getattr(bench, "kind", None) != "judge":
        raise MMPOError(f"{bench.name} is scored by its rule, not by a judge")
    opts.check_judge(bench.name)
    tpl = JudgeTemplate.load(opts.judge_prompt, bench)
    by_pid = {str(r["pid"]): r for r in records}
    qhashes: dict[str, tuple[str, str]] = {}
    jobs = []  # (index, prediction, record, key: KEY_FIELDS)
    for i, pred in enumerate(predictions):
        pid = str(pred.get("pid"))
        if pid not in by_pid:
            raise MMPOError(f"prediction {i + 1} names question {pid!r}, which the {bench.title} data does not have")
        if pid not in qhashes:
            rec = by_pid[pid]
            qhashes[pid] = (record_qhash(rec), fields_sha256(bench.judge_fields(rec)))
        key = (pid, str(pred.get("mode", "direct")), str(opts.judge_model), tpl.sha256, *qhashes[pid],
               response_sha256(pred.get("response")))
        jobs.append((i, pred, by_pid[pid], key))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / JUDGEMENTS
    lock = OutputLock(path).acquire()
    try:
        truncate_partial_tail(path)
        done = read_judgements(path)
        todo = [j for j in jobs if j[3] not in done]
        # One request per distinct key (the same answer twice is judged once).
        unique: dict[tuple, tuple] = {}
        for job in todo:
            unique.setdefault(job[3], job)
        if unique:
            client = JudgeClient(list(opts.judge_base_url), opts.judge_model, api_key_env=opts.judge_api_key_env,
                                 concurrency=opts.judge_concurrency)
            bar = _bar(progress, len(jobs), len(jobs) - len(todo))
            requests = list(_requests(unique.values(), bench, tpl, opts))
            with JsonlAppender(path, locked=True) as sink:
                for job, samples in zip(unique.values(), client.imap(requests)):
                    _, pred, rec, key = job
                    sample = samples[0]
                    line = judgement_line(pred, bench, key, sample.text, sample.truncated)
                    sink.write(line)
                    done[key] = line
                    if bar is not None:
                        bar.update(1)
            if bar is not None:
                bar.close()
    finally:
        lock.release()
    return [apply_judgement(pred, done[key], bench) for _, pred, _, key in jobs]


def _requests(jobs: Any, bench: Any, tpl: JudgeTemplate, opts: JudgeOptions) -> Iterator[ChatRequest]:
    for _, pred, rec, key in jobs:
        text = tpl.render(bench.judge_fields(rec), str(pred.get("response") or ""), variant=bench.judge_variant(rec),
                          pid=key[0])
        yield ChatRequest(pid=f"{key[0]} (judge)", text=text, temperature=0.0, top_k=0,
                          max_tokens=opts.judge_max_tokens)


def _bar(progress: bool, total: int, done: int):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="judge", unit="answer", dynamic_ncols=True)


# ---- an entry point without the CLI ----------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    from mmpo.benchmarks import get_benchmark
    from mmpo.data.files import read_jsonl
    from mmpo.options import add_arguments, from_arguments

    parser = argparse.ArgumentParser(prog="python -m mmpo.judge.run", description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--data", required=True, help="the benchmark's files, as they ship")
    parser.add_argument("--predictions", required=True, help="JSONL lines with pid, mode, response")
    parser.add_argument("--out", required=True, help="folder of judgements.jsonl")
    parser.add_argument("--no-progress", action="store_true")
    add_arguments(parser, JudgeOptions)
    args = parser.parse_args(argv)
    try:
        bench = get_benchmark(args.benchmark)
        opts = from_arguments(JudgeOptions, args)
        records = bench.read(args.data)
        preds = read_jsonl(args.predictions)
        by_rec = {str(r["pid"]): r for r in records}
        preds = [{**p, **bench.check(p.get("response"), by_rec[str(p["pid"])], p.get("mode", "direct"))}
                 if str(p.get("pid")) in by_rec else p for p in preds]
        scored = judge_predictions(args.out, bench, records, preds, opts, progress=not args.no_progress)
        print(json.dumps(bench.summarize(scored), indent=2))
    except MMPOError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
