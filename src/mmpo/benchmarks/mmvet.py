"""MM-Vet (Yu et al., "MM-Vet: Evaluating Large Multimodal Models for Integrated Capabilities",
arXiv:2308.02490; github.com/yuweihao/MM-Vet), scored by an LLM judge as its authors do.

Data as it ships:
- the official release: `mm-vet.json`, an object keyed by question id ("v1_0", ...) whose values hold
  `imagename`, `question`, `answer` and `capability` (a list of rec, ocr, know, gen, spat, math), next
  to an `images/` folder (the file itself, or the folder holding it, may be given);
- VLMEvalKit's `MMVet.tsv`: `index`, `image` (base64), `question`, `answer`, `category` (the
  capabilities joined by commas).

Protocol. The question is asked as written. The authors' grader shows the judge (GPT-4 in the paper) a
few graded examples and then the question, the ground truth (where "<AND>" means every part must be
present and "<OR>" that any one suffices) and the model's answer, and asks for one correctness score
from 0.0 to 1.0 in steps of 0.1. The official script reads the reply as a number and retries with a
higher temperature when it is not one in [0, 1]; mmpo asks once at temperature 0 and leaves an
unreadable reply unscored (counted in `judge_unparsed`) rather than scoring it.

`parse_judgement`: the first number in the reply, if it lies in [0, 1]; anything else is unreadable.
Aggregation (as the paper's tables): the total is the mean score over all questions; a capability's
score is the mean over the questions that need it (a question counts towards each of its
capabilities); `by["integration"]` gives the same per combination of capabilities. A prediction is
"correct" when its score is at least 0.5 (mmpo's threshold, for verdict counts only; the metrics use
the scores).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.benchmarks.judged import JudgeBenchmark, check_unique, counts, finish_record, mean, scored, text_of
from mmpo.errors import InputError

CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")
THRESHOLD = 0.5
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_judgement(reply: str | None) -> float | None:
    """The correctness score in a judge's reply: its first number, when in [0, 1]; else None."""
    m = _NUMBER.search(reply or "")
    if m is None:
        return None
    value = float(m.group())
    return value if 0.0 <= value <= 1.0 else None


def capabilities_of(value: Any, where: dict) -> list[str]:
    if isinstance(value, str):
        caps = [c.strip() for c in value.split(",") if c.strip()]
    elif isinstance(value, list | tuple):
        caps = [str(c).strip() for c in value]
    else:
        raise InputError("missing (a list of capabilities, or them joined by commas)", **where, field="capability")
    bad = [c for c in caps if c not in CAPABILITIES]
    if not caps or bad:
        raise InputError(f"{bad[0] if bad else 'empty'!r} is not an MM-Vet capability ({', '.join(CAPABILITIES)})",
                         **where, field="capability")
    return caps


@dataclass(frozen=True)
class MMVet(JudgeBenchmark):
    judge_placeholders: tuple[str, ...] = ("question", "answer", "capability")
    judge_required: tuple[str, ...] = ("question", "answer")
    judge_format: str = "a number in [0, 1]"

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        from mmpo.data.sources import iter_rows

        path = Path(path)
        if path.is_dir():
            found = [p for p in (path / "mm-vet.json", path / "mm-vet" / "mm-vet.json") if p.is_file()]
            if not found:
                tsv = sorted(path.glob("*.tsv"))
                if len(tsv) != 1:
                    raise InputError("an MM-Vet folder holds mm-vet.json (and images/) or one MMVet.tsv", path=path)
                found = tsv
            path = found[0]
        base = path.parent
        images = base / "images" if (base / "images").is_dir() else base
        out = []
        for where, row in iter_rows(path):
            if not isinstance(row, dict):
                raise InputError(f"expected an object, got {type(row).__name__}", **where)
            if "imagename" in row or "capability" in row:  # the official mm-vet.json
                pid, image = row.get("pid"), row.get("imagename")
                caps = capabilities_of(row.get("capability"), where)
                if not image:
                    raise InputError("missing required field", **where, field="imagename")
                image = str(images / str(image))
            else:  # VLMEvalKit's TSV
                pid, image = row.get("index"), row.get("image")
                caps = capabilities_of(row.get("category"), where)
            rec = {"pid": text_of(pid), "question": text_of(row.get("question")), "answer": text_of(row.get("answer")),
                   "metadata": {"capability": caps}}
            out.append(finish_record(rec, where, image, base))
        return check_unique(out)

    def groups(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"capability": list((record.get("metadata") or {}).get("capability") or [])}

    def judge_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"question": record["question"], "answer": record.get("answer"),
                "capability": ",".join(self.groups(record)["capability"])}

    def parse(self, reply: str | None) -> dict[str, Any] | None:
        score = parse_judgement(reply)
        return None if score is None else {"score": score}

    def verdict_of(self, parsed: Mapping[str, Any]) -> str:
        return "correct" if parsed["score"] >= THRESHOLD else "incorrect"

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        done, _, _ = scored(predictions)
        by_cap = {c: [p["score"] for p in done if c in (p.get("capability") or [])] for c in CAPABILITIES}
        combos: dict[str, list[float]] = {}
        for p in done:
            combos.setdefault("_".join(p.get("capability") or []), []).append(p["score"])
        total = mean([p["score"] for p in done])
        metrics = {"total": total, **{c: mean(v) for c, v in by_cap.items()}, **counts(predictions)}
        return {"primary": total, "n": len(predictions), "metrics": metrics,
                "by": {"capability": {c: {"score": mean(v), "n": len(v)} for c, v in by_cap.items()},
                       "integration": {k: {"score": mean(v), "n": len(v)} for k, v in sorted(combos.items())}},
                "note": "judge replies that could not be read are left out of every mean (judge_unparsed)"}


BENCHMARK = MMVet(
    name="mm-vet", title="MM-Vet",
    reads="mm-vet.json + images/ (official), VLMEvalKit MMVet.tsv",
    scoring="LLM judge gives each answer a 0..1 correctness score; mean per capability and in total",
    source="Yu et al. 2023, arXiv:2308.02490; github.com/yuweihao/MM-Vet",
    primary="total", scale="fraction", files=("mm-vet.json", "mm-vet", "MMVet.tsv"),
)
