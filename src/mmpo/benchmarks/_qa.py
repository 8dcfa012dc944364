"""What the question-answering benchmarks (POPE, CRPE, M3CoT, ScienceQA) share: reading a file, a
`datasets` folder or a folder of Hub parquet shards through `read_records`, the read notes (what was
left out and why), option-letter answers, and accuracy with breakdowns.

A Hub download keeps its parquet shards under `data/` named `SPLIT-0000i-of-0000n.parquet`
(`test-00000-of-00003.parquet`, ...); such a folder is read shard by shard, in name order, the split
asked for (default: `test`, else the only one), as one file would be.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmpo.answers import extract_answer
from mmpo.benchmarks.base import Benchmark
from mmpo.data.prompts import build_prompt
from mmpo.data.records import label_index, option_label, read_records
from mmpo.data.sources import dataset_splits, is_dataset_folder
from mmpo.errors import InputError

log = logging.getLogger("mmpo.benchmarks")

Rows = Iterator[tuple[dict, Any]]
DEFAULT_SPLIT = "test"


def parquet_shards(folder: Path, split: str | None) -> list[Path]:
    """The parquet shards of one split in a Hub download folder (sorted), or [] when it holds none."""
    shards = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    if not shards:
        return []
    by_split: dict[str, list[Path]] = {}
    for p in shards:
        by_split.setdefault(p.name.split("-")[0].split(".")[0], []).append(p)
    if split is None:
        split = DEFAULT_SPLIT if DEFAULT_SPLIT in by_split else (next(iter(by_split)) if len(by_split) == 1 else None)
    if split not in by_split:
        raise InputError(f"parquet shards of the splits {sorted(by_split)}: choose one (split {split!r} has none)",
                         path=folder)
    return by_split[split]


def read_benchmark(path: str | os.PathLike, transform: Callable[[Rows], Rows], *,
                   split: str | None = None) -> list[dict[str, Any]]:
    """`read_records` (answers required) of a file, a `datasets` folder (split `test` by default when it
    has one) or a folder of parquet shards, each row going through `transform` first. Pids must be
    unique across shards, as within one file."""
    path = Path(path)
    if path.is_dir() and not is_dataset_folder(path):
        shards = parquet_shards(path, split)
        if not shards:
            raise InputError("a folder of data needs parquet shards (a Hub download) or to be a saved "
                             "`datasets` dataset", path=path)
        out: list[dict[str, Any]] = []
        seen: dict[str, str] = {}
        for shard in shards:
            for rec in read_records(shard, require_answer=True, transform=transform):
                if rec["pid"] in seen:
                    raise InputError(f"duplicate pid {rec['pid']!r} (first in {seen[rec['pid']]})",
                                     path=shard, record=rec["_where"].get("record"), field="pid")
                seen[rec["pid"]] = rec["_source"]
                out.append(rec)
        return out
    if split is None and path.is_dir():
        splits = dataset_splits(path)
        if splits and DEFAULT_SPLIT in splits:
            split = DEFAULT_SPLIT
    return read_records(path, require_answer=True, split=split, transform=transform)


class ReadNotes:
    """Counts of one `read`: rows seen, records kept, rows left out by reason. Logged once, and kept
    as the benchmark's `last_read` (a plain dict) for the command to show."""

    def __init__(self, name: str, path: str | os.PathLike):
        self.name, self.path = name, str(path)
        self.rows = 0
        self.left_out: dict[str, int] = {}

    def seen(self) -> None:
        self.rows += 1

    def leave_out(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1

    def publish(self, target: dict, records: int, **extra: Any) -> None:
        target.clear()
        target.update({"path": self.path, "rows": self.rows, "records": records,
                       "left_out": dict(self.left_out), **extra})
        if self.left_out:
            why = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(self.left_out.items()))
            log.warning("%s: read %d records from %s; left out %s", self.name, records, self.path, why)
        else:
            log.info("%s: read %d records from %s", self.name, records, self.path)


def text_of(value: Any) -> str:
    """A cell as stripped text ('' for None and NaN-like empties)."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    return str(value).strip()


def where_of(where: Mapping[str, Any]) -> dict[str, Any]:
    return {k: where.get(k) for k in ("path", "line", "record")}


# ---- option letters -----------------------------------------------------------------------------------

# "B", "B.", "B)", "B:", "B. text", "(B)", "(B) text", "**B**", "Option B": the letter that opens an answer.
_OPENING_LETTER = re.compile(r"^(?:(?i:option|choice)\s+)?(?:\(([A-Z])\)|([A-Z])(?:[.:)](?=\s|$)|$))")


def opening_letter(text: str | None) -> str | None:
    """The option letter an answer opens with, or None ("A cat" is no letter: a letter stands alone,
    in parentheses, or before '.', ':' or ')')."""
    if not text:
        return None
    t = text.replace("**", "").strip().strip("`").strip()
    m = _OPENING_LETTER.match(t)
    return (m.group(1) or m.group(2)) if m else None


def letter_answer(response: str | None, mode: str) -> tuple[str | None, str | None]:
    """(the answer text read, its option letter or None) of a multiple-choice response.

    cot: the final answer (mmpo's strict extraction: "Final answer: ..", "the answer is ..", \\boxed{});
    direct: the response itself when it opens with a letter, else its labelled answer ("The answer is B.").
    """
    if not isinstance(response, str) or not response.strip():
        return None, None
    if mode == "direct":
        text = response.strip()
        letter = opening_letter(text)
        if letter is not None:
            return text, letter
    text = extract_answer(response)
    return text, opening_letter(text)


def gold_letter(record: Mapping[str, Any]) -> str:
    """The option letter of a multiple-choice record's answer."""
    choices = [str(c) for c in record.get("choices") or []]
    index = record.get("answer_index")
    if not isinstance(index, int):
        index = choices.index(str(record["answer"]))
    return option_label(index)


def letter_verdict(letter: str | None, record: Mapping[str, Any]) -> str:
    if letter is None:
        return "format_failure"
    n = len(record.get("choices") or [])
    if label_index(letter, n) is None:
        return "incorrect"  # a letter naming no option
    return "correct" if letter == gold_letter(record) else "incorrect"


def choice_prompt(record: Mapping[str, Any], mode: str) -> str:
    """mmpo's layout of question and lettered options; direct: "Answer with the option's letter from
    the given choices directly."; cot: the MPO paper's reasoning prompt ("Final answer: ..")."""
    if mode not in ("direct", "cot"):
        raise ValueError(f"mode must be direct or cot, got {mode!r}")
    return build_prompt(dict(record), "direct" if mode == "direct" else "cot", source="mmpo")


@dataclass(frozen=True)
class NotedBenchmark(Benchmark):
    """A benchmark read through `read_benchmark` whose reader counts what it leaves out (`last_read`, and a
    log line); asked with `choice_prompt` unless it says otherwise."""

    last_read: dict = field(default_factory=dict, compare=False, repr=False)

    def rows_of(self, notes: ReadNotes, split: str | None) -> Callable[[Rows], Rows]:
        """The benchmark's own row mapping (the `transform` of `read_records`)."""
        raise NotImplementedError

    def read_extra(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """More counts for `last_read` (POPE's subsets, CRPE's questions)."""
        return {}

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        notes = ReadNotes(self.title, path)
        records = read_benchmark(path, self.rows_of(notes, split), split=split)
        notes.publish(self.last_read, len(records), **self.read_extra(records))
        return records

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        return choice_prompt(record, mode)


# ---- accuracy --------------------------------------------------------------------------------------------

def accuracy_summary(predictions: Sequence[Mapping[str, Any]], *,
                     breakdowns: Mapping[str, Callable[[Mapping[str, Any]], Iterable[str] | str | None]] = (),
                     ) -> dict[str, Any]:
    """Accuracy (the mean score) over `predictions`, format failures counted as wrong, and per group
    of each breakdown (a group function gives a prediction's group, a list of them, or None: none)."""
    n = len(predictions)
    scores = [float(p.get("score") or 0.0) for p in predictions]
    failures = sum(p.get("verdict") == "format_failure" for p in predictions)
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for name, group_of in dict(breakdowns).items():
        cells: dict[str, list[float]] = {}
        for p, s in zip(predictions, scores):
            groups = group_of(p)
            if groups is None:
                continue
            for g in [groups] if isinstance(groups, str) else groups:
                cells.setdefault(str(g), []).append(s)
        if cells:
            by[name] = {g: {"n": len(v), "accuracy": sum(v) / len(v)} for g, v in sorted(cells.items())}
    acc = sum(scores) / n if n else 0.0
    return {"primary": acc, "n": n,
            "metrics": {"accuracy": acc, "format_failures": failures, "format_failure_rate": failures / n if n else 0.0},
            "by": by}
