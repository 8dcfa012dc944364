"""One small file (3-6 questions, one image each) of every rule-scored benchmark in each shape it ships in,
written under the name it ships as, for the end-to-end tests (tests/benchmarks/test_end_to_end.py).

    path = SHIPPED[("mathvista", "release")](root)   # root/MathVista/testmini.json, images in root/MathVista/images
    for (name, shape), build in SHIPPED.items(): ...   # shape: "parquet" (Hub, embedded images), "tsv"
                                                        # (VLMEvalKit, base64 images), "release" (the authors'
                                                        # JSON/JSONL with an images folder)

Each builder takes a root folder and returns the file it wrote there, at the path the benchmark's
`files=` globs name (so `mmpo eval --suite paper --data-root ROOT` finds it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from _shapes import image_cell, png, write_jsonl, write_parquet, write_shards, write_tsv

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def _images(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).write_bytes(png(COLORS[i % len(COLORS)]))


# MathVista testmini -------------------------------------------------------------------------------------

MV_HINT = {"mc": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
           "int": "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., "
                  "1, 2, 3, at the end.",
           "float": "Hint: Please answer the question requiring a floating-point number with one decimal place and "
                    "provide the final value, e.g., 1.2, 1.3, 1.4, at the end."}


def _mathvista_rows():
    return [
        {"pid": "1", "question": "What fraction is blue?", "image": "images/1.jpg", "choices": ["1/2", "1/3", "1/4"],
         "unit": None, "precision": None, "answer": "1/3", "question_type": "multi_choice", "answer_type": "text",
         "query": MV_HINT["mc"] + "\nQuestion: What fraction is blue?\nChoices:\n(A) 1/2\n(B) 1/3\n(C) 1/4",
         "metadata": {"task": "figure question answering", "skills": ["arithmetic reasoning"], "split": "testmini"}},
        {"pid": "2", "question": "How many dots?", "image": "images/2.jpg", "choices": None, "unit": None,
         "precision": None, "answer": "4", "question_type": "free_form", "answer_type": "integer",
         "query": MV_HINT["int"] + "\nQuestion: How many dots?",
         "metadata": {"task": "math word problem", "skills": ["arithmetic reasoning"], "split": "testmini"}},
        {"pid": "3", "question": "How long is the bar?", "image": "images/3.jpg", "choices": None, "unit": "cm",
         "precision": 1.0, "answer": "1.2", "question_type": "free_form", "answer_type": "float",
         "query": MV_HINT["float"] + "\nQuestion: How long is the bar? (Unit: cm)",
         "metadata": {"task": "figure question answering", "skills": ["statistical reasoning"], "split": "testmini"}},
    ]


def mathvista_parquet(root: Path) -> Path:
    rows = [dict(r, decoded_image=image_cell(COLORS[i], f"{r['pid']}.jpg")) for i, r in enumerate(_mathvista_rows())]
    return write_parquet(root / "MathVista" / "data" / "testmini-00000-of-00001.parquet", rows)


def mathvista_release(root: Path) -> Path:
    rows = _mathvista_rows()
    _images(root / "MathVista" / "images", [Path(r["image"]).name for r in rows])
    path = root / "MathVista" / "testmini.json"
    path.write_text(json.dumps({r["pid"]: {k: v for k, v in r.items() if k != "pid"} for r in rows}))
    return path


def mathvista_tsv(root: Path) -> Path:
    header = ["index", "image", "question", "answer", "answer_option", "choices", "question_type", "answer_type",
              "precision", "unit", "task", "skills", "split"]
    rows = [{"index": r["pid"], "image": png(COLORS[i]), "question": r["query"], "answer": r["answer"],
             "answer_option": "B" if r["choices"] else None,
             "choices": str(r["choices"]) if r["choices"] else None, "question_type": r["question_type"],
             "answer_type": r["answer_type"], "precision": r["precision"], "unit": r["unit"],
             "task": r["metadata"]["task"], "skills": str(r["metadata"]["skills"]), "split": "testmini"}
            for i, r in enumerate(_mathvista_rows())]
    return write_tsv(root / "MathVista_MINI.tsv", header, rows)


# MATH-Vision testmini ------------------------------------------------------------------------------------

def _mathvision_rows():
    def row(pid, answer, options, subject, level, question):
        return {"id": pid, "question": f"<image1>\n{question}", "options": options, "image": f"images/{pid}.jpg",
                "answer": answer, "solution": None, "level": level, "subject": subject}
    return [row("1", "C", ["2", "4", "6", "8", "10"], "arithmetic", 2, "How many dots are hidden?"),
            row("2", "14", [], "counting", 1, "How many?"),
            row("3", "\\frac{3}{4}", [], "arithmetic", 2, "What fraction is shaded?"),
            row("4", "1.5", [], "counting", 1, "What is the mean?")]


def mathvision_parquet(root: Path) -> Path:
    rows = [dict(r, decoded_image=image_cell(COLORS[i], f"{r['id']}.jpg")) for i, r in enumerate(_mathvision_rows())]
    return write_parquet(root / "MathVision" / "data" / "testmini-00000-of-00001.parquet", rows)


def mathvision_release(root: Path) -> Path:
    rows = _mathvision_rows()
    _images(root / "MathVision" / "images", [Path(r["image"]).name for r in rows])  # one folder above data/
    return write_jsonl(root / "MathVision" / "data" / "testmini.jsonl", rows)


def mathvision_tsv(root: Path) -> Path:
    header = ["index", "image", "question", "answer", "choices", "category", "level"]
    rows = [{"index": r["id"], "image": png(COLORS[i]), "question": r["question"], "answer": r["answer"],
             "choices": str(r["options"]), "category": r["subject"], "level": str(r["level"])}
            for i, r in enumerate(_mathvision_rows())]
    return write_tsv(root / "MathVision_MINI.tsv", header, rows)


# MathVerse testmini --------------------------------------------------------------------------------------

MVERSE_WO = {"mc": "Please directly answer the question and provide the correct option letter, e.g., A, B, C, D, at "
                   "the end.\nQuestion: ",
             "free": "Please directly answer the question and provide the final value, e.g., 1, 2.5, 300.\nQuestion: "}
MVERSE_COT = {"mc": "Please first conduct reasoning, and then answer the question and provide the correct option "
                    "letter, e.g., A, B, C, D, at the end.\nQuestion: ",
              "free": "Please first conduct reasoning, and then answer the question and provide the final value, "
                      "e.g., 1, 2.5, 300.\nQuestion: "}
MVERSE_MC = "Circle O has radius 1 and angle BAC = 60. How long is BC?\nChoices:\nA:2\nB:2√{3}\nC:√{3}\nD:2√{2}"


def _mathverse_rows():
    def row(pid, version, question, answer, qtype, subject="Plane Geometry", subfield="Length"):
        kind = "mc" if qtype == "multi-choice" else "free"
        return {"sample_index": pid, "problem_index": pid, "problem_version": version, "question": question,
                "image": image_cell(COLORS[int(pid) % 6]), "answer": answer, "question_type": qtype,
                "metadata": {"split": "testmini", "source": "GeoQA", "subject": subject, "subfield": subfield},
                "query_wo": MVERSE_WO[kind] + question, "query_cot": MVERSE_COT[kind] + question,
                "question_for_eval": question}
    return [row("1", "Text Dominant", MVERSE_MC, "C", "multi-choice"),
            row("2", "Text Lite", "Find d to one decimal place.", "22.3", "free-form"),
            row("3", "Vision Intensive", "Find the equation of f.", "y=-x^2-2x+1", "free-form", "Functions",
                "Quadratic")]


def mathverse_parquet(root: Path) -> Path:
    return write_parquet(root / "MathVerse" / "testmini-00000-of-00001.parquet", _mathverse_rows())


def mathverse_tsv(root: Path) -> Path:
    header = ["index", "image", "question", "answer", "question_for_eval", "query_cot", "metadata"]
    rows = [{"index": r["sample_index"], "image": r["image"]["bytes"], "question": r["query_wo"],
             "answer": r["answer"], "question_for_eval": r["question_for_eval"], "query_cot": r["query_cot"],
             "metadata": str({**r["metadata"], "problem_version": r["problem_version"]})}
            for r in _mathverse_rows()]
    return write_tsv(root / "MathVerse_MINI.tsv", header, rows)


# OlympiadBench OE_MM_maths_en_COMP -----------------------------------------------------------------------

OLY_IMAGES = [f"image_{i}" for i in range(1, 6)]


def _olympiad_rows(image=lambda i: image_cell(COLORS[i])):
    def row(i, final_answer, answer_type="Numerical", unit=None, error=None, subfield="Geometry"):
        r = {"id": i, "question": f"<image_1>\nProblem {i}.", "solution": [f"Solution {i}."],
             "final_answer": final_answer, "context": None, "modality": "Multimodal", "difficulty": "Competition",
             "is_multiple_answer": False, "unit": unit, "answer_type": answer_type, "error": error,
             "question_type": "Open-ended", "subfield": subfield, "subject": "Math", "language": "English"}
        r.update({name: (image(i) if k == 0 else None) for k, name in enumerate(OLY_IMAGES)})
        return r
    return [row(1, ["$\\frac{1}{2}$"]), row(2, ["$12.5$"], unit="m", error="1e-1", subfield="Algebra"),
            row(3, ["$x^2+2x$"], answer_type="Expression", subfield="Algebra")]


def olympiad_parquet(root: Path) -> Path:
    return write_parquet(root / "OlympiadBench" / "OE_MM_maths_en_COMP.parquet", _olympiad_rows())


def olympiad_release(root: Path) -> Path:
    rows = _olympiad_rows(image=lambda i: f"images/{i}.png")
    folder = root / "OlympiadBench"
    _images(folder / "images", [f"{r['id']}.png" for r in rows])
    path = folder / "OE_MM_maths_en_COMP.json"
    path.write_text(json.dumps(rows))
    return path


def olympiad_tsv(root: Path) -> Path:
    header = ["index", "image", "question", "final_answer", "source", "answer_type", "is_multiple_answer", "unit",
              "error"]
    rows = [{"index": r["id"], "image": png(COLORS[i]), "question": r["question"], "final_answer": str(r["final_answer"]),
             "source": "OE_MM_maths_en_COMP", "answer_type": r["answer_type"], "is_multiple_answer": "False",
             "unit": r["unit"], "error": r["error"]} for i, r in enumerate(_olympiad_rows())]
    return write_tsv(root / "OlympiadBench_EN.tsv", header, rows)


# M3CoT (test split) --------------------------------------------------------------------------------------

def _m3cot_rows():
    return [{"id": f"m{i}", "category": "cat", "image_id": f"img{i}", "question": f"What colour is thing {i}?",
             "choices": ["red", "blue", "green"], "context": "The sky at noon." if i % 2 == 0 else "",
             "answer": "ABC"[i % 3], "rationale": "Because.", "split": "test", "image": image_cell(COLORS[i]),
             "domain": ["science", "commonsense"][i % 2], "topic": "physics"} for i in range(4)]


def m3cot_parquet(root: Path) -> Path:
    """The Hub download folder M3CoT/ (a test shard, and a train shard the reader leaves out)."""
    rows = _m3cot_rows()
    write_shards(root / "M3CoT", {"train": [[dict(rows[0], id="t0", split="train")]], "test": [rows]})
    return root / "M3CoT" / "data" / "test-00000-of-00001.parquet"


# ScienceQA (image questions of the test split) -----------------------------------------------------------

def _scienceqa_rows():
    return [{"image": image_cell(COLORS[i]), "question": f"Which continent is highlighted {i}?",
             "choices": ["Africa", "Asia", "Europe"], "answer": i % 3, "hint": "Look at the map." if i % 2 else "",
             "task": "closed choice", "grade": ["grade3", "grade9"][i % 2],
             "subject": ["natural science", "social science"][i % 2], "topic": "geography", "category": "Geography",
             "skill": "Identify continents", "lecture": "Continents...", "solution": "Asia."} for i in range(4)]


def scienceqa_parquet(root: Path) -> Path:
    return write_parquet(root / "ScienceQA" / "data" / "test-00000-of-00001.parquet", _scienceqa_rows())


def scienceqa_tsv(root: Path) -> Path:
    header = ["index", "image", "question", "hint", "A", "B", "C", "answer", "category", "l2-category", "split"]
    rows = [{"index": 100 + i, "image": r["image"]["bytes"], "question": r["question"], "hint": r["hint"] or None,
             "A": "Africa", "B": "Asia", "C": "Europe", "answer": "ABC"[r["answer"]], "category": "geography",
             "l2-category": "social science", "split": "test"} for i, r in enumerate(_scienceqa_rows())]
    return write_tsv(root / "ScienceQA_TEST.tsv", header, rows)


# POPE ----------------------------------------------------------------------------------------------------

POPE_ROWS = [("random", "yes"), ("random", "no"), ("popular", "yes"), ("popular", "no"), ("adversarial", "yes"),
             ("adversarial", "no")]


def pope_parquet(root: Path) -> Path:
    rows = [{"id": str(i), "question_id": str(i + 1), "question": f"Is there a thing {i} in the image?",
             "answer": gold, "image_source": f"COCO_val2014_{i}", "image": image_cell(COLORS[i]), "category": cat}
            for i, (cat, gold) in enumerate(POPE_ROWS)]
    return write_parquet(root / "POPE" / "data" / "test-00000-of-00001.parquet", rows)


def pope_tsv(root: Path) -> Path:
    rows = [{"index": 10 + i, "image": png(COLORS[i]), "question": f"Is there a thing {i} in the image?",
             "answer": gold.capitalize(), "category": cat} for i, (cat, gold) in enumerate(POPE_ROWS)]
    return write_tsv(root / "POPE.tsv", ["index", "image", "question", "answer", "category"], rows)


def pope_release(root: Path) -> Path:
    """The authors' question file of one subset (the subset is in its name), images beside it."""
    folder = root / "pope"
    _images(folder, [f"COCO_val2014_{i}.jpg" for i in range(4)])
    rows = [{"question_id": i + 1, "image": f"COCO_val2014_{i}.jpg", "text": f"Is there a thing {i} in the image?",
             "label": ["yes", "no"][i % 2]} for i in range(4)]
    return write_jsonl(folder / "coco_pope_adversarial.jsonl", rows)


# CRPE relation -------------------------------------------------------------------------------------------

CRPE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
CRPE_QUESTIONS = [(1, "What is riding the horse?", ["man", "dog"], "man", "subject"),
                  (3, "What is on the table?", ["cup", "cat"], "cup", "object")]


def crpe_release(root: Path) -> Path:
    """The authors' lines, one per rotation of the options; images in a folder above the file."""
    folder = root / "crpe"
    _images(folder / "abnormal_images", ["1.jpg", "3.jpg"])
    rows = []
    for qid, stem, options, gold, category in CRPE_QUESTIONS:
        for k in range(len(options)):
            o = options[k:] + options[:k]
            text = stem + "\n" + "\n".join(f"{chr(65 + j)}. {x}" for j, x in enumerate(o)) + "\n" + CRPE_INSTRUCTION
            rows.append({"question_id": qid + k, "image": f"abnormal_images/{qid}.jpg", "text": text,
                         "correct_option": chr(65 + o.index(gold)), "category": category})
    return write_jsonl(folder / "eval" / "crpe_relation.jsonl", rows)


def crpe_tsv(root: Path) -> Path:
    rows = []
    for n, (qid, stem, options, gold, category) in enumerate(CRPE_QUESTIONS):
        for k in range(len(options)):
            o = options[k:] + options[:k]
            rows.append({"index": qid + k, "image": png(COLORS[n]), "question": stem, "A": o[0], "B": o[1],
                         "answer": chr(65 + o.index(gold)), "category": category})
    return write_tsv(root / "CRPE_RELATION.tsv", ["index", "image", "question", "A", "B", "answer", "category"], rows)


SHIPPED: dict[tuple[str, str], Callable[[Path], Path]] = {
    ("mathvista", "parquet"): mathvista_parquet, ("mathvista", "tsv"): mathvista_tsv,
    ("mathvista", "release"): mathvista_release,
    ("mathvision", "parquet"): mathvision_parquet, ("mathvision", "tsv"): mathvision_tsv,
    ("mathvision", "release"): mathvision_release,
    ("mathverse", "parquet"): mathverse_parquet, ("mathverse", "tsv"): mathverse_tsv,
    ("olympiadbench", "parquet"): olympiad_parquet, ("olympiadbench", "tsv"): olympiad_tsv,
    ("olympiadbench", "release"): olympiad_release,
    ("m3cot", "parquet"): m3cot_parquet,
    ("scienceqa", "parquet"): scienceqa_parquet, ("scienceqa", "tsv"): scienceqa_tsv,
    ("pope", "parquet"): pope_parquet, ("pope", "tsv"): pope_tsv, ("pope", "release"): pope_release,
    ("crpe", "release"): crpe_release, ("crpe", "tsv"): crpe_tsv,
}
