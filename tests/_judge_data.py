"""Small files in the shapes MM-Vet, LLaVA-Bench and MMHal-Bench ship in, for the judge tests."""

from __future__ import annotations

import json
from pathlib import Path

from _shapes import png as _png
from _shapes import write_jsonl, write_parquet, write_tsv


def png_bytes(shade: int = 100, size: int = 16) -> bytes:
    """A square whose color follows `shade` (so images differ between questions)."""
    return _png((shade, 40, 200 - shade), size)


MMVET_CAPS = [["rec"], ["ocr", "math"], ["rec", "know", "gen"], ["spat", "ocr"]]


def mmvet_official(folder: Path, n: int = 4) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    data = {}
    for i in range(n):
        (folder / "images" / f"v1_{i}.png").write_bytes(png_bytes(10 * i))
        data[f"v1_{i}"] = {"imagename": f"v1_{i}.png", "capability": MMVET_CAPS[i % len(MMVET_CAPS)],
                           "question": f"What is shown in picture {i}?", "answer": f"a square <OR> box {i}"}
    path = folder / "mm-vet.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def mmvet_tsv(folder: Path, n: int = 4) -> Path:
    img = png_bytes()
    rows = [[i, img if i == 0 else "0", f"Question {i}?", f"answer {i}", ",".join(MMVET_CAPS[i % 4])] for i in range(n)]
    return write_tsv(folder / "MMVet.tsv", ["index", "image", "question", "answer", "category"], rows)


LLAVA_CATS = ["conv", "detail", "complex"]


def llava_official(folder: Path, n: int = 6) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    questions, answers, contexts = [], [], []
    for j in range(2):
        (folder / "images" / f"00{j}.jpg").write_bytes(png_bytes(50 * j))
        contexts.append({"id": f"ctx{j}", "image": f"00{j}.jpg", "caption": f"A photo number {j} of a red square."})
    for i in range(n):
        questions.append({"question_id": i, "image": f"00{i % 2}.jpg", "text": f"Describe detail {i}.",
                          "category": LLAVA_CATS[i % 3]})
        answers.append({"question_id": i, "text": f"Reference answer {i}.", "model_id": "gpt-4-0314"})
    write_jsonl(folder / "questions.jsonl", questions)
    write_jsonl(folder / "answers_gpt4.jsonl", answers)
    write_jsonl(folder / "context.jsonl", contexts)
    return folder


def llava_parquet(path: Path, n: int = 6) -> Path:
    rows = [{"question_id": i, "question": f"Q{i}?", "image": {"bytes": png_bytes(i), "path": f"{i}.png"},
             "caption": f"caption {i}", "gpt_answer": f"ref {i}", "category": LLAVA_CATS[i % 3], "image_id": f"im{i}"}
            for i in range(n)]
    return write_parquet(path, rows)


def llava_tsv(folder: Path, n: int = 6) -> Path:
    img = png_bytes()
    rows = [[i, img, f"Q{i}?", f"ref {i}", LLAVA_CATS[i % 3], f"caption {i}"] for i in range(n)]
    return write_tsv(folder / "LLaVABench.tsv", ["index", "image", "question", "gpt4_ans", "category", "caption"], rows)


MMHAL_TYPES = ["attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic", "other"]


def mmhal_template(folder: Path, n: int = 8) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = f"{1000 + i % 4:x}abc.jpg"
        (folder / "images" / name).write_bytes(png_bytes(20 * (i % 4)))
        rows.append({"question_type": MMHAL_TYPES[i % 8], "question_topic": "animal", "image_id": f"{1000 + i % 4:x}abc",
                     "image_src": f"https://farm.example.org/1/{name}", "image_content": ["Cat", "Sofa"],
                     "question": f"What color is thing {i}?", "gt_answer": f"It is red {i}.", "model_answer": ""})
    path = folder / "response_template.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def mmhal_parquet(path: Path, n: int = 8) -> Path:
    rows = [{"question_type": MMHAL_TYPES[i % 8], "question_topic": "animal", "image_id": f"id{i}",
             "image_src": f"https://x/{i}.jpg", "image_content": ["Cat"], "question": f"Q{i}?", "gt_answer": f"A{i}",
             "image": {"bytes": png_bytes(i), "path": None}} for i in range(n)]
    return write_parquet(path, rows)
