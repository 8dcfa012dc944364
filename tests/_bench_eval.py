"""A named benchmark's eval for the inspector's tests, in the format `mmpo eval --benchmark pope` writes.

    build_bench_eval(folder, test_records)   # scores.json with its "benchmark" block, predictions.jsonl
    FakeReader()                              # stands in for the registry's POPE (reads the synth records)
"""

from __future__ import annotations

import json

# A named benchmark's eval (the format `mmpo eval --benchmark pope` writes) on the test records:
# per record its POPE-like fields, the subset it belongs to, and for one CoT answer an unparsed judge reply.
BENCH_GOLD = ["yes", "yes", "yes", "no", "no", "no"]
BENCH_PRED = {"direct": ["yes", "no", "no", "yes", "no", "no"], "cot": ["yes", "yes", "no", "no", "no", "no"]}
BENCH_SUBSET = ["random", "random", "adversarial", "random", "adversarial", "adversarial"]


def build_bench_eval(folder, test_records):
    folder.mkdir(parents=True)
    preds = []
    for mode in ("direct", "cot"):
        for i, rec in enumerate(test_records):
            gold, pred = BENCH_GOLD[i], BENCH_PRED[mode][i]
            p = {"pid": rec["pid"], "mode": mode, "response": f"{pred.capitalize()}, it is.", "extracted": pred,
                 "verdict": "correct" if pred == gold else "incorrect", "score": float(pred == gold),
                 "qhash": f"h{i}", "gold": gold, "pred": pred, "subset": BENCH_SUBSET[i]}
            if mode == "cot" and i == 5:
                p.update(score=None, judge_unparsed=True, judge="I cannot decide.")
            preds.append(p)
    summaries = {
        "direct": {"primary": 0.4, "n": 6, "metrics": {"f1": 0.4, "accuracy": 0.5, "yes_ratio": 0.333},
                   "by": {"subset": {"adversarial": {"f1": 0.0, "n": 3}, "random": {"f1": 0.5, "n": 3}}}},
        "cot": {"primary": 0.8, "n": 6, "metrics": {"f1": 0.8, "accuracy": 5 / 6, "yes_ratio": 0.333},
                "by": {"subset": {"adversarial": {"f1": 0.0, "n": 3}, "random": {"f1": 1.0, "n": 3}}}},
    }
    modes = {m: {"n": 6, "accuracy": sum(p["verdict"] == "correct" for p in preds if p["mode"] == m) / 6,
                 "format_failure_rate": 0.0, "by": {}} for m in ("direct", "cot")}
    scores = {"model": "runs/mpo", "data": str(test_records[0]["_source"]), "n_records": 6,
              "settings": {"modes": ["direct", "cot"]}, "modes": modes,
              "benchmark": {"name": "pope", "title": "POPE", "kind": "rules", "primary": "f1", "scale": "fraction",
                            "modes": summaries}}
    (folder / "scores.json").write_text(json.dumps(scores))
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return folder


class FakeReader:
    """Stands in for the registry's POPE: reads the synth records (so questions and images show)."""

    name, title = "pope", "POPE"

    def read(self, path, split=None):
        from mmpo.eval.run import load_eval_records

        return load_eval_records(path)
