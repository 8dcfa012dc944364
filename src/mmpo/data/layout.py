"""The files stages write and read: every name, and the samples line (docs/formats.md).

    from mmpo.data.layout import PREDICTIONS_FILE, sample_line, validate_sample

One owner for each name, so a writer and its readers (the next stage, `mmpo report`, `mmpo inspect`,
`mmpo iterate`) can never disagree. The samples line is built by `sample_line` (what `mmpo sample`
writes) and checked by `validate_sample` (what `mmpo pairs` and `mmpo inspect` read), from one schema.
"""

from __future__ import annotations

import os
from typing import Any

from mmpo.errors import InputError

# mmpo sample: FILE, FILE.stats.json, FILE.images/
SAMPLES_STATS_SUFFIX = ".stats.json"
SAMPLES_IMAGES_SUFFIX = ".images"
# mmpo pairs: DIR/meta.json, DIR/<subset>.jsonl, DIR/stats.json
PAIRS_META = "meta.json"
PAIRS_STATS = "stats.json"
# mmpo eval: DIR/predictions.jsonl, DIR/scores.json, and the resume key
PREDICTIONS_FILE = "predictions.jsonl"
SCORES_FILE = "scores.json"
EVAL_KEY_FILE = ".eval-settings.json"
# mmpo train: the Trainer's state, mmpo's state (written last into a checkpoint), what ran
TRAINER_STATE = "trainer_state.json"
MPO_STATE = "mpo_state.json"
RUN_INFO = "run_info.json"
# mmpo iterate and mmpo demo
ROUNDS_FILE = "rounds.json"
ROUND_DONE = ".mmpo-round-done"  # in a round's model folder once its training has finished
RESULTS_FILE = "results.json"

VERDICTS = ("correct", "incorrect", "format_failure")
# The MathVista fields a samples line keeps of its record.
RECORD_FIELDS = ("pid", "question", "image", "choices", "unit", "precision", "answer", "question_type",
                 "answer_type", "query", "metadata")
# Top-level fields of a samples line and their types.
SAMPLE_FIELDS: dict[str, tuple[type, ...]] = {
    "pid": (str,), "prompt": (str,), "image": (str, type(None)), "question": (str,),
    "answer": (str, int, float, list, type(None)), "record": (dict,), "responses": (list,),
    "settings": (dict,), "truncated": (int,), "source": (str,), "qhash": (str,),
}
SAMPLE_REQUIRED = ("pid", "prompt", "image", "responses")
RESPONSE_FIELDS: dict[str, tuple[type, ...]] = {
    "text": (str,), "extracted": (str, type(None)), "verdict": (str, type(None)),
    "truncated": (bool,), "ntp_prefix": (str,), "ntp_continuation": (str,), "ntp_truncated": (bool,),
}


def samples_stats_path(samples: str | os.PathLike) -> str:
    return str(samples) + SAMPLES_STATS_SUFFIX


def sample_line(rec: dict[str, Any], prompt: str, responses: list[dict[str, Any]], settings: dict[str, Any], *,
                source: str, qhash: str | None = None) -> dict[str, Any]:
    """The line `mmpo sample` writes for one prompt (`rec`: a record as `read_records` gives it)."""
    line = {"pid": rec["pid"], "prompt": prompt, "image": rec["image_path"], "question": rec["question"],
            "answer": rec.get("answer"), "source": source,
            "record": {**{k: rec.get(k) for k in RECORD_FIELDS}, "image": rec["image_path"]},
            "truncated": sum(r["truncated"] for r in responses), "responses": responses,
            "settings": settings}
    if qhash is not None:
        line["qhash"] = qhash
    return line


def validate_sample(obj: Any, *, path=None, line: int | None = None) -> dict[str, Any]:
    """Check one samples line; raises InputError naming file, line and field.

    A field this reader does not know is an error: a misspelt field would otherwise be ignored.
    """
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=line)
    for name in obj:
        if name not in SAMPLE_FIELDS:
            raise InputError("unknown field (not written by mmpo sample)", path=path, line=line, field=name)
    for name in SAMPLE_REQUIRED:
        if name not in obj:
            raise InputError("missing required field", path=path, line=line, field=name)
    for name, value in obj.items():
        if not isinstance(value, SAMPLE_FIELDS[name]):
            raise InputError(f"has type {type(value).__name__}", path=path, line=line, field=name)
    if not obj["responses"]:
        raise InputError("no responses", path=path, line=line, field="responses")
    for i, resp in enumerate(obj["responses"]):
        _validate_response(resp, f"responses[{i}]", path, line)
    if obj["image"] is not None and not os.path.isfile(obj["image"]):
        raise InputError(f"image file not found: {obj['image']}", path=path, line=line, field="image")
    return obj


def _validate_response(resp: Any, where: str, path, line) -> None:
    if not isinstance(resp, dict):
        raise InputError(f"expected an object, got {type(resp).__name__}", path=path, line=line, field=where)
    if "text" not in resp:
        raise InputError("missing required field", path=path, line=line, field=f"{where}.text")
    for name, value in resp.items():
        if name not in RESPONSE_FIELDS:
            raise InputError("unknown field", path=path, line=line, field=f"{where}.{name}")
        if not isinstance(value, RESPONSE_FIELDS[name]):
            raise InputError(f"has type {type(value).__name__}", path=path, line=line, field=f"{where}.{name}")
    if resp.get("verdict") not in (*VERDICTS, None):
        raise InputError(f"must be one of {VERDICTS} or null, got {resp['verdict']!r}",
                         path=path, line=line, field=f"{where}.verdict")
    if ("ntp_prefix" in resp) != ("ntp_continuation" in resp):
        raise InputError("ntp_prefix and ntp_continuation must come together",
                         path=path, line=line, field=f"{where}.ntp_prefix")
