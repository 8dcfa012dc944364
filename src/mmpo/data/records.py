"""Benchmark and prompt records: the MathVista schema every stage reads (docs/formats.md).

    records = read_records("testmini.parquet", require_answer=True)   # validated, normalised
    records[0]["pid"], records[0]["image_ref"], records[0]["_where"]

Containers: JSONL, a JSON list or a JSON dict keyed by pid (MathVista's testmini.json), parquet
files and `datasets` folders (`mmpo.data.sources`). Shapes, recognised by their fields and
mapped onto the MathVista schema (`normalize_record`):

- MathVista (`pid`, `question`, `image`, `decoded_image`, `choices`, `unit`, `precision`, `answer`,
  `question_type`, `answer_type`, `query`, `metadata`), as the Hub and the JSON release ship it;
- M3CoT (`id`, `question`, `context`, `choices`, `answer` as a letter, `rationale`, `image`);
- ScienceQA and M3CoT in ScienceQA's format (`question`, `choices`, `answer` as a 0-based index,
  `hint`, optional `image`);
- MathVerse (`sample_index`, `question_type` "multi-choice"/"free-form", the options inside the
  question text, an empty question in its vision-only versions);
- plain JSONL with `image`, `question`[, `answer`] (pid: the line number).

Every error names the file, the line (text files) or record (lists, parquet, datasets) and the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mmpo.errors import InputError

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("integer", "float", "text", "list")

# MathVista record fields: name -> allowed python types (None allowed where listed).
_FIELDS: dict[str, tuple[type, ...]] = {
    "pid": (str, int),
    "question": (str,),
    "image": (str, dict, type(None)),
    "choices": (list, type(None)),
    "unit": (str, type(None)),
    "precision": (int, float, type(None)),
    "answer": (str, int, float, list, type(None)),
    "question_type": (str,),
    "answer_type": (str,),
    "query": (str, type(None)),
    "metadata": (dict, type(None)),
}
_REQUIRED = ("pid", "question")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Option labels: A..Z, then AA, AB, ..., ZZ (as spreadsheets name their columns); no record has more.
MAX_CHOICES = 26 + 26 * 26


def option_label(index: int) -> str:
    """The label of choice `index` (0-based) in prompts and answers: A..Z, then AA, AB, ..., ZZ."""
    if not 0 <= index < MAX_CHOICES:
        raise ValueError(f"no option label for choice {index} (at most {MAX_CHOICES} choices)")
    if index < 26:
        return _LETTERS[index]
    index -= 26
    return _LETTERS[index // 26] + _LETTERS[index % 26]


def label_index(label: str, n_choices: int) -> int | None:
    """The choice (0-based) that `label` names among `n_choices`, or None.

    One letter (either case) names one of the first 26; two capital letters (AA, AB, ...) name a choice
    only when there are more than 26, so "AB" of an ordinary record is never read as a label.
    """
    if len(label) == 1 and label.isascii() and label.isalpha():
        i = ord(label.upper()) - 65
    elif len(label) == 2 and n_choices > 26 and label.isascii() and label.isalpha() and label.isupper():
        i = 26 + (ord(label[0]) - 65) * 26 + ord(label[1]) - 65
    else:
        return None
    return i if i < n_choices else None


def check_choice_count(choices: list | tuple, where: dict | None = None) -> None:
    """Refuse more choices than there are option labels (MAX_CHOICES)."""
    if len(choices) > MAX_CHOICES:
        raise InputError(f"{len(choices)} choices; at most {MAX_CHOICES} can be labelled (A..Z, AA..ZZ)",
                         **(where or {}), field="choices")


def choice_of_index(answer: int, choices: list[str] | tuple[str, ...],
                    where: dict | None = None) -> tuple[str, int | None]:
    """An integer answer of a multiple-choice record: (the choice's text, its index, or None when the
    integer is a choice's text rather than an index).

    It is a 0-based index (ScienceQA's `answer`) when in range; an integer that is one choice's text
    and the index of another is ambiguous and refused; out of range it must be a choice's text.
    """
    where = where or {}
    choices = [str(c) for c in choices]
    as_text = str(answer) in choices
    if 0 <= answer < len(choices):
        if as_text and choices[answer] != str(answer):
            raise InputError(f"{answer} is both a choice's text and the index of choice {choices[answer]!r}; "
                             "store the choice's text (or its letter) instead", **where, field="answer")
        return choices[answer], answer
    if as_text:
        return str(answer), None
    raise InputError(f"index {answer} is out of range for {len(choices)} choices", **where, field="answer")


def read_records(path: str | os.PathLike, *, require_answer: bool = False, on_error: str = "raise",
                 skip: Callable[[InputError], None] | None = None, split: str | None = None,
                 prepare: Callable[[Any, dict], Any] | None = None,
                 transform: Callable[[Iterator[tuple[dict, Any]]], Iterator[tuple[dict, Any]]] | None = None,
                 ) -> list[dict[str, Any]]:
    """Validated MathVista-schema records of a file or dataset folder, in order.

    Each record gets `image_ref` (an absolute image path, a `{"bytes", "path"}` dict, or None for a
    text-only record), `image_path` (the path, or None), `_source` and `_where` (the file and the
    line/record, for messages). With `on_error="skip"`, a bad record goes to `skip(error)` instead.
    `prepare(row, where)`: maps a row of a shape only one reader knows (a benchmark's own release,
    `mmpo.benchmarks`) before the shapes above are recognised; it returns the row to read, or None to
    leave the row out (the caller counts and reports what it leaves out), and raises InputError for
    a bad row. `transform`: maps the whole stream of `(where, row)` pairs first (for a shape whose rows
    are read together: several lines that are one question, one row asked in several forms); what it
    raises is raised.
    """
    from mmpo.data.sources import iter_rows

    path = Path(path)
    base = path.parent if path.is_file() else path

    def bad(exc: InputError) -> None:
        if on_error != "skip":
            raise exc
        if skip is not None:
            skip(exc)

    out, seen = [], {}
    rows = iter_rows(path, on_malformed=bad, split=split)
    for where, row in (transform(rows) if transform is not None else rows):
        try:
            if prepare is not None:
                row = prepare(row, where)
                if row is None:
                    continue
            rec = validate_record(normalize_record(row, where), require_answer=require_answer, **where)
            if rec["pid"] in seen:
                raise InputError(f"duplicate pid {rec['pid']!r} (first at {seen[rec['pid']]})", field="pid", **where)
            rec["image_ref"] = _image_ref(rec, row, base, where)
        except InputError as exc:
            bad(exc)
            continue
        seen[rec["pid"]] = _where_text(where)
        rec["image_path"] = rec["image_ref"] if isinstance(rec["image_ref"], str) else None
        rec["_source"], rec["_where"] = str(where["path"]), {k: v for k, v in where.items() if k != "path"}
        rec["_line"] = where.get("line")
        out.append(rec)
    return out


def load_records(path: str | os.PathLike, *, require_answer: bool = False) -> list[dict[str, Any]]:
    """Validated records of a file (the strict form of `read_records`)."""
    return read_records(path, require_answer=require_answer)


def validate_record(rec: Any, *, path=None, line: int | None = None, record: int | None = None,
                    require_answer: bool = False) -> dict[str, Any]:
    """Check a MathVista-schema record; fill defaults for optional fields. Returns a new dict."""
    where = {"path": path, "line": line, "record": record}
    if not isinstance(rec, dict):
        raise InputError(f"expected a JSON object, got {type(rec).__name__}", **where)
    for name in _REQUIRED:
        if name not in rec or rec[name] in (None, ""):
            raise InputError("missing required field", **where, field=name)
    for name, types in _FIELDS.items():
        if name in rec and not isinstance(rec[name], types):
            raise InputError(f"has type {type(rec[name]).__name__}", **where, field=name)
    out = dict(rec)
    out["pid"] = str(out["pid"])
    choices = out.get("choices")
    out.setdefault("question_type", "multi_choice" if choices else "free_form")
    out.setdefault("answer_type", "text" if choices else "integer")
    for name in ("image", "choices", "unit", "precision", "answer", "query", "metadata"):
        out.setdefault(name, None)
    if out["question_type"] not in QUESTION_TYPES:
        raise InputError(f"must be one of {QUESTION_TYPES}, got {out['question_type']!r}", **where,
                         field="question_type")
    if out["answer_type"] not in ANSWER_TYPES:
        raise InputError(f"must be one of {ANSWER_TYPES}, got {out['answer_type']!r}", **where, field="answer_type")
    if out["question_type"] == "multi_choice":
        if not choices:
            raise InputError("multi_choice record without choices", **where, field="choices")
        if not all(isinstance(c, str | int | float) and not isinstance(c, bool) for c in choices):
            raise InputError("choices must be strings or numbers", **where, field="choices")
        check_choice_count(choices, where)
        out["answer"] = _choice_answer(out, where)
    if require_answer and out["answer"] in (None, ""):
        raise InputError("missing required field", **where, field="answer")
    return out


# ---- shapes of the public releases -----------------------------------------------------------------

def normalize_record(row: Any, where: dict | None = None) -> Any:
    """A row of a known release, mapped onto the MathVista schema (other rows are returned as they are)."""
    if not isinstance(row, dict):
        return row
    where = where or {}
    if row.get("question_type") in ("multi-choice", "free-form") or "problem_version" in row:
        return _mathverse(row, where)
    if "pid" not in row and "rationale" in row and "id" in row:
        return _m3cot(row, where)
    out = dict(row)
    if "pid" not in out:
        # Plain JSONL, ScienceQA and its format: the position is the id.
        out["pid"] = str(where.get("line") if where.get("line") is not None else where.get("record", ""))
    context = out.pop("hint", None)
    if isinstance(context, str) and context.strip() and isinstance(out.get("question"), str):
        out["question"] = f"Context: {context.strip()}\n{out['question']}"
    if isinstance(out.get("metadata"), str):  # some exports keep metadata as a JSON string
        import json

        try:
            out["metadata"] = json.loads(out["metadata"])
        except json.JSONDecodeError:
            raise InputError("is a string that is not a JSON object", **where, field="metadata") from None
    return out


def _m3cot(row: dict, where: dict) -> dict:
    question = str(row.get("question") or "")
    context = str(row.get("context") or "").strip()
    return {
        "pid": str(row["id"]), "question": f"Context: {context}\n{question}" if context else question,
        "image": row.get("image"), "choices": row.get("choices"), "answer": row.get("answer"),
        "question_type": "multi_choice" if row.get("choices") else "free_form",
        "answer_type": "text" if row.get("choices") else "integer", "solution": row.get("rationale"),
        "metadata": {k: row.get(k) for k in ("category", "domain", "topic", "split", "image_id") if k in row},
    }


# MathVerse writes the options into the question: "Choices:\nA:2\nB:3" (or "A. 2", "(A) 2").
_CHOICES_BLOCK = re.compile(r"\n?\s*Choices\s*:\s*\n(?P<body>(?:.*\n?)*)$", re.I)
_OPTION = re.compile(r"^\s*\(?([A-Z])\)?\s*[:.)：]\s*(.*\S)\s*$")


def _mathverse(row: dict, where: dict) -> dict:
    pid = row.get("sample_index", row.get("pid"))
    if pid in (None, ""):
        raise InputError("missing required field (MathVerse: sample_index)", **where, field="sample_index")
    multi = row.get("question_type") in ("multi-choice", "multi_choice")
    question = str(row.get("question") or "").strip()
    choices = None
    if multi:
        m = _CHOICES_BLOCK.search(question)
        if m:
            options = [_OPTION.match(line) for line in m.group("body").splitlines() if line.strip()]
            if options and all(options):
                choices = [o.group(2) for o in options]
                question = question[:m.start()].strip()
        if choices is None:
            # Vision-only versions: the options are drawn in the image, so the letters are the choices.
            letter = str(row.get("answer") or "").strip().upper()
            n = max(4, _LETTERS.index(letter) + 1) if len(letter) == 1 and letter in _LETTERS else 4
            choices = list(_LETTERS[:n])
    if not question:
        question = "Answer the question shown in the image."
    meta = dict(row.get("metadata") or {})
    meta.update({k: row[k] for k in ("problem_version", "problem_index") if k in row})
    if multi and choices and choices[0] == "A":
        meta["choices_in_image"] = True
    out = {"pid": str(pid), "question": question, "image": row.get("image"), "choices": choices,
           "answer": row.get("answer"), "question_type": "multi_choice" if multi else "free_form",
           "answer_type": "text" if multi else answer_type_of(row.get("answer")), "metadata": meta}
    # The release's own prompts (without and with reasoning) and the question its judge reads.
    out.update({k: row[k] for k in ("query_wo", "query_cot", "question_for_eval")
                if isinstance(row.get(k), str) and row[k].strip()})
    return out


def answer_type_of(answer: Any) -> str:
    """A free-form answer's type as written: integer, float, else text (releases that do not say)."""
    text = str(answer if answer is not None else "").strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return "integer"
    if re.fullmatch(r"[+-]?\d*\.\d+", text):
        return "float"
    return "text"


def _choice_answer(rec: dict, where: dict) -> Any:
    """The answer of a multiple-choice record as the text of its choice.

    An integer answer is an index (ScienceQA's 0-based `answer`), a single letter is an option
    letter (M3CoT, MathVerse; past 26 choices also AA, AB, ...: `option_label`); an integer that is
    also one choice's text and indexes another is ambiguous and refused rather than guessed
    (`choice_of_index`, which `mmpo.answers.check_answer` shares).
    """
    answer, choices = rec.get("answer"), [str(c) for c in rec["choices"]]
    if answer is None or answer == "":
        return answer
    if isinstance(answer, bool):
        raise InputError("is a boolean; expected a choice, its letter or its index", **where, field="answer")
    if isinstance(answer, int):
        text, index = choice_of_index(answer, choices, where)
        if index is not None:
            rec.setdefault("answer_index", index)
        return text
    text = str(answer).strip()
    for candidate in (choices, [c.strip() for c in choices]):
        if text in candidate:
            return choices[candidate.index(text)]
    letter = text.strip("() .")
    index = label_index(letter if len(letter) == 2 else letter.upper(), len(choices))
    if index is not None:
        rec.setdefault("answer_index", index)
        return choices[index]
    raise InputError(f"{answer!r} is none of the choices {choices} nor their letters", **where, field="answer")


# ---- images ----------------------------------------------------------------------------------------

def _image_ref(rec: dict, row: dict, base: Path, where: dict) -> Any:
    """Where the record's image is: an absolute path, embedded bytes, or None (text-only).

    MathVista's Hub copy names `images/1.jpg` (not shipped in the parquet) and embeds the same image
    as `decoded_image`: the file is used when it exists, else the embedded bytes.
    """
    image, embedded = rec.get("image"), row.get("decoded_image")
    if isinstance(image, dict):
        if image.get("bytes"):
            return {"bytes": image["bytes"], "path": image.get("path")}
        image = image.get("path")
    if isinstance(embedded, dict) and embedded.get("bytes"):
        if not image or not (Path(image) if os.path.isabs(image) else base / image).is_file():
            return {"bytes": embedded["bytes"], "path": embedded.get("path") or image}
    if not image:
        return None  # "" or absent: a text-only record (as the authors' loaders read it)
    path = Path(image) if os.path.isabs(image) else base / image
    if not path.is_file():
        raise InputError(f"image {path} does not exist", **where, field="image")
    return str(path.resolve())


def _where_text(where: dict) -> str:
    if where.get("line") is not None:
        return f"line {where['line']}"
    return f"record {where.get('record')}"
