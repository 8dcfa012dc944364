"""The interface every named benchmark implements (docs/benchmarks.md).

    from mmpo.benchmarks import get_benchmark
    bench = get_benchmark("pope")
    records = bench.read("POPE.tsv")                  # MathVista-schema records, benchmark fields in metadata
    text = bench.prompt(records[0], "cot")            # that benchmark's own direct / CoT prompt
    fields = bench.check(response, records[0], "cot") # {"extracted", "verdict", "score", ...} for the prediction
    summary = bench.summarize(predictions)            # {"primary": ..., "metrics": {...}, "by": {...}}

A benchmark reads the files as they ship (Hub parquet or `datasets` folders with embedded images, and
VLMEvalKit's TSV with base64 images), asks each question with its published prompt, and scores by its
published rule. `check` returns what goes into one prediction line next to `pid`, `mode` and
`response`: always `extracted` (None when no answer was found), `verdict` (one of VERDICTS) and
`score` (a float in [0, 1]: 1.0 correct, 0.0 otherwise for rule-scored benchmarks); a benchmark may
add fields of its own, and copies from the record whatever `summarize` needs (the subset or version
a question belongs to, POPE's gold yes/no, CRPE's original question): `summarize` works on the
predictions of one mode alone, without the records, so a report can bootstrap it over questions.
`primary` is the number a table shows, as a fraction in [0, 1] (or the benchmark's own scale, named
in `scale`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("rules", "judge")


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark. Subclasses implement read, prompt, check and summarize."""

    name: str  # the --benchmark NAME
    title: str  # as the paper's table heads it
    kind: str = "rules"  # "rules": scored by its rule; "judge": needs an LLM judge
    reads: str = ""  # the shapes it reads, one line for `mmpo eval --benchmark list`
    scoring: str = ""  # the rule, one line
    source: str = ""  # where the rule is published (paper, repository)
    primary: str = "accuracy"  # the metric a table shows
    scale: str = "fraction"  # of `primary`: "fraction" (0..1, shown as %) or the benchmark's own, e.g. "0-6"
    # File and folder names `mmpo eval --suite` looks for under --data-root (case-insensitive globs).
    files: tuple[str, ...] = field(default_factory=tuple)

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        """Validated MathVista-schema records of the file or folder at `path`, with answers."""
        raise NotImplementedError

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        """The user-turn text for `record` in `mode` ("direct" or "cot")."""
        raise NotImplementedError

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        """The scored fields of one prediction: extracted, verdict, score (and the benchmark's own)."""
        raise NotImplementedError

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The benchmark's metrics over one mode's predictions (one per record, in any order):
        {"primary": float, "n": int, "metrics": {name: float}, "by": {breakdown: {group: {name: float,
        "n": int}}}}; `metrics` holds `primary`'s value under its name too."""
        raise NotImplementedError

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The record of one row as the benchmark ships it (a JSON object, one line of its JSONL form),
        read by `read`; for a row that `read` asks in several forms (CRPE's rotations), the first.
        Errors name the row as `--record` (`mmpo check --benchmark NAME --record JSON`)."""
        import json
        import logging
        import tempfile
        from pathlib import Path

        from mmpo.errors import InputError

        quiet = logging.getLogger("mmpo.benchmarks")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its read notes would name the temporary file
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "record.jsonl"
            path.write_text(json.dumps(dict(row), ensure_ascii=False) + "\n", encoding="utf-8")
            try:
                records = self.read(path)
            except InputError as exc:
                raise InputError(exc.reason, path="--record", field=exc.field) from None
            finally:
                quiet.setLevel(level)
        if not records:
            left = {k: v for k, v in ((getattr(self, "last_read", None) or {}).get("left_out") or {}).items() if v}
            why = f" (left out: {', '.join(left)})" if left else ""
            raise InputError(f"{self.name} reads no record from this row{why}", path="--record")
        rec = records[0]
        rec["_source"], rec["_where"], rec["_line"] = "--record", {}, None
        return rec

    @property
    def modes(self) -> tuple[str, ...]:
        return ("direct", "cot")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "kind": self.kind, "reads": self.reads,
                "scoring": self.scoring, "source": self.source, "primary": self.primary, "scale": self.scale,
                "files": list(self.files)}
