"""Data sets as they ship: records and pairs with the field names and nesting of the public releases
(MathVista's JSON and Hub parquet, M3CoT, ScienceQA, MathVerse, MMPR, TRL's vision formats), in every
container the readers take (JSONL, JSON, parquet, `datasets` folders). Images are made here."""

from __future__ import annotations

import io
import json
import os

import pytest

from mmpo.answers import check_answer
from mmpo.data.pairs import load_pairs
from mmpo.data.prompts import build_prompt
from mmpo.data.records import read_records
from mmpo.errors import InputError


def _png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buf, format="PNG")
    return buf.getvalue()


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# ---- MathVista ------------------------------------------------------------------------------------

MATHVISTA_QUERY = ("Hint: Please answer the question requiring a floating-point number with one decimal place and "
                   "provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: How long is the bar? (Unit: cm)")


def _mathvista_row(pid="1", **kw):
    row = {"question": "How long is the bar?", "image": "images/1.jpg", "choices": None, "unit": "cm",
           "precision": 1.0, "answer": "1.5", "question_type": "free_form", "answer_type": "float",
           "pid": pid, "metadata": {"category": "math-targeted-vqa", "skills": ["arithmetic reasoning"],
                                    "source": "FunctionQA", "split": "testmini"},
           "query": MATHVISTA_QUERY}
    row.update(kw)
    return row


def test_mathvista_hub_parquet_uses_decoded_image_query_and_unit(tmp_path):
    path = _parquet(tmp_path / "testmini.parquet",
                    [_mathvista_row(decoded_image={"bytes": _png(), "path": "1.jpg"})])
    (rec,) = read_records(path, require_answer=True)
    # images/1.jpg is not shipped in the parquet: the embedded copy is used.
    assert rec["image_path"] is None and rec["image_ref"]["bytes"][:4] == b"\x89PNG"
    assert rec["_where"] == {"record": 0} and rec["metadata"]["source"] == "FunctionQA"
    cot = build_prompt(rec, "cot")
    assert "floating-point number with one decimal place" in cot and cot.endswith("(Unit: cm)")
    mmpo = build_prompt(rec, "direct", "mmpo")
    assert mmpo.startswith("How long is the bar? (Unit: cm)\n") and "Hint" not in mmpo
    with pytest.raises(ValueError, match="has no query"):
        build_prompt({**rec, "query": None}, "cot", "query")


def test_mathvista_json_dict_and_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.jpg").write_bytes(_png())
    (tmp_path / "testmini.json").write_text(json.dumps({"1": {k: v for k, v in _mathvista_row().items() if k != "pid"}}))
    (rec,) = read_records(tmp_path / "testmini.json")
    assert rec["pid"] == "1" and rec["image_path"] == str((tmp_path / "images" / "1.jpg").resolve())


def test_json_lines_in_a_file_named_json(tmp_path):
    from mmpo.data.sources import iter_rows

    rows = [_mathvista_row(str(i), image=None) for i in (1, 2, 3)]
    path = tmp_path / "questions.json"  # one object a line, as POPE ships coco_pope_*.json
    path.write_text("\ufeff" + json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\r\n" + json.dumps(rows[2]) + "\n")
    assert [(w["line"], r["pid"]) for w, r in iter_rows(path)] == [(1, "1"), (3, "2"), (4, "3")]
    assert [r["_where"] for r in read_records(path)] == [{"line": 1}, {"line": 3}, {"line": 4}]
    # Lines numbered as in a .jsonl: a bad record names its line.
    bad = [rows[0], {**rows[1], "question_type": "yes"}]
    (tmp_path / "bad.json").write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(InputError, match=r"bad.json:2, field 'question_type'"):
        read_records(tmp_path / "bad.json")


@pytest.mark.parametrize("text, line, why", [
    ('{"pid": "1"}\n{"pid": "2"}\n[1, 2]\n{"pid": "4"}\n', 3, "line 3: expected a JSON object, got list"),
    ('{"pid": "1"}\n\n{"pid": "2"\n', 3, "line 3: malformed JSON"),
    ('{"pid": "1"}\n7\n', 2, "line 2: expected a JSON object, got int"),
    ('{"pid": "1"', 1, "line 1: malformed JSON"),
    # A pretty-printed document broken further down: its own error line, not line 1.
    ('[\n  {"pid": "1"},\n  {"pid": "2"}\n  {"pid": "3"}\n]\n', 4, "line 1: malformed JSON"),
])
def test_a_json_file_that_is_neither_names_the_file_and_line(tmp_path, text, line, why):
    from mmpo.data.sources import iter_rows

    path = tmp_path / "q.json"
    path.write_text(text)
    with pytest.raises(InputError, match="neither one JSON document") as exc:
        list(iter_rows(path))
    assert exc.value.path == str(path) and exc.value.line == line and why in str(exc.value)
    assert str(exc.value).startswith(f"{path}:{line}: ")


def test_errors_in_json_lists_and_parquet_name_the_record(tmp_path):
    rows = [_mathvista_row("1", image=None), _mathvista_row("2", image=None, question_type="yes")]
    (tmp_path / "list.json").write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"list.json, record 1, field 'question_type'"):
        read_records(tmp_path / "list.json")
    _parquet(tmp_path / "rows.parquet", rows)
    with pytest.raises(InputError, match=r"rows.parquet, record 1, field 'question_type'"):
        read_records(tmp_path / "rows.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="junk.parquet: not a readable parquet file"):
        read_records(tmp_path / "junk.parquet")


def test_datasets_folder_with_image_feature(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"pid": ["a", "b"], "question": ["q1", "q2"], "answer": ["1", "2"],
                                     "image": [{"bytes": _png(), "path": None}, {"bytes": _png((0, 0, 255)), "path": None}]},
                                    features=datasets.Features({"pid": datasets.Value("string"),
                                                                "question": datasets.Value("string"),
                                                                "answer": datasets.Value("string"),
                                                                "image": datasets.Image()}))
    ds.save_to_disk(str(tmp_path / "one"))
    recs = read_records(tmp_path / "one", require_answer=True)
    assert [r["pid"] for r in recs] == ["a", "b"] and all(r["image_ref"]["bytes"] for r in recs)
    datasets.DatasetDict({"test": ds, "train": ds}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(InputError, match="a DatasetDict with splits"):
        read_records(tmp_path / "dict")
    assert len(read_records(tmp_path / "dict" / "test")) == 2


# ---- multiple choice as ScienceQA, M3CoT and MathVerse store it ----------------------------------

def test_scienceqa_index_answers_map_to_their_choice(tmp_path):
    rows = [{"question": "Which is a mammal?", "choices": ["shark", "whale", "trout"], "answer": 1,
             "hint": "Mammals breathe air.", "image": None, "subject": "natural science"}]
    (rec,) = read_records(_jsonl(tmp_path / "sqa.jsonl", rows), require_answer=True)
    assert rec["pid"] == "1" and rec["answer"] == "whale" and rec["answer_index"] == 1
    assert rec["question"].startswith("Context: Mammals breathe air.\n") and rec["image_ref"] is None
    assert check_answer("The whale breathes air. Final answer: B", rec).verdict == "correct"
    assert check_answer("Final answer: A", rec).verdict == "incorrect"


@pytest.mark.parametrize("choices,answer,message", [
    (["2", "3", "4"], 3, None),                         # an index past the end that is a choice's text: the text
    (["1", "2", "3"], 1, "both a choice's text and the index"),
    (["x", "y"], 5, "out of range"),
    (["x", "y"], "z", "none of the choices"),
    (["x", "y"], True, "boolean"),
])
def test_index_answers_are_mapped_or_refused(tmp_path, choices, answer, message):
    rows = [{"pid": "q", "question": "Pick", "choices": choices, "answer": answer}]
    path = _jsonl(tmp_path / "mc.jsonl", rows)
    if message is None:
        assert read_records(path)[0]["answer"] == "3"
    else:
        with pytest.raises(InputError, match=rf"mc.jsonl:1, field 'answer': .*{message}"):
            read_records(path)


def test_m3cot_native_rows(tmp_path):
    rows = [{"id": "physical-commonsense-1", "category": "physical-commonsense", "image_id": "x",
             "question": "Which tool fits?", "choices": ["hammer", "saw"], "context": "A nail is loose.",
             "answer": "A", "rationale": "Nails are driven with hammers.", "split": "train",
             "image": {"bytes": _png(), "path": None}, "domain": "commonsense", "topic": "tools"}]
    (rec,) = read_records(_parquet(tmp_path / "m3cot.parquet", rows), require_answer=True)
    assert rec["pid"] == "physical-commonsense-1" and rec["answer"] == "hammer"
    assert rec["question"] == "Context: A nail is loose.\nWhich tool fits?" and rec["solution"].startswith("Nails")
    assert rec["metadata"]["domain"] == "commonsense" and rec["image_ref"]["bytes"]
    assert check_answer("Final answer: A", rec).verdict == "correct"


def test_mathverse_multi_choice_in_the_question_and_vision_only(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(_png())
    rows = [
        {"sample_index": "1", "problem_index": "1", "problem_version": "Text Dominant",
         "question": "Find the angle.\nChoices:\nA:30°\nB:45°\nC:60°\nD:90°", "image": "images/a.png", "answer": "B",
         "question_type": "multi-choice", "metadata": {"split": "testmini", "subject": "Plane Geometry"},
         "query_wo": "...", "query_cot": "...", "question_for_eval": "..."},
        {"sample_index": "2", "problem_index": "1", "problem_version": "Vision Only", "question": "",
         "image": "images/a.png", "answer": "C", "question_type": "multi-choice", "metadata": {}},
        {"sample_index": "3", "problem_index": "2", "problem_version": "Vision Only", "question": "",
         "image": "images/a.png", "answer": "12", "question_type": "free-form", "metadata": {}},
    ]
    text, vision, free = read_records(_jsonl(tmp_path / "mathverse.json.jsonl", rows), require_answer=True)
    assert text["choices"] == ["30°", "45°", "60°", "90°"] and text["answer"] == "45°"
    assert text["question"] == "Find the angle." and text["question_type"] == "multi_choice"
    assert vision["choices"] == ["A", "B", "C", "D"] and vision["answer"] == "C"
    assert vision["metadata"]["choices_in_image"] is True and vision["question"]
    assert free["question_type"] == "free_form" and free["answer_type"] == "integer"
    assert check_answer("Final answer: (B)", text).verdict == "correct"
    assert check_answer("Final answer: C", vision).verdict == "correct"


# ---- pairs: MMPR, the authors' reader, TRL -------------------------------------------------------

def _authors_reader(meta_path):
    """What the authors' MPO loader does with a meta.json, written from its documented rules: open the
    annotation as named (from the working directory), keep int(n * r) first lines below 1 or int(r)
    copies above, join `image` onto `root` when the line has one."""
    out = []
    with open(meta_path) as fh:
        meta = json.load(fh)
    for name, spec in meta.items():
        with open(spec["annotation"]) as fh:
            lines = fh.readlines()
        r = spec["repeat_time"]
        lines = lines[: int(len(lines) * r)] if r < 1 else lines * int(r)
        for line in lines:
            item = json.loads(line)
            image = os.path.join(spec["root"], item["image"]) if "image" in item else None
            out.append((name, image, item["question"], item["chosen"], item["rejected"]))
    return out


def _samples_line(pid, image, responses):
    return {"pid": pid, "prompt": f"Q{pid}?", "image": image, "question": f"Q{pid}?", "answer": "2",
            "source": "mix", "responses": responses, "settings": {"n": 2}}


def test_mmpo_pairs_output_loads_in_the_authors_reader(tmp_path, monkeypatch):
    from mmpo.pairs.build import build_pairs
    from mmpo.pairs.options import PairOptions

    (tmp_path / "img.png").write_bytes(_png())
    good = {"text": "x Final answer: 2", "extracted": "2", "verdict": "correct"}
    bad = {"text": "y Final answer: 3", "extracted": "3", "verdict": "incorrect"}
    _jsonl(tmp_path / "s.jsonl", [_samples_line("1", str(tmp_path / "img.png"), [good, bad]),
                                  _samples_line("2", None, [good, bad])])  # a text-only prompt
    build_pairs(PairOptions(samples=[tmp_path / "s.jsonl"], out=tmp_path / "pairs"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the authors' reader opens paths from the working directory
    theirs = _authors_reader(tmp_path / "pairs" / "meta.json")
    assert [(img is not None) for _, img, *_ in theirs] == [True, False]
    assert os.path.isfile(theirs[0][1])
    ours = load_pairs(tmp_path / "pairs" / "meta.json").pairs
    assert [(p.chosen, p.rejected) for p in ours] == [(t[3], t[4]) for t in theirs]
    assert [len(p.images) for p in ours] == [1, 0]
    # The folder moves: mmpo still finds each annotation next to meta.json.
    os.rename(tmp_path / "pairs", tmp_path / "moved")
    assert len(load_pairs(tmp_path / "moved").pairs) == 2


@pytest.mark.parametrize("repeat,expected", [(0.5, 1), (1, 3), (1.5, 3), (2, 6), (2.5, 6), (0, 0)])
def test_repeat_time_follows_the_authors_loader(tmp_path, repeat, expected):
    rows = [{"question": f"q{i}", "chosen": f"c{i}", "rejected": f"r{i}"} for i in range(3)]
    _jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "meta.json").write_text(json.dumps({"s": {"root": "", "annotation": "a.jsonl", "repeat_time": repeat}}))
    got = load_pairs(tmp_path / "meta.json")
    assert len(got.pairs) == expected
    assert len(_authors_reader_from(tmp_path)) == expected
    assert [p.chosen for p in got.pairs[:1]] == (["c0"] if expected else [])
    assert bool(got.stats.get("repeat_time_fraction_ignored:s")) == (repeat > 1 and repeat != int(repeat))


def _authors_reader_from(folder):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return _authors_reader(folder / "meta.json")
    finally:
        os.chdir(cwd)


def test_released_meta_with_cluster_paths_remaps_and_says_what_it_tried(tmp_path):
    local = tmp_path / "MMPR"
    (local / "images" / "geo").mkdir(parents=True)
    (local / "images" / "geo" / "1.png").write_bytes(_png())
    (local / "annotations").mkdir()
    _jsonl(local / "annotations" / "geo.jsonl", [{"image": "geo/1.png", "question": "<image>\nAngle?",
                                                   "chosen": "30", "rejected": "40"},
                                                  {"image": "", "question": "Text only?", "chosen": "a", "rejected": "b"}])
    meta = {"geo_pairs_vqa_correctness_rules": {"root": "/mnt/petrelfs/share/MMPR/images",
                                                "annotation": "/mnt/petrelfs/share/MMPR/annotations/geo.jsonl",
                                                "data_augment": False, "repeat_time": 1, "length": 2}}
    (local / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError) as err:
        load_pairs(local / "meta.json")
    assert "annotation file not found; tried " in str(err.value)
    assert "/mnt/petrelfs/share/MMPR/annotations/geo.jsonl" in str(err.value)
    os.makedirs(tmp_path / "x", exist_ok=True)
    pairs = load_pairs(local / "meta.json", path_map=[f"/mnt/petrelfs/share/MMPR={local}"]).pairs
    assert pairs[0].images == (str(local / "images" / "geo" / "1.png"),) and pairs[1].images == ()
    with pytest.raises(InputError, match="expected OLD=NEW"):
        load_pairs(local / "meta.json", path_map=["nonsense"])


def test_trl_vision_parquet_with_mixed_image_counts(tmp_path):
    rows = [
        {"images": [], "prompt": [{"role": "user", "content": [{"type": "text", "text": "Say hi"}]}],
         "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "Hi"}]}],
         "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "No"}]}]},
        {"images": [{"bytes": _png(), "path": None}],
         "prompt": [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "Color?"}]}],
         "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "Red"}]}],
         "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "Blue"}]}]},
        {"images": [{"bytes": _png(), "path": None}, {"bytes": _png((0, 255, 0)), "path": None}],
         "prompt": [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "image", "text": None},
                                                 {"type": "text", "text": "Same?"}]}],
         "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "No"}]}],
         "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "Yes"}]}]},
    ]
    pairs = load_pairs(_parquet(tmp_path / "train.parquet", rows)).pairs
    assert [len(p.images) for p in pairs] == [0, 1, 2] and [p.record for p in pairs] == [0, 1, 2]
    assert pairs[2].chosen == "No" and pairs[1].images[0]["bytes"][:4] == b"\x89PNG"
