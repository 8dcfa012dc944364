"""OlympiadBench, the English, multimodal, open-ended mathematics subset (He et al., "OlympiadBench: A
Challenging Benchmark for Promoting AGI with Olympiad-Level Bilingual Multimodal Scientific
Problems", ACL 2024; https://github.com/OpenBMB/OlympiadBench), scored by its rule.

Reads:
- the Hub release Hothan/OlympiadBench (parquet or a `datasets` folder; the subset is the
  configuration OE_MM_maths_en_COMP) and the repository's JSON files of the same rows: `id`,
  `question` (with `<image_1>` where a figure goes), `solution` (a list), `final_answer` (a list of
  LaTeX strings), `context`, `image_1` .. `image_5`, `modality`, `difficulty`, `is_multiple_answer`,
  `unit`, `answer_type` ("Numerical", "Expression", "Equation", "Interval", "Tuple", or several joined
  by commas), `error` (the numeric tolerance, one per answer, comma-separated), `question_type`,
  `subfield`, `subject`, `language`;
- VLMEvalKit's `OlympiadBench*.tsv`: `index`, `image` (base64, or a list of them), `question`,
  `final_answer` (a Python list as text), `source` (the configuration's name, "OE_MM_maths_en_COMP",
  read for the subject, language, modality and question type), `answer_type`, `is_multiple_answer`,
  `unit`, `error`.
Rows outside the subset (another subject or language, text-only, theorem proving: no final answer to
check) are left out, as are questions with more than one image: mmpo records carry one image. Both
counts are logged as a warning by `read` (logger `mmpo.benchmarks`), never dropped silently; a file
with no question of the subset is an InputError.

Prompts: CoT is the authors' English prompt for open-ended mathematics (`inference/code/evaluators/
evaluator.py`): a competition-problem preamble, the expected kind of answer (a numerical value, an
expression, an equation, an interval; several for multiple answers), LaTeX, and to end with "So the
final answer is \\boxed{...}" (the unit outside the box), then the question. Direct mode (no
published one) keeps the preamble and the kind of answer and asks for the final answer alone, in
\\boxed{}.

Scoring, the authors' rule (`inference/judge.py`, `inference/code/math_judger.py`) in mmpo's words:
- the answer: what follows the last "So the final answer is", else the whole response; from it every
  \\boxed{} joined by commas, else the $...$ parts of its last line, else mmpo's lenient extraction;
- both sides lose $, \\left/\\right, degree signs, % and decorations, "x \\in" before an interval,
  and outer punctuation; equal text is correct (mmpo also drops the backslash of "\\%", which the
  authors' table leaves behind, so that "50\\%" is 50);
- otherwise both are split at top-level commas (\\pm counts as both signs), must have as many parts,
  and every gold part must match a distinct predicted part, in any order: equal text; intervals with
  the same brackets and equal ends; numbers within the record's tolerance (`error`, absolute; 1e-8
  when none; the gold also read as a percentage, x100 and /100); closed forms evaluated (math-verify,
  bounded time) within the tolerance; expressions and equations by symbolic equivalence (math-verify
  in a worker killed at its deadline, where the authors simplify with sympy unbounded).
Breakdowns: by subfield and by difficulty.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmpo.benchmarks._math import accuracy_summary, literal, log, one, read_benchmark, scored, text
from mmpo.benchmarks.base import Benchmark
from mmpo.errors import InputError

DEFAULT_TOLERANCE = 1e-8
_KINDS = {"Numerical": "a numerical value", "Expression": "an expression", "Equation": "an equation",
          "Interval": "an interval"}
# The subset: column -> accepted values.
SUBSET = {"subject": ("Math", "Maths", "Mathematics"), "language": ("English",),
          "modality": ("Multimodal",), "question_type": ("Open-ended",)}


def _images(row: dict) -> list[Any]:
    if "image_1" not in row and "image" in row:  # VLMEvalKit: one image, or a list of them
        cell = row["image"]
        cells = cell if isinstance(cell, list) else [cell]
        return [c for c in cells if c not in (None, "", {})]
    return [row[k] for k in (f"image_{i}" for i in range(1, 6)) if row.get(k) not in (None, "", {})
            and not (isinstance(row.get(k), dict) and not row[k].get("bytes") and not row[k].get("path"))]


def _tolerances(value: Any, where: dict) -> list[float]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return [DEFAULT_TOLERANCE]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    out = []
    for part in str(value).split(","):
        part = part.strip()
        try:
            out.append(float(part) if part else DEFAULT_TOLERANCE)
        except ValueError:
            raise InputError(f"tolerance {part!r} is not a number", **where, field="error") from None
    return out


_SOURCE_PARTS = {"OE": ("question_type", "Open-ended"), "TP": ("question_type", "Theorem proof"),
                 "MM": ("modality", "Multimodal"), "TO": ("modality", "Text-only"),
                 "maths": ("subject", "Math"), "physics": ("subject", "Physics"),
                 "en": ("language", "English"), "zh": ("language", "Chinese")}


def _from_source(source: str) -> dict[str, str]:
    """VLMEvalKit's TSV names the configuration instead ("OE_MM_maths_en_COMP"): the subset columns."""
    return dict(_SOURCE_PARTS[p] for p in source.split("_") if p in _SOURCE_PARTS)


class _Reader:
    """One read: maps rows, counts what it leaves out."""

    def __init__(self) -> None:
        self.outside: dict[str, int] = {}
        self.multi_image = 0

    def __call__(self, row: Any, where: dict) -> Any:
        if not isinstance(row, dict):
            return row
        if "final_answer" not in row:
            raise InputError("not an OlympiadBench row (no final_answer)", **where, field="final_answer")
        if text(row.get("source")) and not any(c in row for c in SUBSET):
            row = {**_from_source(text(row["source"])), **row}
        for column, accepted in SUBSET.items():
            value = text(row.get(column))
            if value is not None and value not in accepted:
                key = f"{column} {value}"
                self.outside[key] = self.outside.get(key, 0) + 1
                return None
        images = _images(row)
        if len(images) > 1:
            self.multi_image += 1
            return None
        pid = text(row.get("id")) or text(row.get("index"))
        if pid is None:
            raise InputError("missing required field", **where, field="id")
        answers = literal(row.get("final_answer"), where, "final_answer", list)
        if answers is None and isinstance(row.get("final_answer"), str):
            answers = [row["final_answer"]]
        answers = [str(a) for a in answers or [] if str(a).strip()]
        if not answers:
            raise InputError("no final answer", **where, field="final_answer")
        answer_type = text(row.get("answer_type")) or ""
        multiple = row.get("is_multiple_answer")
        multiple = multiple.strip().lower() == "true" if isinstance(multiple, str) else bool(multiple)
        meta = {"answer_type": answer_type, "is_multiple_answer": multiple,
                "tolerance": _tolerances(row.get("error"), where), "final_answer": answers,
                **{k: text(row.get(k)) for k in ("subfield", "difficulty", "subject", "language", "modality")
                   if text(row.get(k)) is not None}}
        question = str(row.get("question") or "").strip()
        solution = row.get("solution")
        return {"pid": pid, "question": question, "image": images[0] if images else None,
                "choices": None, "answer": ", ".join(answers), "question_type": "free_form",
                "answer_type": "text", "unit": text(row.get("unit")), "metadata": meta,
                "solution": "\n".join(map(str, solution)) if isinstance(solution, list) else text(solution)}

    def report(self, path: Any, kept: int) -> str:
        parts = []
        if self.multi_image:
            parts.append(f"{self.multi_image} with more than one image (mmpo records carry one)")
        if self.outside:
            parts.append("outside the English multimodal open-ended math subset: "
                         + ", ".join(f"{n} {k}" for k, n in sorted(self.outside.items())))
        return f"OlympiadBench {path}: read {kept}, left out " + "; ".join(parts) if parts else ""


# ---- prompts -----------------------------------------------------------------------------------------

def _kind(answer_type: str) -> str | None:
    for key, words in _KINDS.items():
        if key in answer_type:
            return words
    return None


def answer_kind_text(answer_type: str, multiple: bool) -> str:
    """The sentence on the expected kind of answer in the authors' English prompt ('' when none fits)."""
    if "Need_human_evaluate" in answer_type or "Tuple" in answer_type or not answer_type:
        return ""
    kinds = [_kind(t.strip()) for t in answer_type.split(",")]
    if any(k is None for k in kinds):
        return ""
    if not multiple:
        return f"The answer of The problem should be {kinds[0]}. "
    if len(set(kinds)) == 1:
        return f"The problem has multiple answers, each of them should be {kinds[0]}. "
    return f"The problem has multiple answers, with the answers in order being {', '.join(kinds)}. "


_PREAMBLE = "The following is an open-ended problem from an International Math competition. "


def official_prompt(record: Mapping[str, Any]) -> str:
    meta = record.get("metadata") or {}
    multiple = bool(meta.get("is_multiple_answer"))
    box = "\\boxed{multiple answers connected with commas}" if multiple else "\\boxed{answer}"
    unit_text = ""
    if record.get("unit"):
        box += "(unit)"
        unit_text = ", note that the unit of the answer should not be included in \\boxed{}"
    head = (f"{_PREAMBLE}{answer_kind_text(meta.get('answer_type') or '', multiple)}Please calculate the answer "
            "according to the given requirements and the information provided. Please use LaTeX format to "
            "represent the variables and formulas used in the solution process and results. Please end your "
            f'solution with "So the final answer is {box}." and give the result explicitly{unit_text}.')
    return f"{head}\n{record.get('question', '')}"


def direct_prompt(record: Mapping[str, Any]) -> str:
    meta = record.get("metadata") or {}
    multiple = bool(meta.get("is_multiple_answer"))
    what = "all the answers, connected with commas," if multiple else "the final answer"
    unit = " (without its unit)" if record.get("unit") else ""
    return (f"{_PREAMBLE}{answer_kind_text(meta.get('answer_type') or '', multiple)}Give {what} in LaTeX within "
            f"\\boxed{{}}{unit}, with no explanation.\n{record.get('question', '')}")


# ---- extraction and the judge -------------------------------------------------------------------------

_FINAL = "So the final answer is"
_DOLLARS = re.compile(r"\$(.*?)\$")


def boxed_contents(s: str) -> list[str]:
    """The contents of every brace-balanced \\boxed{...} in `s`, in order (unbalanced ones skipped)."""
    out, i = [], 0
    while (i := s.find("\\boxed{", i)) >= 0:
        start = j = i + len("\\boxed{")
        depth = 1
        while j < len(s) and depth:
            if s[j] == "\\" and j + 1 < len(s):
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(s[j], 0)
            j += 1
        if depth == 0:
            out.append(s[start:j - 1])
        i = start
    return out


def _from_text(s: str) -> str | None:
    boxes = boxed_contents(s)
    if boxes:
        return ",".join(boxes)
    lines = [line for line in s.strip().split("\n") if line.strip()]
    if lines:
        parts = _DOLLARS.findall(lines[-1])
        if parts:
            return ",".join(parts)
    return None


def extract(response: str | None) -> str | None:
    """The answer as the authors' judge finds it (see module docstring); None when there is none."""
    from mmpo.answers import extract_answer

    if not isinstance(response, str) or not response.strip():
        return None
    at = response.rfind(_FINAL)
    if at >= 0:
        line = response[at + len(_FINAL):].split("\n", 1)[0]
        found = _from_text(line)
        if found is None:
            found = line.strip().rstrip(".").strip() or None
        if found is not None:
            return found
    found = _from_text(response)
    return found if found is not None else extract_answer(response, lenient=True)


_REPLACE = (("\\left", ""), ("\\right", ""), ("∶", ":"), ("，", ","), ("$", ""), ("\\approx", "="),
            ("\\simeq", "="), ("\\sim", "="), ("^\\prime", "'"), ("^{\\prime}", "'"), ("^\\circ", ""),
            ("^{\\circ}", ""), ("\\%", ""), ("%", ""))
_STRIP = "\n$,.:;^_=+`!@#$%^&*~，。 "
_MATHRM = re.compile(r"\\(?:mathrm|mathbf)\{~?([^}]*)\}")
_CJK = re.compile(r"[\u4e00-\u9fff]+")


def prepare_answer(s: str) -> str:
    if "\\in " in s:
        s = s.split("\\in ", 1)[1]
    for a, b in _REPLACE:
        s = s.replace(a, b)
    s = s.strip(_STRIP)
    return _MATHRM.sub(r"\1", s)


def split_top_level(s: str) -> list[str]:
    """`s` split at commas outside (), [] and {}."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(s[start:i].strip())
            start = i + 1
    if start < len(s):
        out.append(s[start:].strip())
    return [p for p in out if p != ""]


def _expand_pm(items: list[str]) -> list[str]:
    out = []
    for item in items:
        if "\\pm" in item:
            out += [item.replace("\\pm", "+"), item.replace("\\pm", "-")]
        else:
            out.append(item)
    return out


def _plain_number(s: str) -> float | None:
    from mmpo.answers.normalize import parse_number

    p = parse_number(s)
    return p.value if p is not None and not p.unit and not p.percent else None


def _has_letters(s: str) -> bool:
    return bool(re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", " ", s)))


def _close(g: float, p: float, tol: float, percent: bool) -> bool:
    candidates = (g / 100, g, g * 100) if percent else (g,)
    return any(abs(c - p) <= tol * 1.01 for c in candidates)


def _expression_equal(g: str, p: str, tol: float, deadline: float) -> bool:
    from mmpo.answers.symbolic import symbolic_equal, symbolic_value

    if "=" in g:
        g = g.split("=")[1].strip()
    if "=" in p:
        p = p.split("=")[1].strip()
    if not g or not p:
        return False
    if g == p:
        return True
    gl, pl = _has_letters(g), _has_letters(p)
    if gl != pl:
        return False
    if not gl:
        vg = _plain_number(g)
        vg = vg if vg is not None else symbolic_value(g, deadline)
        vp = _plain_number(p)
        vp = vp if vp is not None else symbolic_value(p, deadline)
        return vg is not None and vp is not None and _close(float(vg), float(vp), tol, False)
    return bool(symbolic_equal(g, p, deadline))


def _is_interval(s: str) -> bool:
    return s.startswith(("(", "[")) and s.endswith((")", "]"))


def _interval_equal(g: str, p: str, tol: float, deadline: float) -> bool:
    gs, ps = g.split("\\cup"), p.split("\\cup")
    if len(gs) != len(ps):
        return False
    for a, b in zip(gs, ps):
        a, b = a.strip(), b.strip()
        if not a or not b or a[0] != b[0] or a[-1] != b[-1]:
            return False
        ea, eb = a.strip("[]()").split(","), b.strip("[]()").split(",")
        if len(ea) != len(eb) or not all(_expression_equal(x.strip(), y.strip(), tol, deadline)
                                         for x, y in zip(ea, eb)):
            return False
    return True


def items_equal(g: str, p: str, tol: float, deadline: float) -> bool:
    """One gold part against one predicted part (the authors' order of tests)."""
    if g == p and g != "":
        return True
    if _is_interval(g) and _is_interval(p) and _interval_equal(g, p, tol, deadline):
        return True
    vg, vp = _plain_number(g), _plain_number(p)
    if vg is not None and vp is not None:
        if _close(vg, vp, tol, True):
            return True
    if not ("=" in g and "=" in p) and _expression_equal(g, p, tol, deadline):
        return True
    if "=" in g and "=" in p:
        from mmpo.answers.symbolic import symbolic_equal

        return bool(symbolic_equal(g, p, deadline))
    return False


def judge(gold: str, pred: str, tolerances: Sequence[float], deadline: float) -> bool:
    """The authors' judge: equal after preparation, or every gold part matched by its own predicted part."""
    g_text = _from_text(gold) or gold
    g, p = prepare_answer(g_text), prepare_answer(pred)
    if g == p:
        return bool(g)
    g, p = _CJK.sub("", g), _CJK.sub("", p)
    gold_items, pred_items = _expand_pm(split_top_level(g)), _expand_pm(split_top_level(p))
    if not gold_items or len(gold_items) != len(pred_items):
        return False
    tols = list(tolerances) or [DEFAULT_TOLERANCE]
    if len(tols) <= 1:
        tols = tols * len(gold_items)
    used = [False] * len(pred_items)
    for i, item in enumerate(gold_items):
        tol = tols[i] if i < len(tols) else DEFAULT_TOLERANCE
        for j, cand in enumerate(pred_items):
            if not used[j] and items_equal(item, cand, tol, deadline):
                used[j] = True
                break
        else:
            return False
    return True


# ---- the benchmark ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OlympiadBench(Benchmark):
    budget_s: float = field(default=4.0)  # symbolic time for one check (several parts may need it)

    def read(self, path: str | os.PathLike, *, split: str | None = None) -> list[dict[str, Any]]:
        reader = _Reader()
        try:
            records = read_benchmark(self.title, path, split, reader)
        except InputError as exc:
            note = reader.report(path, 0)
            if note and exc.reason.startswith("no "):
                raise InputError(f"no question of the English multimodal open-ended math subset ({note})",
                                 path=path) from None
            raise
        note = reader.report(path, len(records))
        if note:
            log.warning(note)
        return records

    def prompt(self, record: Mapping[str, Any], mode: str) -> str:
        if mode not in ("direct", "cot"):
            raise ValueError(f"mode must be direct or cot, got {mode!r}")
        return official_prompt(record) if mode == "cot" else direct_prompt(record)

    def check(self, response: str | None, record: Mapping[str, Any], mode: str) -> dict[str, Any]:
        meta = record.get("metadata") or {}
        extra = {"subfield": meta.get("subfield"), "difficulty": meta.get("difficulty")}
        extracted = extract(response)
        if extracted is None:
            return scored(None, False, **extra)
        answers = meta.get("final_answer") or [str(record["answer"])]
        tolerances = meta.get("tolerance") or [DEFAULT_TOLERANCE]
        if "Tuple" in (meta.get("answer_type") or ""):
            tolerances = [DEFAULT_TOLERANCE]  # the authors' judge ignores `error` for tuples
        gold = ",".join(_from_text(a) or a for a in answers)
        ok = judge(gold, extracted, tolerances, time.monotonic() + self.budget_s)
        return scored(extracted, ok, **extra)

    def summarize(self, predictions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return accuracy_summary(predictions, {"subfield": one("subfield"), "difficulty": one("difficulty")})


BENCHMARK = OlympiadBench(
    name="olympiadbench", title="OlympiadBench",
    reads="Hothan/OlympiadBench OE_MM_maths_en_COMP (parquet, datasets folder, JSON), VLMEvalKit "
          "OlympiadBench*.tsv; one image per question",
    scoring="the authors' judge: boxed answer; numbers within the record's tolerance, else symbolic "
            "equivalence (bounded time); multiple answers all matched in any order",
    source="He et al., ACL 2024; OpenBMB/OlympiadBench inference/judge.py, inference/code/math_judger.py",
    files=("OlympiadBench/OE_MM_maths_en_COMP*.parquet", "OlympiadBench/OE_MM_maths_en_COMP",
           "OE_MM_maths_en_COMP*.parquet", "OE_MM_maths_en_COMP.json", "OlympiadBench_EN.tsv"),
)
