"""`mmpo report` pairs questions only within one data set: evals of different data are refused, or,
asked, compared on the questions both have."""

from __future__ import annotations

import json

import pytest

from mmpo.errors import MMPOError
from mmpo.eval.report import write_comparison
from mmpo.eval.run import data_fingerprint, record_hash


def _eval(folder, records, correct, data):
    folder.mkdir(parents=True)
    preds = []
    for rec, ok in zip(records, correct):
        for mode in ("direct", "cot"):
            preds.append({"pid": rec["pid"], "mode": mode, "verdict": "correct" if ok else "incorrect",
                          "qhash": record_hash(rec)})
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    acc = sum(correct) / len(correct)
    mode = {"n": len(records), "accuracy": acc, "format_failure_rate": 0.0}
    (folder / "scores.json").write_text(json.dumps({"model": folder.name, "data": data, "n_records": len(records),
                                                    "data_fingerprint": data_fingerprint(records),
                                                    "modes": {"direct": mode, "cot": mode}}))
    return folder


def _records(questions):
    return [{"pid": f"test-{i:06d}", "question": q, "answer": "1", "choices": None} for i, q in enumerate(questions)]


def test_evals_of_different_data_are_refused_or_restricted(tmp_path):
    a = _eval(tmp_path / "a", _records(["q0", "q1", "q2", "q3"]), [1, 0, 1, 0], "split_a.jsonl")
    same = _eval(tmp_path / "same", _records(["q0", "q1", "q2", "q3"]), [1, 1, 1, 1], "split_a.jsonl")
    # Another split: the same pids (test-000000...), other questions except the first two.
    other = _eval(tmp_path / "other", _records(["q0", "q1", "x2", "x3"]), [1, 1, 1, 1], "split_b.jsonl")
    ok = write_comparison([a, same], tmp_path / "r1")
    assert ok["rows"][1]["vs_baseline_ci95"]["cot"]["n"] == 4
    with pytest.raises(MMPOError, match=r"different data \(a: split_a.jsonl \(4 records\); other: split_b.jsonl"):
        write_comparison([a, other], tmp_path / "r2")
    restricted = write_comparison([a, other], tmp_path / "r3", same_questions_only=True)
    iv = restricted["rows"][1]["vs_baseline_ci95"]["cot"]
    assert iv["n"] == 2 and iv["estimate"] == pytest.approx(0.5)  # q0 (1 vs 1), q1 (0 vs 1)
    assert "differences use the 2 questions it shares with a" in restricted["markdown"]
