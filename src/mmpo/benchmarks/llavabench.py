"""LLaVA-Bench (In-the-Wild) (Liu et al., "Visual Instruction Tuning", NeurIPS 2023, arXiv:2304.08485;
github.com/haotian-liu/LLaVA, llava/eval/eval_gpt_review_bench.py and summarize_gpt_review.py), scored
by an LLM judge as its authors do.

Data as it ships:
- the authors' folder (liuhaotian/llava-bench-in-the-wild): `questions.jsonl` (`question_id`, `image`,
  `text`, `category` conv/detail/complex), `answers_gpt4.jsonl` (`question_id`, `text`: GPT-4's reference
  answer), `context.jsonl` (`image`, `caption`: the written description of the image) and `images/`;
  the folder or its questions.jsonl may be given;
- lmms-lab/llava-bench-in-the-wild parquet (`question_id`, `question`, `image`, `caption`, `gpt_answer`,
  `category`, `image_id`), a file or a folder of them;
- VLMEvalKit's `LLaVABench.tsv` (`index`, `image`, `question`, `gpt4_ans`, `category`, `caption`).

Protocol. The question is asked as written. The judge (text-only GPT-4 in the paper) reads the image's
caption as context, the question, the reference answer as assistant 1 and the model's answer as
assistant 2, and a rule for the question's category asking it to rate each assistant from 1 to 10 and
to write the two ratings on the first line, then explain. A judge prompt may therefore be one
template, or a .json object of templates keyed by category ("conv", "detail", "complex").

`parse_ratings`: the first line of the reply, commas read as spaces, must be exactly two numbers
(each in [0, 10]); `parse_judgement` gives the model's (the second). A prediction's `score` is the
model's rating and `reference_score` the reference's. Aggregation (as the authors' summary): per
category and over all questions, the relative score is the model's total rating divided by the
reference's total rating (`primary`, as a fraction; the paper prints it x100), next to the mean rating
of each (1-10). A prediction is "correct" when its rating is at least the reference's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmpo.benchmarks.judged import JudgeBenchmark, check_unique, counts, finish_record, mean, scored, text_of
from mmpo.errors import InputError

CATEGORIES = ("conv", "detail", "complex")


def parse_ratings(reply: str | None) -> tuple[float, float] | None:
    """(reference's rating, model's rating) from the first line of a judge's reply, or None."""
    first = (reply or "").strip().split("\n", 1)[0].replace(",", " ").split()
    if len(first) != 2:
        return None
    try:
        a, b = float(first[0]), float(first[1])
    except ValueError:
        return None
    if not all(0.0 <= x <= 10.0 for x in (a, b)):
        return None
    return a, b


def parse_judgement(reply: str | None) -> float | None:
    """The model's rating (the second number on the reply's first line), or None."""
    pair = parse_ratings(reply)
    return None if pair is None else pair[1]


def category_of(value: Any, where: dict) -> str:
    cat = str(value or "").strip().removeprefix("llava_bench_")
    if cat not in CATEGORIES:
        raise InputError(f"{value!r} is not a LLaVA-Bench category ({', '.join(CATEGORIES)})", **where,
                         field="category")
    return cat


def _jsonl_by(path: Path, key: str) -> dict[str, tuple[dict, dict]]:
    from mmpo.data.files import iter_jsonl

    out = {}
    for line, obj in iter_jsonl(path):
        if key not in obj:
            raise InputError("missing required field", path=path, line=line, field=key)
        out[str(obj[key])] = ({"path": path, "line": line}, obj)
    return out


@dataclass(frozen=True)
class LLaVABench(JudgeBenchmark):
    judge_placeholders: tuple[str, ...] = ("question", "answer", "caption", "context", "category")
    judge_required: tuple[str, ...] = ("question", "answer")
    judge_variants: tuple[str, ...] = CATEGORIES
    judge_variant_name: str = "category"
    judge_format: str = "two ratings on the first line"

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        from mmpo.data.sources import is_dataset_folder

        path = Path(path)
        if path.is_file() and path.name == "questions.jsonl":
            return self._official(path.parent)
        if path.is_dir():
            if (path / "questions.jsonl").is_file():
                return self._official(path)
            if not is_dataset_folder(path):
                parquet = sorted(path.rglob("*.parquet"))
                if not parquet:
                    raise InputError("a LLaVA-Bench folder holds questions.jsonl, answers_gpt4.jsonl, context.jsonl "
                                     "and images/, or the Hub's parquet files", path=path)
                return check_unique([r for p in parquet for r in self._table(p, split)])
        return check_unique(self._table(path, split))

    def _official(self, folder: Path) -> list[dict[str, Any]]:
        from mmpo.data.files import iter_jsonl

        for name in ("answers_gpt4.jsonl", "context.jsonl"):
            if not (folder / name).is_file():
                raise InputError(f"the reference answers and captions come with questions.jsonl; {name} is missing",
                                 path=folder / name)
        answers = _jsonl_by(folder / "answers_gpt4.jsonl", "question_id")
        contexts = _jsonl_by(folder / "context.jsonl", "image")
        images = folder / "images" if (folder / "images").is_dir() else folder
        out = []
        qpath = folder / "questions.jsonl"
        for line, q in iter_jsonl(qpath):
            where = {"path": qpath, "line": line}
            qid, image = q.get("question_id"), q.get("image")
            if qid is None:
                raise InputError("missing required field", **where, field="question_id")
            if str(qid) not in answers:
                raise InputError(f"question {qid} has no reference answer in answers_gpt4.jsonl", **where,
                                 field="question_id")
            if str(image) not in contexts:
                raise InputError(f"image {image!r} has no caption in context.jsonl", **where, field="image")
            caption = contexts[str(image)][1].get("caption")
            if isinstance(caption, list):
                caption = "\n".join(map(str, caption))
            rec = {"pid": str(qid), "question": text_of(q.get("text")),
                   "answer": text_of(answers[str(qid)][1].get("text")),
                   "metadata": {"category": category_of(q.get("category"), where), "caption": text_of(caption)}}
            out.append(finish_record(rec, where, str(images / str(image)) if image else None, folder))
        return check_unique(out)

    def _table(self, path: Path, split: str | None) -> list[dict[str, Any]]:
        from mmpo.data.sources import iter_rows

        out = []
        for where, row in iter_rows(path, split=split):
            if not isinstance(row, dict):
                raise InputError(f"expected an object, got {type(row).__name__}", **where)
            pid = row.get("question_id", row.get("index"))
            answer = row.get("gpt_answer", row.get("gpt4_ans", row.get("answer")))
            rec = {"pid": text_of(pid), "question": text_of(row.get("question")), "answer": text_of(answer),
                   "metadata": {"category": category_of(row.get("category"), where),
                                "caption": text_of(row.get("caption"))}}
            if row.get("image_id") is not None:
                rec["metadata"]["image_id"] = str(row["image_id"])
            out.append(finish_record(rec, where, row.get("image"), Path(path).parent))
        return out

    def groups(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {"category": (record.get("metadata") or {}).get("category")}

    def judge_fields(self, record: Mapping[str, Any]) -> dict[str, Any]:
        meta = record.get("metadata") or {}
        return {"question": record["question"], "answer": record.get("answer"), "caption": meta.get("caption"),
                "context": meta.get("caption"), "category": meta.get("category")}

    def judge_variant(self, record: Mapping[str, Any]) -> str | None:
        return (record.get("metadata") or {}).get("category")

    def parse(self, reply: str | None) -> dict[str, Any] | None:
        pair = parse_ratings(reply)
        return None if pair is None else {"score": pair[1], "reference_score": pair[0]}

    def verdict_of(self, parsed: Mapping[str, Any]) -> str:
        return "correct" if parsed["score"] >= parsed["reference_score"] else "incorrect"

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        done, _, _ = scored(predictions)

        def stats(items: list[Mapping[str, Any]]) -> dict[str, Any]:
            model = [float(p["score"]) for p in items]
            ref = [float(p["reference_score"]) for p in items if p.get("reference_score") is not None]
            relative = sum(model) / sum(ref) if items and len(ref) == len(model) and sum(ref) > 0 else None
            return {"relative": relative, "model_mean": mean(model), "reference_mean": mean(ref), "n": len(items)}

        overall = stats(done)
        by = {c: stats([p for p in done if p.get("category") == c]) for c in CATEGORIES}
        metrics = {"relative": overall["relative"], "model_mean": overall["model_mean"],
                   "reference_mean": overall["reference_mean"],
                   **{c: by[c]["relative"] for c in CATEGORIES}, **counts(predictions)}
        return {"primary": overall["relative"], "n": len(predictions), "metrics": metrics, "by": {"category": by},
                "note": "relative = the model's total rating / the reference answer's total rating; judge replies "
                        "that could not be read are left out (judge_unparsed)"}


BENCHMARK = LLaVABench(
    name="llava-bench", title="LLaVA-Bench (In-the-Wild)",
    reads="questions.jsonl + answers_gpt4.jsonl + context.jsonl + images/ (authors), lmms-lab parquet, "
          "VLMEvalKit LLaVABench.tsv",
    scoring="LLM judge rates the reference and the answer 1-10; model total / reference total, per category",
    source="Liu et al. 2023, arXiv:2304.08485; github.com/haotian-liu/LLaVA (llava/eval/eval_gpt_review_bench.py)",
    primary="relative", scale="fraction",
    files=("llava-bench-in-the-wild", "LLaVABench.tsv", "questions.jsonl"),
)
