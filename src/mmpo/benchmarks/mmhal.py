"""MMHal-Bench (Sun et al., "Aligning Large Multimodal Models with Factually Augmented RLHF",
arXiv:2309.14525; github.com/llava-rlhf/LLaVA-RLHF, Eval/eval_gpt4.py; data Shengcao1006/MMHal-Bench),
scored by an LLM judge as its authors do.

Data as it ships:
- `response_template.json`: a list of 96 questions with `question_type`, `question_topic`, `image_id`,
  `image_src` (the OpenImages URL), `image_content` (the objects in the image), `question` and
  `gt_answer`; images are looked up by the URL's file name (or `image_id`) in `images/` or next to
  the file, or taken from an `image`/`image_path` field where the copy has one;
- a parquet or `datasets` copy with the same columns (an `image` column of embedded bytes).
The id of a question is its position in the list (0-based), as the authors' scripts number them.

Protocol. The question is asked as written. The judge (text-only GPT-4 in the paper) reads the image
contents, the question, the human-written standard answer and the model's answer, and rates how
informative the answer is and whether it hallucinates on a 0-6 scale (0-2: with hallucination), ending
its reply with "Rating: N". The authors' script takes the one "rating: N" (N in 0..6) it finds in the
lowercased reply and scores a reply with none or several as 0; mmpo leaves such a reply unscored and
counts it (`judge_unparsed`).

`parse_judgement`: exactly one rating value N in 0..6 written as "Rating: N" (any case; a repeated
equal value counts once); anything else is unreadable. Aggregation (as the authors' script): the
average rating (`primary`, on the 0-6 scale), the hallucination rate (the share of ratings below 3)
and the average rating per question type. A prediction is "correct" when its rating is 3 or more
(no hallucination).
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

QUESTION_TYPES = ("attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic",
                  "other")
HALLUCINATION_BELOW = 3
_RATING = re.compile(r"rating\s*:\s*\**\s*(\d+(?:\.\d+)?)(?!\d)", re.I)


def parse_judgement(reply: str | None) -> float | None:
    """The rating N in 0..6 a judge's reply gives as "Rating: N" (exactly one value), or None."""
    values = {m.group(1) for m in _RATING.finditer(reply or "")}
    if len(values) != 1:
        return None
    text = values.pop()
    if not re.fullmatch(r"[0-6](?:\.0+)?", text):
        return None
    return float(int(float(text)))


@dataclass(frozen=True)
class MMHal(JudgeBenchmark):
    judge_placeholders: tuple[str, ...] = ("question", "answer", "image_content", "question_type", "question_topic")
    judge_required: tuple[str, ...] = ("question", "answer")
    judge_format: str = "'Rating: N' with N in 0..6"

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        from mmpo.data.sources import is_dataset_folder, iter_rows

        path = Path(path)
        if path.is_dir() and not is_dataset_folder(path):
            found = [p for p in (path / "response_template.json",) if p.is_file()] or sorted(path.glob("*.parquet"))
            if not found:
                raise InputError("an MMHal-Bench folder holds response_template.json (and images/) or parquet files",
                                 path=path)
            path = found[0]
        base = path.parent if path.is_file() else path
        out = []
        for where, row in iter_rows(path, split=split):
            if not isinstance(row, dict):
                raise InputError(f"expected an object, got {type(row).__name__}", **where)
            index = where.get("record", where.get("line"))
            qtype = str(row.get("question_type") or "").strip()
            if qtype not in QUESTION_TYPES:
                raise InputError(f"{qtype!r} is not an MMHal-Bench question type ({', '.join(QUESTION_TYPES)})",
                                 **where, field="question_type")
            content = row.get("image_content")
            if isinstance(content, list | tuple):
                content = ", ".join(map(str, content))
            rec = {"pid": str(index), "question": text_of(row.get("question")), "answer": text_of(row.get("gt_answer")),
                   "metadata": {"question_type": qtype, "question_topic": text_of(row.get("question_topic")),
                                "image_content": text_of(content), "image_id": text_of(row.get("image_id")),
                                "image_src": text_of(row.get("image_src"))}}
            out.append(finish_record(rec, where, self._image(row, base, where), base))
        return check_unique(out)

    @staticmethod
    def _image(row: dict, base: Path, where: dict) -> Any:
        if isinstance(row.get("image"), dict | list) or row.get("image_path"):
            return row.get("image") if isinstance(row.get("image"), dict | list) else row["image_path"]
        names = []
        if row.get("image_src"):
            names.append(str(row["image_src"]).rstrip("/").rsplit("/", 1)[-1])
        if row.get("image_id"):
            names += [f"{row['image_id']}{ext}" for ext in (".jpg", ".jpeg", ".png")]
        for folder in (base / "images", base):
            for name in names:
                if (folder / name).is_file():
                    return str(folder / name)
        raise InputError(f"no image file {names[0] if names else '(no image_src or image_id)'} in {base / 'images'} "
                         f"or {base} (download the images the file names)", **where, field="image_src")

    def groups(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"question_type": (record.get("metadata") or {}).get("question_type")}

    def judge_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        meta = record.get("metadata") or {}
        return {"question": record["question"], "answer": record.get("answer"),
                "image_content": meta.get("image_content"), "question_type": meta.get("question_type"),
                "question_topic": meta.get("question_topic")}

    def parse(self, reply: str | None) -> dict[str, Any] | None:
        score = parse_judgement(reply)
        return None if score is None else {"score": score}

    def verdict_of(self, parsed: Mapping[str, Any]) -> str:
        return "correct" if parsed["score"] >= HALLUCINATION_BELOW else "incorrect"

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        done, _, _ = scored(predictions)

        def stats(items: list[Mapping[str, Any]]) -> dict[str, Any]:
            ratings = [float(p["score"]) for p in items]
            rate = sum(1 for r in ratings if r < HALLUCINATION_BELOW) / len(ratings) if ratings else None
            return {"average": mean(ratings), "hallucination_rate": rate, "n": len(ratings)}

        overall = stats(done)
        by = {t: stats([p for p in done if p.get("question_type") == t]) for t in QUESTION_TYPES}
        metrics = {"average": overall["average"], "hallucination_rate": overall["hallucination_rate"],
                   **{t: by[t]["average"] for t in QUESTION_TYPES}, **counts(predictions)}
        return {"primary": overall["average"], "n": len(predictions), "metrics": metrics,
                "by": {"question_type": by},
                "note": "average rating on 0-6; hallucination rate = share of ratings below 3; judge replies that "
                        "could not be read are left out (judge_unparsed)"}


BENCHMARK = MMHal(
    name="mmhal", title="MMHal-Bench",
    reads="response_template.json + images/ (authors), parquet / datasets copies with the same columns",
    scoring="LLM judge rates each answer 0-6; average rating and hallucination rate (ratings < 3), per type",
    source="Sun et al. 2023, arXiv:2309.14525; github.com/llava-rlhf/LLaVA-RLHF (Eval/eval_gpt4.py)",
    primary="average", scale="0-6", files=("response_template.json", "MMHal-Bench", "mmhal*"),
)
