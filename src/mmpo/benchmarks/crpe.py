"""CRPE, relation split: single-choice questions probing the subject, predicate or object of a relation
in an image, scored by CircularEval (Wang et al., "The All-Seeing Project V2", ECCV 2024; the data
`OpenGVLab/CRPE` on the Hub; the authors' scorer `all-seeing-v2/llava/eval/eval_crpe.py` in
github.com/OpenGVLab/all-seeing).

The circular rule: a question with N options is asked N times, its options circularly shifted each
time (the answer moving with them); it counts correct only when every one of the N askings is
answered correctly. Accuracy is over questions, per category (subject, predicate, object) and overall.

Reads, as they ship:
- the authors' `crpe_relation.jsonl`, which already holds every rotation: one line per asking,
  `question_id`, `image` (a path such as `coco/val2017/...jpg` or `abnormal_images/...jpg`), `text`
  (the question, its options as lines "A. ...", and an answer instruction), `correct_option` (a
  letter) and `category`. As the authors' scorer does, the lines of one category are taken N at a
  time, in file order, as the N rotations of one question; each group is checked to be one question
  (same image, stem and options, the same answer, N different orders), else it is an error naming
  the line. Image paths are resolved against the file's folder, then each folder above it (the
  authors' layout keeps the JSONL in `data/eval/crpe/` and the images under `data/`);
- VLMEvalKit's `CRPE_RELATION.tsv` (`index`, base64 `image`, `question` with the options in it or
  option columns `A`..`D`, `answer` letter, `category`), grouped the same way;
- one line per question (`question` with `choices` or `options`, `answer` or `correct_option` as a
  letter or the option's text): each is expanded into its N rotations here.
Records are `QID@r0` .. `QID@r{N-1}` (QID: the first asking's `question_id`, else `index`, else its
line), with `metadata.circular_of` (QID), `rotation` (k), `category`, and the shipped `question_id`.

Prompts: mmpo's layout of the question and lettered options; direct adds "Answer with the option's
letter from the given choices directly." (the instruction the shipped text ends with), cot is mmpo's
reasoning prompt. One asking is correct when its answer is the letter of the correct option: direct,
the response opening with a letter ("B", "B.", "(B) text"); cot, the letter of its final answer. The
authors' scorer takes a one-character response only; mmpo also reads those letter forms, and a
response with no letter is a format failure (wrong).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.benchmarks._qa import (
    NotedBenchmark,
    ReadNotes,
    Rows,
    letter_answer,
    letter_verdict,
    opening_letter,
    text_of,
    where_of,
)
from mmpo.data.records import label_index, option_label
from mmpo.errors import InputError

_OPTION_LINE = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])\s*[.:)])\s*(.*\S)\s*$")
_PARENT_LEVELS = 3  # folders above the file tried for a relative image path


def parse_text(text: str) -> tuple[str, list[str]]:
    """(stem, options) of a question whose options are lines "A. ...", "B. ..." (or "(A) ...", "A) ..."),
    in order from A; the lines after the options (the answer instruction) are dropped."""
    lines = text.strip().split("\n")
    def option(line: str) -> tuple[str, str] | None:
        m = _OPTION_LINE.match(line)
        return (m.group(1) or m.group(2), m.group(3)) if m else None

    start = next((i for i, line in enumerate(lines) if (o := option(line)) and o[0] == "A"), None)
    if start is None:
        return text.strip(), []
    options = []
    for line in lines[start:]:
        o = option(line)
        if o is None or o[0] != option_label(len(options)):
            break
        options.append(o[1])
    return "\n".join(lines[:start]).strip(), options


def _image_key(image: Any) -> str:
    if isinstance(image, dict):
        if image.get("bytes"):
            return "sha1:" + hashlib.sha1(image["bytes"]).hexdigest()
        return str(image.get("path"))
    return str(image)


def _resolve(image: Any, source: Path) -> Any:
    """A relative image path found next to the file or in a folder above it (absolute), else as given."""
    if not isinstance(image, str) or not image or os.path.isabs(image):
        return image
    folder = source.parent
    for _ in range(_PARENT_LEVELS + 1):
        if (folder / image).is_file():
            return str((folder / image).resolve())
        folder = folder.parent
    return image


class _Asking:
    __slots__ = ("where", "qid", "stem", "choices", "answer", "category", "image")

    def __init__(self, where, qid, stem, choices, answer, category, image):
        self.where, self.qid, self.stem, self.choices = where, qid, stem, choices
        self.answer, self.category, self.image = answer, category, image

    def key(self) -> tuple:
        return (self.category, _image_key(self.image), self.stem, tuple(sorted(self.choices)))


def _answer_index(value: Any, choices: list[str], where: dict, name: str) -> int:
    text = text_of(value)
    letter = text.strip("() .")
    i = label_index(letter.upper(), len(choices)) if len(letter) == 1 else None
    if i is None and text in choices:
        i = choices.index(text)
    if i is None and (opening := opening_letter(text)) is not None:  # "(B) cat", "B. cat"
        i = label_index(opening, len(choices))
    if i is None:
        raise InputError(f"{value!r} is none of the {len(choices)} options nor their letters", **where, field=name)
    return i


def _parse(where: dict, row: Mapping[str, Any]) -> _Asking:
    w = where_of(where)
    if "text" in row and "question" not in row:
        stem, choices = parse_text(text_of(row["text"]))
        qfield = "text"
    else:
        qfield = "question"
        raw = row.get("choices", row.get("options"))
        letters = [c for c in ("A", "B", "C", "D", "E", "F", "G", "H") if text_of(row.get(c))]
        if isinstance(raw, dict):
            choices = [text_of(raw[k]) for k in sorted(raw)]
            stem = text_of(row.get("question"))
        elif isinstance(raw, list | tuple):
            choices, stem = [text_of(c) for c in raw], text_of(row.get("question"))
        elif letters:
            choices, stem = [text_of(row[c]) for c in letters], text_of(row.get("question"))
            stem = parse_text(stem)[0] if parse_text(stem)[1] else stem
        else:
            stem, choices = parse_text(text_of(row.get("question")))
    if not stem:
        raise InputError("missing required field", **w, field=qfield)
    if len(choices) < 2:
        raise InputError("a CRPE question needs at least 2 options (lines 'A. ...', or a choices list)", **w,
                         field=qfield)
    name = "correct_option" if "correct_option" in row else "answer"
    answer = _answer_index(row.get(name), choices, w, name)
    qid = next((text_of(row[k]) for k in ("question_id", "index", "id") if text_of(row.get(k))), None)
    if qid is None:
        qid = str(where.get("line") if where.get("line") is not None else where.get("record"))
    image = _resolve(row.get("image"), Path(where["path"]))
    return _Asking(where, qid, stem, choices, answer, text_of(row.get("category")).lower() or None, image)


def _groups(askings: list[_Asking]) -> list[list[_Asking]] | None:
    """The askings taken N at a time per category, in file order, when every such group is the N
    rotations of one question; None when no two askings in a row (per category) are one question."""
    by_cat: dict[Any, list[_Asking]] = {}
    for a in askings:
        by_cat.setdefault(a.category, []).append(a)
    groups: list[list[_Asking]] = []
    rotated, repeated = True, False
    for items in by_cat.values():
        repeated |= any(x.key() == y.key() for x, y in zip(items, items[1:]))
        i = 0
        while rotated and i < len(items):
            n = len(items[i].choices)
            chunk = items[i:i + n]
            if len(chunk) < n or any(a.key() != chunk[0].key() for a in chunk):
                rotated = False
            groups.append(chunk)
            i += n
    if rotated:
        for chunk in groups:
            _check_rotations(chunk)
        position = {id(a): i for i, a in enumerate(askings)}
        return sorted(groups, key=lambda g: position[id(g[0])])
    if repeated:
        first = next(y for items in by_cat.values() for x, y in zip(items, items[1:]) if x.key() == y.key())
        raise InputError("this line repeats the question before it, but the lines are not that question's "
                         "N rotations in a row (one line per question, or N lines per N-option question)",
                         **where_of(first.where))
    return None


def _check_rotations(chunk: list[_Asking]) -> None:
    first = chunk[0]
    gold = first.choices[first.answer]
    orders = set()
    for a in chunk:
        w = where_of(a.where)
        if a.choices[a.answer] != gold:
            raise InputError(f"the rotations of question {first.qid} disagree on the answer "
                             f"({a.choices[a.answer]!r}, first {gold!r})", **w, field="correct_option")
        if tuple(a.choices) in orders:
            raise InputError(f"the same option order twice among the rotations of question {first.qid}", **w)
        orders.add(tuple(a.choices))


def _rows(notes: ReadNotes) -> Any:
    def transform(rows: Rows) -> Rows:
        askings = []
        for where, row in rows:
            notes.seen()
            if not isinstance(row, dict):
                raise InputError(f"expected a JSON object, got {type(row).__name__}", **where_of(where))
            askings.append(_parse(where, row))
        groups = _groups(askings)
        if groups is None:  # one line per question: rotate here
            groups = []
            for a in askings:
                n = len(a.choices)
                groups.append([_Asking(a.where, a.qid, a.stem, a.choices[k:] + a.choices[:k], (a.answer - k) % n,
                                       a.category, a.image) for k in range(n)])
        for chunk in groups:
            qid, n = chunk[0].qid, len(chunk)
            for k, a in enumerate(chunk):
                meta = {"circular_of": qid, "rotation": k, "rotations": n, "category": a.category,
                        "question_id": a.qid}
                yield a.where, {"pid": f"{qid}@r{k}", "question": a.stem, "choices": a.choices,
                                "answer": a.choices[a.answer], "answer_index": a.answer, "image": a.image,
                                "question_type": "multi_choice", "answer_type": "text", "metadata": meta}
    return transform


@dataclass(frozen=True)
class CRPE(NotedBenchmark):
    def rows_of(self, notes: ReadNotes, split: str | None) -> Any:
        return _rows(notes)

    def read_extra(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return {"questions": len({r["metadata"]["circular_of"] for r in records})}

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        extracted, letter = letter_answer(response, mode)
        verdict = letter_verdict(letter, record)
        meta = record.get("metadata") or {}
        return {"extracted": extracted, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0,
                "letter": letter, "circular_of": meta.get("circular_of"), "rotation": meta.get("rotation"),
                "rotations": meta.get("rotations"), "category": meta.get("category")}

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        questions: dict[str, list[Mapping[str, Any]]] = {}
        for p in predictions:
            questions.setdefault(str(p.get("circular_of", p.get("pid"))), []).append(p)
        by_cat: dict[str, list[float]] = {}
        solved, incomplete = [], 0
        for askings in questions.values():
            expected = askings[0].get("rotations") or len(askings)
            complete = len({a.get("rotation") for a in askings}) >= expected
            incomplete += not complete
            ok = float(complete and all(a.get("verdict") == "correct" for a in askings))
            solved.append(ok)
            by_cat.setdefault(str(askings[0].get("category") or "unspecified"), []).append(ok)
        n = len(solved)
        acc = sum(solved) / n if n else 0.0
        askings_n = len(predictions)
        single = sum(p.get("verdict") == "correct" for p in predictions) / askings_n if askings_n else 0.0
        failures = sum(p.get("verdict") == "format_failure" for p in predictions)
        metrics = {"accuracy": acc, "single_accuracy": single, "questions": n, "askings": askings_n,
                   "incomplete_questions": incomplete, "format_failures": failures,
                   "format_failure_rate": failures / askings_n if askings_n else 0.0}
        by = {"category": {c: {"n": len(v), "accuracy": sum(v) / len(v)} for c, v in sorted(by_cat.items())}}
        return {"primary": acc, "n": n, "metrics": metrics, "by": by}


BENCHMARK = CRPE(
    name="crpe", title="CRPE", kind="rules",
    reads="OpenGVLab/CRPE crpe_relation.jsonl (rotations as shipped); VLMEvalKit CRPE_RELATION.tsv; "
          "one line per question (rotated here)",
    scoring="CircularEval: a question counts only when all N rotations of its options get the right letter; "
            "accuracy over questions, by category",
    source="Wang et al. 2024 (All-Seeing V2), github.com/OpenGVLab/all-seeing eval_crpe.py",
    primary="accuracy", files=("crpe_relation.jsonl", "CRPE_RELATION.tsv"),
)
