"""MATH-Vision (Wang et al., "Measuring Multimodal Mathematical Reasoning with MATH-Vision Dataset",
NeurIPS 2024 Datasets and Benchmarks; https://github.com/mathllm/MATH-V): testmini (304 questions)
and test (3040), read the same way.

Reads:
- the Hub release MathLLMs/MathVision (parquet or a `datasets` folder; splits test, testmini): `id`,
  `question` (with `<image1>` where the figure goes), `options` (five texts, or empty for a free-form
  question), `image` (a path) with `decoded_image` (the embedded image), `answer` (the option's letter
  for multiple choice), `solution`, `level` (1-5), `subject`;
- the repository's `data/test.jsonl` / `data/testmini.jsonl` (images under `images/`, beside the file
  or one folder up, as the repository lays them out);
- VLMEvalKit's `MathVision.tsv` / `MathVision_MINI.tsv`: `index`, `image` (base64), `question` (a
  "Hint: ...\\nQuestion: ..." cell is cut to its question), `answer`, `choices` (a Python list as text,
  `[]` for free form), `category` (the subject), `level` where present.
Subject and level go into metadata; the solution into the record's `solution`.

Prompts (the authors' `models/` scripts): CoT asks to solve the problem and put the answer in one
\\boxed{} (one letter for multiple choice) above the question and its options "(A) ..".."(E) .."; the
options are left out where they are just the letters A-E (the figure holds them). Direct mode is the
authors' short-answer prompt: question, options, "Answer the question using a single word or phrase."

Scoring, as the authors' `evaluation/evaluate.py` and `utils.py` do, in mmpo's words:
- the answer: the last \\boxed{}, else "the answer is ..", else the bare short response (mmpo's
  lenient extraction); then the authors' clean-up: lower case, the value after the last "=" or
  "\\approx", no spaces, $, \\left/\\right, \\text, degree signs, a few unit words (km, m^3, units),
  "a/b" as \\frac{a}{b};
- correct when it equals the gold answer, or (multiple choice) the gold option's letter or its text;
  else when both are numbers (plain, or a closed form such as 2\\sqrt{3}, evaluated by math-verify in
  bounded time) that agree after rounding to 2 decimals; tuples "(a, b)" element by element at 2
  decimals. An expression with free variables matches only as the same cleaned text (the authors'
  script evaluates both sides to numbers and fails otherwise).
Breakdowns: by subject (the 16 MATH-Vision subjects) and by level, as the authors' script reports.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.benchmarks._math import (
    accuracy_summary,
    bare_question,
    is_tsv_row,
    literal,
    number,
    one,
    read_benchmark,
    scored,
    text,
)
from mmpo.benchmarks.base import Benchmark
from mmpo.data.records import answer_type_of
from mmpo.errors import InputError

COT_HEAD = ('Please solve the problem and put your answer in one "\\boxed{}". '
            'If it is a multiple choice question, only one letter is allowed in the "\\boxed{}".')
DIRECT_TAIL = "Answer the question using a single word or phrase."
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _prepare(row: Any, where: dict) -> Any:
    if not isinstance(row, dict):
        return row
    tsv = is_tsv_row(where)
    pid = text(row.get("id")) if row.get("id") is not None else None
    if pid is None:
        pid = text(row.get("pid")) or text(row.get("index"))
    if pid is None:
        raise InputError("missing required field", **where, field="id")
    options = row.get("options") if "options" in row else row.get("choices")
    options = literal(options, where, "options" if "options" in row else "choices", list) or []
    options = [str(o) for o in options]
    question = text(row.get("question")) or ""
    if tsv:
        question = bare_question(question, bool(options))
    answer = row.get("answer")
    answer = text(answer) if not isinstance(answer, int | float) or isinstance(answer, bool) else answer
    level = number(row.get("level"), where, "level")
    meta = {"subject": text(row.get("subject")) or text(row.get("category")),
            "level": int(level) if level is not None and level.is_integer() else level}
    if options and all(o.strip() == _LETTERS[i] for i, o in enumerate(options)):
        meta["choices_in_image"] = True
    image = row.get("image")
    if isinstance(image, str) and image and not os.path.isabs(image):
        image = _image_path(image, Path(where["path"]), row)
    out = {"pid": pid, "question": question, "image": image, "choices": options or None, "answer": answer,
           "question_type": "multi_choice" if options else "free_form",
           "answer_type": "text" if options else answer_type_of(answer), "metadata": meta,
           "solution": text(row.get("solution"))}
    if "decoded_image" in row:
        out["decoded_image"] = row["decoded_image"]
    return out


def _image_path(image: str, path: Path, row: dict) -> str:
    """The repository keeps data/*.jsonl next to images/: a relative path is tried beside the file,
    then one folder up; with an embedded copy (`decoded_image`) it is left for the reader to choose."""
    base = path.parent if path.is_file() else path
    if (base / image).is_file() or isinstance(row.get("decoded_image"), dict):
        return image
    up = base.parent / image
    return str(up.resolve()) if up.is_file() else image


def _options_text(record: Mapping[str, Any]) -> str:
    choices = record.get("choices") or []
    if not choices or (record.get("metadata") or {}).get("choices_in_image"):
        return ""
    return "".join(f"({_LETTERS[i]}) {c}\n" for i, c in enumerate(choices))


# ---- the authors' clean-up and equality ----------------------------------------------------------

_UNIT_WORDS = ("{m}^3", "m^3", "{units}", "units", "{km}", "km")


def clean_answer(s: str) -> str:
    """The extracted answer as the authors' script cleans it before comparing (see module docstring)."""
    s = s.lower().replace("{}", "")
    s = s.split("=")[-1].split("\\approx")[-1]
    for a, b in (("\\,", ""), ("∞", "\\infty"), ("+\\infty", "\\infty"), ("\\\\", "\\"), ("\n", ""),
                 ("\\text", ""), ("\\mbox", ""), ("bmatrix", "pmatrix"), ("\\left", ""), ("\\right", ""),
                 ("^{\\circ}", ""), ("^\\circ", ""), ("\\!", ""), ("tfrac", "frac"), ("dfrac", "frac"),
                 ("\\$", ""), ("$", ""), ("\\%", ""), ("°", "")):
        s = s.replace(a, b)
    for u in _UNIT_WORDS:
        s = s.replace(u, "")
    s = s.replace(" ", "")
    s = s.rstrip(".").lstrip(":").strip()
    if s.startswith("."):
        s = "0" + s
    m = re.fullmatch(r"([+-]?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{int(m.group(1))}}}{{{int(m.group(2))}}}"
    return s


def _value(s: str, deadline: float) -> float | None:
    from mmpo.answers.normalize import parse_number
    from mmpo.answers.symbolic import symbolic_value

    p = parse_number(s)
    if p is not None:  # unit words and a percent sign are not part of the value (the authors strip units)
        return p.value
    v = symbolic_value(s, deadline)
    return float(v) if v is not None else None


def _round2(x: float) -> float:
    return round(x, 2)


def mathvision_equal(gold: str, pred: str, deadline: float) -> bool:
    """The authors' equality of a cleaned prediction with a gold answer: equal text, else tuples or
    numbers equal at 2 decimals."""
    g, p = str(gold).lower().strip(), pred.strip()
    if not g.replace(" ", "") or not p:
        return False
    if g == p or g.replace(" ", "") == p:
        return True
    gt, pt = _tuple(g), _tuple(p)
    if gt is not None or pt is not None:
        if gt is None or pt is None or gt[0] != pt[0] or len(gt[1]) != len(pt[1]):
            return False
        for a, b in zip(gt[1], pt[1]):
            if a.strip() == b.strip():
                continue
            va, vb = _value(a.strip(), deadline), _value(b.strip(), deadline)
            if va is None or vb is None or _round2(va) != _round2(vb):
                return False
        return True
    vg, vp = _value(g, deadline), _value(p, deadline)
    return vg is not None and vp is not None and _round2(vg) == _round2(vp)


def _tuple(s: str) -> tuple[str, list[str]] | None:
    s = s.replace(" ", "")
    if len(s) >= 2 and (s[0], s[-1]) in (("(", ")"), ("[", "]")) and "," in s:
        return s[0] + s[-1], s[1:-1].split(",")
    return None


@dataclass(frozen=True)
class MathVision(Benchmark):
    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        return read_benchmark(self.title, path, split, _prepare)

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        if mode not in ("direct", "cot"):
            raise ValueError(f"mode must be direct or cot, got {mode!r}")
        question = str(record.get("question", "")).strip()
        options = _options_text(record)
        if mode == "cot":
            return f"{COT_HEAD}\n{question}\n{options}".rstrip("\n")
        return f"{question}\n{options}\n{DIRECT_TAIL}"

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        from mmpo.answers import extract_answer
        from mmpo.answers.compare import choice_index
        from mmpo.answers.normalize import strip_delimiters

        meta = record.get("metadata") or {}
        extra = {"subject": meta.get("subject"), "level": meta.get("level")}
        extracted = extract_answer(response, lenient=True)
        if extracted is None:
            return scored(None, False, **extra)
        deadline = time.monotonic() + 2.0
        pred = clean_answer(extracted)
        choices = [str(c) for c in record.get("choices") or []]
        if choices:
            gold_index = record.get("answer_index")
            if gold_index is None:
                gold_index = choices.index(str(record["answer"]))
            letter, value = _LETTERS[gold_index], choices[gold_index]
            idx, _ = choice_index(strip_delimiters(extracted), tuple(choices), None)
            ok = (idx == gold_index or mathvision_equal(letter, pred, deadline)
                  or (not meta.get("choices_in_image") and mathvision_equal(value, pred, deadline)))
        else:
            ok = mathvision_equal(str(record["answer"]), pred, deadline)
        return scored(extracted, ok, normalized=pred, **extra)

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return accuracy_summary(predictions, {"subject": one("subject"),
                                              "level": lambda p: [None if p.get("level") is None
                                                                  else f"level {p['level']}"]})


BENCHMARK = MathVision(
    name="mathvision", title="MathVision",
    reads="MathLLMs/MathVision test/testmini (parquet, datasets folder, data/*.jsonl), VLMEvalKit "
          "MathVision.tsv / MathVision_MINI.tsv",
    scoring="the authors' rule: the option letter or text, else equal after clean-up, else numbers "
            "(and tuples) equal at 2 decimals",
    source="Wang et al., NeurIPS 2024 D&B; mathllm/MATH-V evaluation/evaluate.py, evaluation/utils.py",
    files=("MathVision_MINI.tsv", "MathVision.tsv", "MathVision/data/testmini-*.parquet",
           "MathVision/testmini-*.parquet", "MathVision/data/testmini.jsonl", "MathVision/testmini"),
)
