"""POPE: object hallucination as yes/no questions ("Is there a dog in the image?") in three subsets,
random, popular and adversarial (Li et al., "Evaluating Object Hallucination in Large
Vision-Language Models", EMNLP 2023; https://github.com/AoiDragon/POPE).

Reads, as they ship:
- the Hub release `lmms-lab/POPE`: parquet (one file, or the download folder of shards
  `data/test-0000i-of-00003.parquet`) with `id`, `question_id`, `question`, `answer` ("yes"/"no"),
  `image_source`, `image` (embedded bytes) and `category` (the subset);
- VLMEvalKit's `POPE.tsv`: `index`, `image` (base64), `question`, `answer` ("Yes"/"No"), `category`
  (a question in several subsets lists them comma-separated: it counts in each, as VLMEvalKit counts it);
- the authors' question lines as JSONL (`question_id`, `image` file name, `text`, `label`), the
  subset taken from `category` or else from the file name (coco_pope_random.json ...: the authors'
  files are named .json but hold one object a line, and are read as JSON lines).
The gold answer must be yes or no (any case); anything else is an error naming the file, the line or
record and the field. The pid is `id`, else `index`, else `SUBSET-question_id`.

Prompts: direct is the question and "Answer the question using a single word or phrase." (LLaVA's
and lmms-eval's POPE prompt); cot is mmpo's reasoning prompt ("Final answer: ..").

Scoring, by the rule of POPE's official `evaluate.py`: the answer text (direct: the whole response;
cot: the text after "Final answer:", mmpo's strict extraction) is cut at its first '.', commas are
removed, and it is split on spaces; it reads "no" when one of the words is exactly "No", "no" or
"not", else "yes". So, as in the official script, "NO", "Not" and "no!" read as yes, and so does any
answer without a negative word. A format failure (counted wrong, and never a "yes") is: an empty
response, a cot response without a final answer, or a first sentence with no letter or digit.

Metrics, per subset (POPE's, positive class "yes"): accuracy, precision, recall, F1, yes-ratio (the
share of answers read as yes), format failures. A format failure counts wrong in accuracy, as a
missed yes (FN) when the gold is yes and as no claim of yes otherwise (as VLMEvalKit counts its
"Unknown"). `primary` is F1 averaged over the subsets present (the three-subset average papers
report); the metrics also give each POPE metric averaged over the subsets, and pooled over all
answers (`*_pooled`). An undefined precision or recall (nothing said yes, no yes gold) is 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.answers import extract_answer
from mmpo.benchmarks._qa import NotedBenchmark, ReadNotes, Rows, text_of
from mmpo.data.prompts import COT_INSTRUCTION, DIRECT_FREE_FORM
from mmpo.errors import InputError

SUBSETS = ("random", "popular", "adversarial")
NEGATIVE_WORDS = frozenset(("No", "no", "not"))
UNSPECIFIED = "unspecified"
_WORDY = re.compile(r"\w")


def pope_answer(text: str | None) -> tuple[str | None, str | None]:
    """(the first sentence read, "yes" / "no" / None) by POPE's official rule (module docstring)."""
    if not isinstance(text, str):
        return None, None
    first = text.strip()
    if "." in first:
        first = first.split(".")[0]
    if not _WORDY.search(first):
        return None, None
    words = first.replace(",", "").split(" ")
    return first.strip(), ("no" if any(w in NEGATIVE_WORDS for w in words) else "yes")


def _subsets(row: Mapping[str, Any], path: Path) -> list[str]:
    cat = text_of(row.get("category"))
    if cat:
        return [c.strip().lower() for c in cat.split(",") if c.strip()]
    stem = path.stem.lower()
    return [s for s in SUBSETS if s in stem][:1]


def _gold(row: Mapping[str, Any], where: dict) -> str:
    name = "answer" if "answer" in row else "label"
    value = row.get(name)
    gold = text_of(value).lower()
    if gold not in ("yes", "no"):
        raise InputError(f"POPE's answer must be yes or no, got {value!r}", **where, field=name)
    return gold


def _rows(notes: ReadNotes) -> Any:
    def transform(rows: Rows) -> Rows:
        for where, row in rows:
            notes.seen()
            w = {k: where.get(k) for k in ("path", "line", "record")}
            if not isinstance(row, dict):
                yield where, row
                continue
            question = text_of(row.get("question") if "question" in row else row.get("text"))
            if not question:
                raise InputError("missing required field", **w, field="question")
            subsets = _subsets(row, Path(where["path"]))
            if text_of(row.get("id")):
                pid = text_of(row["id"])
            elif text_of(row.get("index")):
                pid = text_of(row["index"])
            elif text_of(row.get("question_id")):
                pid = "-".join([*subsets[:1], text_of(row["question_id"])])
            else:
                pid = str(where.get("line") if where.get("line") is not None else where.get("record"))
            meta = {"subset": ",".join(subsets) or None, "subsets": subsets}
            for k in ("question_id", "image_source"):
                if row.get(k) is not None:
                    meta[k] = row[k]
            yield where, {"pid": pid, "question": question, "image": row.get("image"), "answer": _gold(row, w),
                          "question_type": "free_form", "answer_type": "text", "metadata": meta}
    return transform


@dataclass(frozen=True)
class POPE(NotedBenchmark):
    def rows_of(self, notes: ReadNotes, split: str | None) -> Any:
        return _rows(notes)

    def read_extra(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        subsets: dict[str, int] = {}
        for r in records:
            for s in r["metadata"]["subsets"] or [UNSPECIFIED]:
                subsets[s] = subsets.get(s, 0) + 1
        return {"subsets": subsets}

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        question = str(record["question"]).strip()
        if mode == "direct":
            return f"{question}\n{DIRECT_FREE_FORM}"
        if mode == "cot":
            return f"{COT_INSTRUCTION}\n\nQuestion:\n\n{question}"
        raise ValueError(f"mode must be direct or cot, got {mode!r}")

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        text = response if mode == "direct" else extract_answer(response)
        extracted, pred = pope_answer(text)
        gold = str(record["answer"]).strip().lower()
        verdict = "format_failure" if pred is None else ("correct" if pred == gold else "incorrect")
        meta = record.get("metadata") or {}
        return {"extracted": extracted, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0,
                "pred": pred, "gold": gold, "subsets": list(meta.get("subsets") or [])}

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for p in predictions:
            for s in p.get("subsets") or [UNSPECIFIED]:
                groups.setdefault(s, []).append(p)
        order = [s for s in SUBSETS if s in groups] + sorted(s for s in groups if s not in SUBSETS)
        by = {s: pope_metrics(groups[s]) for s in order}
        pooled = pope_metrics([p for s in order for p in groups[s]])
        names = ("f1", "accuracy", "precision", "recall", "yes_ratio")
        metrics: dict[str, Any] = {m: (sum(by[s][m] for s in order) / len(order) if order else 0.0) for m in names}
        metrics.update({f"{m}_pooled": pooled[m] for m in names})
        failures = sum(p.get("verdict") == "format_failure" for p in predictions)
        metrics["format_failures"] = failures
        metrics["format_failure_rate"] = failures / len(predictions) if predictions else 0.0
        metrics["subsets_averaged"] = len(order)
        return {"primary": metrics["f1"], "n": len(predictions), "metrics": metrics, "by": {"subset": by}}


def pope_metrics(predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """POPE's metrics of one group of predictions (positive class: yes)."""
    tp = fp = fn = tn = yes = failures = 0
    for p in predictions:
        gold, pred = p.get("gold"), p.get("pred")
        yes += pred == "yes"
        failures += p.get("verdict") == "format_failure"
        if pred == "yes":
            tp += gold == "yes"
            fp += gold == "no"
        elif gold == "yes":
            fn += 1
        else:
            tn += pred == "no"
    n = len(predictions)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": n, "accuracy": (tp + tn) / n if n else 0.0, "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": yes / n if n else 0.0, "format_failures": failures,
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


BENCHMARK = POPE(
    name="pope", title="POPE", kind="rules",
    reads="Hub lmms-lab/POPE parquet (file or shard folder); VLMEvalKit POPE.tsv; POPE question JSONL "
          "(.jsonl, or the authors' .json files of JSON lines)",
    scoring="POPE's evaluate.py: 'no' when the first sentence has the word No/no/not, else 'yes'; "
            "F1 (yes positive) per subset, averaged over random/popular/adversarial",
    source="Li et al. 2023 (EMNLP), github.com/AoiDragon/POPE evaluate.py",
    primary="f1", files=("POPE.tsv", "POPE"),
)
