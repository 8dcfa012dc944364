"""POPE: the official evaluate.py yes/no rule on labelled responses, the shapes it ships in (Hub
parquet and shard folder, VLMEvalKit TSV, question JSONL, also named .json), and its metrics on fake
answers."""

from __future__ import annotations

import pytest

from _qa_shapes import image_cell, png, write_jsonl, write_parquet, write_shards, write_tsv
from mmpo.benchmarks import get_benchmark
from mmpo.benchmarks.pope import pope_answer
from mmpo.errors import InputError

POPE = get_benchmark("pope")


def _rec(gold="yes", subsets=("random",)):
    return {"pid": "1", "question": "Is there a dog in the image?", "answer": gold,
            "metadata": {"subsets": list(subsets)}}


# (response, mode, gold, verdict, pred): POPE's rule reads the first sentence (up to the first '.'),
# commas removed, split on spaces: "no" when a word is exactly No/no/not, else "yes".
CASES = [
    ("Yes", "direct", "yes", "correct", "yes"),
    ("No", "direct", "no", "correct", "no"),
    ("no", "direct", "yes", "incorrect", "no"),
    ("Yes, there is a dog in the image.", "direct", "yes", "correct", "yes"),
    ("No, there is no dog.", "direct", "no", "correct", "no"),
    ("There is not a dog in the image.", "direct", "no", "correct", "no"),
    ("There is a dog. It is not a cat.", "direct", "yes", "correct", "yes"),  # only the first sentence
    ("no, definitely", "direct", "no", "correct", "no"),  # the comma goes before the split
    ("NO", "direct", "no", "incorrect", "yes"),  # the official words are case-sensitive
    ("Not at all", "direct", "no", "incorrect", "yes"),
    ("No!", "direct", "no", "incorrect", "yes"),  # 'No!' is not the word 'No'
    ("I don't think so", "direct", "no", "incorrect", "yes"),
    ("nope", "direct", "no", "incorrect", "yes"),
    ("cannot tell", "direct", "yes", "correct", "yes"),  # no negative word: yes
    ("1", "direct", "yes", "correct", "yes"),
    ("Yes.\nNo.", "direct", "yes", "correct", "yes"),
    ("", "direct", "yes", "format_failure", None),
    (None, "direct", "no", "format_failure", None),
    ("   ", "direct", "no", "format_failure", None),
    ("...", "direct", "yes", "format_failure", None),  # an empty first sentence
    ("The image shows a dog.\nFinal answer: No", "cot", "no", "correct", "no"),
    ("There is no cat here, so I see only a dog.\nFinal answer: Yes", "cot", "yes", "correct", "yes"),
    ("There is no cat in the image.", "cot", "no", "format_failure", None),  # cot needs a final answer
    ("Looking closely.\nFinal answer: No, there is not.", "cot", "yes", "incorrect", "no"),
    ("Final answer: **Yes**", "cot", "yes", "correct", "yes"),
    ("Counting objects... \\boxed{no}", "cot", "no", "correct", "no"),
    ("So the answer is no.", "cot", "yes", "incorrect", "no"),
]


@pytest.mark.parametrize("response,mode,gold,verdict,pred", CASES)
def test_official_yes_no_rule(response, mode, gold, verdict, pred):
    out = POPE.check(response, _rec(gold), mode)
    assert (out["verdict"], out["pred"]) == (verdict, pred)
    assert out["score"] == (1.0 if verdict == "correct" else 0.0)
    assert out["gold"] == gold and out["subsets"] == ["random"]


def test_first_sentence_is_what_was_read():
    assert pope_answer("No, there is no dog. But a cat.") == ("No, there is no dog", "no")
    assert pope_answer(None) == (None, None)


def _hub_rows():
    rows = []
    for i, (cat, gold) in enumerate([("random", "yes"), ("random", "no"), ("popular", "yes"),
                                     ("adversarial", "no")]):
        rows.append({"id": str(i), "question_id": str(i + 1), "question": f"Is there a thing {i} in the image?",
                     "answer": gold, "image_source": f"COCO_val2014_{i}", "image": image_cell(),
                     "category": cat})
    return rows


def test_hub_parquet_and_shard_folder(tmp_path):
    rows = _hub_rows()
    recs = POPE.read(write_parquet(tmp_path / "test.parquet", rows))
    assert [r["pid"] for r in recs] == ["0", "1", "2", "3"]
    r = recs[1]
    assert r["answer"] == "no" and r["question_type"] == "free_form" and r["image_ref"]["bytes"][:4] == b"\x89PNG"
    assert r["metadata"]["subsets"] == ["random"] and r["metadata"]["image_source"] == "COCO_val2014_1"
    assert r["_where"] == {"record": 1} and r["image_path"] is None
    assert POPE.last_read["subsets"] == {"random": 2, "popular": 1, "adversarial": 1}
    # the Hub download folder: shards read in order, as one file
    folder = write_shards(tmp_path / "POPE", {"test": [rows[:2], rows[2:]]})
    assert [r["pid"] for r in POPE.read(folder)] == ["0", "1", "2", "3"]
    dup = write_shards(tmp_path / "dup", {"test": [rows[:2], rows[:1]]})
    with pytest.raises(InputError, match="duplicate pid '0'"):
        POPE.read(dup)


def test_vlmevalkit_tsv_with_shared_subsets(tmp_path):
    rows = [{"index": 10, "image": png(), "question": "Is there a dog in the image?", "answer": "Yes",
             "category": "random,popular"},
            {"index": 11, "image": png((0, 0, 255)), "question": "Is there a cat in the image?", "answer": "No",
             "category": "adversarial"}]
    recs = POPE.read(write_tsv(tmp_path / "POPE.tsv", ["index", "image", "question", "answer", "category"], rows))
    assert [r["pid"] for r in recs] == ["10", "11"] and [r["answer"] for r in recs] == ["yes", "no"]
    assert recs[0]["metadata"]["subsets"] == ["random", "popular"] and recs[0]["_where"] == {"line": 2}
    assert POPE.last_read["subsets"] == {"random": 1, "popular": 1, "adversarial": 1}


def test_question_jsonl_takes_the_subset_from_the_file_name(tmp_path):
    (tmp_path / "COCO_val2014_1.jpg").write_bytes(png())
    path = write_jsonl(tmp_path / "coco_pope_adversarial.jsonl",
                       [{"question_id": 1, "image": "COCO_val2014_1.jpg", "text": "Is there a car?", "label": "no"}])
    (rec,) = POPE.read(path)
    assert rec["pid"] == "adversarial-1" and rec["metadata"]["subsets"] == ["adversarial"]
    assert rec["image_path"] == str((tmp_path / "COCO_val2014_1.jpg").resolve())


def test_the_authors_question_files_are_json_lines_named_json(tmp_path):
    # POPE's output/coco/coco_pope_random.json: one JSON object a line, though named .json.
    (tmp_path / "COCO_val2014_1.jpg").write_bytes(png())
    rows = [{"question_id": 1, "image": "COCO_val2014_1.jpg", "text": "Is there a car?", "label": "no"},
            {"question_id": 2, "image": "COCO_val2014_1.jpg", "text": "Is there a dog?", "label": "yes"}]
    path = write_jsonl(tmp_path / "coco_pope_random.json", rows)
    recs = POPE.read(path)
    assert [r["pid"] for r in recs] == ["random-1", "random-2"] and [r["answer"] for r in recs] == ["no", "yes"]
    assert recs[1]["_where"] == {"line": 2} and recs[0]["metadata"]["subsets"] == ["random"]
    assert recs[0]["image_path"] == str((tmp_path / "COCO_val2014_1.jpg").resolve())
    bad = write_jsonl(tmp_path / "coco_pope_popular.json", [{**rows[0], "label": "maybe"}, rows[1]])
    with pytest.raises(InputError, match=r"coco_pope_popular.json:1, field 'label'"):
        POPE.read(bad)


def test_gold_must_be_yes_or_no(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "Is there a dog?", "answer": "yes", "category": "random"},
                                              {"question": "Is there a cat?", "answer": "maybe", "category": "random"}])
    with pytest.raises(InputError, match=r"q.jsonl:2, field 'answer': POPE's answer must be yes or no"):
        POPE.read(path)
    bad = [{**r, "answer": "2"} if i == 2 else r for i, r in enumerate(_hub_rows())]
    with pytest.raises(InputError, match=r"bad.parquet, record 2, field 'answer'"):
        POPE.read(write_parquet(tmp_path / "bad.parquet", bad))
    with pytest.raises(InputError, match="field 'question'"):
        POPE.read(write_jsonl(tmp_path / "noq.jsonl", [{"answer": "yes"}]))


def test_prompts():
    rec = _rec()
    assert POPE.prompt(rec, "direct") == ("Is there a dog in the image?\n"
                                          "Answer the question using a single word or phrase.")
    cot = POPE.prompt(rec, "cot")
    assert cot.endswith("Question:\n\nIs there a dog in the image?") and '"Final answer: .."' in cot


def test_end_to_end_metrics_per_subset_and_average(tmp_path):
    golds = {"random": ["yes", "yes", "no", "no"], "popular": ["yes", "yes", "no", "no"],
             "adversarial": ["yes", "no", "no", "no"]}
    answers = {"random": ["Yes", "No", "No", "Yes"], "popular": ["Yes", "Yes", "No", "No"],
               "adversarial": ["Yes", "Yes", "", "No"]}
    rows, responses = [], {}
    for cat, gs in golds.items():
        for j, g in enumerate(gs):
            pid = f"{cat}{j}"
            rows.append({"id": pid, "question_id": str(j), "question": "Is there a dog?", "answer": g,
                         "image": image_cell(), "category": cat, "image_source": "x"})
            responses[pid] = answers[cat][j]
    recs = POPE.read(write_parquet(tmp_path / "pope.parquet", rows))
    preds = [{"pid": r["pid"], "mode": "direct", "response": responses[r["pid"]],
              **POPE.check(responses[r["pid"]], r, "direct")} for r in recs]
    s = POPE.summarize(preds)
    by = s["by"]["subset"]
    assert list(by) == ["random", "popular", "adversarial"]
    assert by["random"] == pytest.approx({"n": 4, "accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5,
                                          "yes_ratio": 0.5, "format_failures": 0, "tp": 1, "fp": 1, "tn": 1, "fn": 1})
    assert by["popular"]["f1"] == 1.0 and by["popular"]["accuracy"] == 1.0
    adv = by["adversarial"]
    assert (adv["tp"], adv["fp"], adv["tn"], adv["fn"], adv["format_failures"]) == (1, 1, 1, 0, 1)
    assert adv["accuracy"] == 0.5 and adv["precision"] == 0.5 and adv["recall"] == 1.0
    assert adv["f1"] == pytest.approx(2 / 3) and adv["yes_ratio"] == 0.5
    assert s["primary"] == pytest.approx((0.5 + 1 + 2 / 3) / 3) == s["metrics"]["f1"]
    assert s["metrics"]["f1_pooled"] == pytest.approx(16 / 22) and s["metrics"]["accuracy_pooled"] == pytest.approx(8 / 12)
    assert s["metrics"]["format_failures"] == 1 and s["n"] == 12 and s["metrics"]["subsets_averaged"] == 3


def test_a_question_in_two_subsets_counts_in_each():
    preds = [{"pid": "1", "verdict": "correct", "score": 1.0, "pred": "yes", "gold": "yes", "subsets": ["random", "popular"]},
             {"pid": "2", "verdict": "incorrect", "score": 0.0, "pred": "yes", "gold": "no", "subsets": ["popular"]}]
    s = POPE.summarize(preds)
    assert s["by"]["subset"]["random"]["f1"] == 1.0 and s["by"]["subset"]["popular"]["precision"] == 0.5
    assert s["n"] == 2 and s["primary"] == pytest.approx((1.0 + 2 / 3) / 2)
    # nothing said yes and no yes gold: precision and recall 0, never a division error
    none = POPE.summarize([{"pid": "3", "verdict": "correct", "score": 1.0, "pred": "no", "gold": "no", "subsets": []}])
    assert none["by"]["subset"]["unspecified"]["f1"] == 0.0 and none["by"]["subset"]["unspecified"]["accuracy"] == 1.0


def test_summary_of_nothing_is_zero():
    s = POPE.summarize([])
    assert s["primary"] == 0.0 and s["n"] == 0 and s["by"] == {"subset": {}}
