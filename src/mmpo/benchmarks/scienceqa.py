"""ScienceQA, image questions of the test split (IMG, 2,017 questions): multiple-choice science
questions from grade-school curricula (Lu et al., "Learn to Explain: Multimodal Reasoning via Thought
Chains for Science Question Answering", NeurIPS 2022; github.com/lupantech/ScienceQA). The scoring
follows the answer parsing of the ScienceQA evaluation used by LLaVA (`llava/eval/eval_science_qa.py`),
which reads the ScienceQA authors' "The answer is X." format.

Reads, as they ship:
- the Hub release `derek-thomas/ScienceQA`: parquet (one file, or the download folder of shards
  `data/SPLIT-*.parquet`, the `test` shards by default) or a saved `datasets` folder, with `image`
  (embedded bytes, or None), `question`, `choices`, `answer` (a 0-based index), `hint`, `task`,
  `grade`, `subject`, `topic`, `category`, `skill`, `lecture`, `solution`;
- VLMEvalKit's `ScienceQA_TEST.tsv`: `index`, base64 `image`, `question`, `hint`, options `A`..`E`,
  `answer` (a letter), `category`, `l2-category`, `split`, and `subject`/`grade` when present.
Only questions with an image are kept: text-only ones (and rows of another split, when a row says its
split) are left out and counted, in `last_read` (`left_out`: `text_only`, `not_test_split`) and a
logged line. The pid is `index` when the file has one, else the row's position.

Prompts: the hint as "Context: ...", the question and lettered options (mmpo's layout); direct adds
"Answer with the option's letter from the given choices directly." (LLaVA's ScienceQA prompt), cot is
mmpo's reasoning prompt.

Scoring: by option letter only. Direct: the response itself when it is a letter or opens with one
("B", "B.", "B. text", "(B) text"), else its labelled answer ("The answer is B."); cot: the letter its
final answer opens with. No letter is a format failure (the evaluation's FAILED, wrong); a letter
past the options is wrong. Accuracy overall, by subject (NAT, SOC, LAN: natural, social, language
science) and grade band (G1-6, G7-12), as the ScienceQA paper's table splits it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmpo.benchmarks._qa import (
    NotedBenchmark,
    ReadNotes,
    Rows,
    accuracy_summary,
    letter_answer,
    letter_verdict,
    text_of,
    where_of,
)
from mmpo.data.records import label_index
from mmpo.errors import InputError

SUBJECTS = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}
_OPTION_COLUMNS = ("A", "B", "C", "D", "E", "F", "G", "H")
_META = ("task", "grade", "subject", "topic", "category", "skill", "l2-category", "split")


def subject_code(meta: Mapping[str, Any]) -> str | None:
    for key in ("subject", "l2-category", "category"):
        code = SUBJECTS.get(text_of(meta.get(key)).lower())
        if code:
            return code
    return None


def grade_band(grade: Any) -> str | None:
    """"grade1".."grade6" -> G1-6, "grade7".."grade12" -> G7-12 (None when not a grade)."""
    digits = "".join(ch for ch in text_of(grade) if ch.isdigit())
    if not digits or not 1 <= int(digits) <= 12:
        return None
    return "G1-6" if int(digits) <= 6 else "G7-12"


def _has_image(image: Any) -> bool:
    if isinstance(image, dict):
        return bool(image.get("bytes") or image.get("path"))
    if isinstance(image, list):
        return any(_has_image(i) for i in image)
    return bool(text_of(image))


def _answer_index(answer: Any, choices: list, where: dict) -> int:
    """The 0-based option of ScienceQA's answer: an index (the Hub's) or a letter (VLMEvalKit's)."""
    if isinstance(answer, int) and not isinstance(answer, bool):
        index = answer
    else:
        letter = text_of(answer).strip("() .")
        index = label_index(letter, len(choices)) if len(letter) == 1 and letter.isupper() else None
        if index is None:
            raise InputError(f"{answer!r} is neither an option index nor one of the letters of the "
                             f"{len(choices)} options", **where_of(where), field="answer")
    if not 0 <= index < len(choices):
        raise InputError(f"index {index} is out of range for {len(choices)} options", **where_of(where),
                         field="answer")
    return index


def _rows(notes: ReadNotes, split: str | None) -> Any:
    wanted = (split or "test").lower()

    def transform(rows: Rows) -> Rows:
        for where, row in rows:
            notes.seen()
            if not isinstance(row, dict):
                yield where, row
                continue
            if text_of(row.get("split")) and text_of(row["split"]).lower() != wanted:
                notes.leave_out(f"not_{wanted}_split")
                continue
            if not _has_image(row.get("image")):
                notes.leave_out("text_only")
                continue
            if isinstance(row.get("choices"), list | tuple):
                choices = list(row["choices"])
            else:
                choices = [text_of(row[c]) for c in _OPTION_COLUMNS if text_of(row.get(c))]
            question = text_of(row.get("question"))
            hint = text_of(row.get("hint"))
            meta = {k: row[k] for k in _META if row.get(k) is not None}
            meta["subject_code"] = subject_code(meta)
            meta["grade_band"] = grade_band(meta.get("grade"))
            pid = text_of(row.get("index")) or text_of(row.get("pid")) or str(
                where.get("line") if where.get("line") is not None else where.get("record"))
            index = _answer_index(row.get("answer"), choices, where)
            out = {"pid": pid, "question": f"Context: {hint}\n{question}" if hint and question else question,
                   "choices": choices, "answer": choices[index], "answer_index": index, "image": row.get("image"),
                   "question_type": "multi_choice", "answer_type": "text", "metadata": meta}
            if row.get("solution") is not None:
                out["solution"] = row["solution"]
            yield where, out
    return transform


@dataclass(frozen=True)
class ScienceQA(NotedBenchmark):
    def rows_of(self, notes: ReadNotes, split: str | None) -> Any:
        return _rows(notes, split)

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        extracted, letter = letter_answer(response, mode)
        verdict = letter_verdict(letter, record)
        meta = record.get("metadata") or {}
        return {"extracted": extracted, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0,
                "letter": letter, "subject": meta.get("subject_code"), "grade_band": meta.get("grade_band")}

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return accuracy_summary(predictions, breakdowns={
            "subject": lambda p: p.get("subject") or None,
            "grade": lambda p: p.get("grade_band") or None,
        })


BENCHMARK = ScienceQA(
    name="scienceqa", title="ScienceQA", kind="rules",
    reads="Hub derek-thomas/ScienceQA parquet (file or shard folder) or datasets folder; VLMEvalKit "
          "ScienceQA_TEST.tsv; image questions of the test split",
    scoring="option letter (a letter answer, or 'The answer is X.'); accuracy, by subject (NAT/SOC/LAN) "
            "and grade (G1-6/G7-12)",
    source="Lu et al. 2022 (NeurIPS), github.com/lupantech/ScienceQA; LLaVA eval_science_qa.py",
    primary="accuracy", files=("ScienceQA_TEST.tsv", "ScienceQA"),
)
