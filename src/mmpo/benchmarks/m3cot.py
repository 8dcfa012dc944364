"""M3CoT: multi-domain, multi-step multimodal chain-of-thought questions (Chen et al., "M3CoT: A Novel
Benchmark for Multi-Domain Multi-step Multi-modal Chain-of-Thought", ACL 2024; the data
`LightChen2333/M3CoT` on the Hub; the scorer `judge_answer` in `utils/metric.py` of
github.com/LightChen233/M3CoT). The test split is the one reported.

Reads, as the Hub ships it: parquet (one file, or the download folder of shards `data/SPLIT-*.parquet`,
the `test` shards by default), a saved `datasets` folder (split `test` by default), or JSONL, with
`id`, `category`, `image_id`, `question`, `choices`, `context`, `answer` (a letter), `rationale`,
`split`, `image`, `domain`, `topic` (mmpo's M3CoT shape, `mmpo.data.records`). Rows of another
split are left out and counted (`last_read`, and a logged line), never silently.

Prompts: mmpo's layout (the context as "Context: ...", the question, lettered options); direct adds
"Answer with the option's letter from the given choices directly.", cot is mmpo's reasoning prompt.

Scoring, by the M3CoT scorer's rule, applied to the whole response (direct) or to its final answer
(cot: the text after "Final answer:", mmpo's strict extraction; none is a format failure). In order:
when the text has "[Answer]", only what follows the last one (up to "[Rationale]" or "[Context]") is
read; the last letter in parentheses, "(b)" or "(B)", is the prediction; else, of the options whose
text appears in the answer (ignoring case), the one listed last; else, of the option letters
standing as words (after newlines and . , ! ? become spaces), the one latest in the alphabet, capitals
first, then lower case. Nothing found is a format failure (wrong). Correct when the prediction is
the gold letter. As in the scorer, "A" used as an article can read as option A.

Metrics: accuracy overall, by domain (science, commonsense, mathematics) and by topic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmpo.answers import extract_answer
from mmpo.benchmarks._qa import (
    NotedBenchmark,
    ReadNotes,
    Rows,
    accuracy_summary,
    gold_letter,
    text_of,
)
from mmpo.data.records import option_label

_PAREN_LETTER = re.compile(r"\(([A-Za-z])\)")
_SPACED = re.compile(r"[\n.,!?]")


def m3cot_letter(text: str | None, choices: Sequence[str]) -> str | None:
    """The option letter M3CoT's scorer reads in `text`, or None (its "FAILED")."""
    if not isinstance(text, str) or not text.strip():
        return None
    if "[Answer]" in text:
        text = text.split("[Answer]")[-1].split("[Rationale]")[0].split("[Context]")[0]
    found = _PAREN_LETTER.findall(text)
    if found:
        return found[-1].upper()
    low = text.lower()
    hits = [option_label(i) for i, c in enumerate(choices) if str(c).lower() in low]
    if hits:
        return hits[-1]
    words = _SPACED.sub(" ", text).split(" ")
    for case in (str.upper, str.lower):
        hits = [option_label(i) for i in range(len(choices)) if case(option_label(i)) in words]
        if hits:
            return hits[-1]
    return None


def _rows(notes: ReadNotes, split: str | None) -> Any:
    wanted = (split or "test").lower()

    def transform(rows: Rows) -> Rows:
        for where, row in rows:
            notes.seen()
            if isinstance(row, dict) and text_of(row.get("split")) and text_of(row["split"]).lower() != wanted:
                notes.leave_out(f"not_{wanted}_split")
                continue
            yield where, row
    return transform


@dataclass(frozen=True)
class M3CoT(NotedBenchmark):
    def rows_of(self, notes: ReadNotes, split: str | None) -> Any:
        return _rows(notes, split)

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        if mode == "direct":
            text = response.strip() if isinstance(response, str) and response.strip() else None
        else:
            text = extract_answer(response)
        letter = m3cot_letter(text, record.get("choices") or [])
        if letter is None:
            verdict = "format_failure"
        else:
            verdict = "correct" if letter == gold_letter(record) else "incorrect"
        meta = record.get("metadata") or {}
        return {"extracted": text, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0,
                "letter": letter, "domain": meta.get("domain"), "topic": meta.get("topic")}

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return accuracy_summary(predictions, breakdowns={
            "domain": lambda p: text_of(p.get("domain")) or None,
            "topic": lambda p: text_of(p.get("topic")) or None,
        })


BENCHMARK = M3CoT(
    name="m3cot", title="M3CoT", kind="rules",
    reads="Hub LightChen2333/M3CoT parquet (file or shard folder), datasets folder or JSONL; test split",
    scoring="M3CoT's judge_answer: last '(X)', else the option text found, else a standalone option letter; "
            "accuracy, by domain and topic",
    source="Chen et al. 2024 (ACL), github.com/LightChen233/M3CoT utils/metric.py",
    primary="accuracy", files=("M3CoT",),
)
