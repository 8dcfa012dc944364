"""A small real run for the inspector's tests, laid out as a demo folder, built without a model.

`mmpo synth` writes the records and images; samples and predictions are written by hand with known
verdicts, so each test knows what the pages must show:

    run = small_run            # session fixture
    run.root                   # results.json, data/, samples/train.jsonl, pairs/, eval/{base,mpo}/, report/
    run.pairs_by_pid           # pid -> number of pairs of that prompt
    run.gained, run.lost       # CoT: wrong in base and right in mpo, and the reverse

`browser` is headless Debian chromium driven by playwright (a fresh profile, no network).
"""

from __future__ import annotations

import json
import os
import types

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Per train record: the verdicts of its 4 responses (None: that record is not sampled).
VERDICTS = [
    ["correct", "correct", "incorrect", "incorrect"],               # 2/4: 26-50%, 4 correctness pairs
    ["correct", "format_failure", "incorrect", "incorrect"],        # 1/4: 1-25%, 2 correctness + 1 format
    ["correct"] * 4,                                                # 100%: no pairs
    ["correct", "correct", "correct", "incorrect"],                 # 3/4: 51-75%, 3 correctness pairs
    ["incorrect"] * 4,                                              # 0%: no pairs
    ["correct", "incorrect", "format_failure", "format_failure"],   # 1/4: 1 correctness + 2 format
]
ZEBRA = "zebra"   # a word only one rejected response has (the search in texts finds it)

# Eval outcomes per test record index: base and mpo, direct and CoT.
CORRECT = {("base", "cot"): {0, 1, 2}, ("mpo", "cot"): {1, 2, 3, 4},
           ("base", "direct"): {0}, ("mpo", "direct"): {0, 5}}


def _response(pid: str, k: int, verdict: str, answer) -> dict:
    if verdict == "format_failure":
        return {"text": f"r{k} of {pid}: I am not sure.", "extracted": None, "verdict": verdict, "truncated": True}
    value = str(answer) if verdict == "correct" else f"nope{'wxyz'[k]}"  # no digit: never a substring pair
    extra = f" A {ZEBRA} walks by." if (pid.endswith("5") and verdict == "incorrect") else ""
    return {"text": f"r{k} of {pid}: step one.{extra} Final answer: {value}", "extracted": value,
            "verdict": verdict, "truncated": False}


def build_run(root):
    from mmpo.eval.report import write_comparison
    from mmpo.eval.run import load_eval_records, score_predictions
    from mmpo.pairs.build import build_pairs
    from mmpo.pairs.options import PairOptions
    from mmpo.synth import write_benchmark

    train = write_benchmark(root / "data", len(VERDICTS), seed=0, split_name="train")
    test = write_benchmark(root / "data", 6, seed=0, split_name="test")
    records = [json.loads(line) for line in train.read_text().splitlines()]
    samples = root / "samples" / "train.jsonl"
    samples.parent.mkdir(parents=True)
    with samples.open("w") as fh:
        for rec, verdicts in zip(records, VERDICTS):
            image = str((root / "data" / rec["image"]).resolve())
            fh.write(json.dumps({
                "pid": rec["pid"], "prompt": f"Answer with steps.\n\nQuestion: {rec['question']}", "image": image,
                "question": rec["question"], "answer": rec["answer"], "source": "train",
                "record": {k: rec.get(k) for k in ("pid", "question", "answer", "question_type", "answer_type")},
                "truncated": sum(v == "format_failure" for v in verdicts),
                "responses": [_response(rec["pid"], k, v, rec["answer"]) for k, v in enumerate(verdicts)],
                "settings": {"n": 4, "seed": 0}}) + "\n")
    stats = build_pairs(PairOptions(samples=[samples], out=root / "pairs", name="digits"))

    test_records = load_eval_records(test)
    for name in ("base", "mpo"):
        preds = []
        for i, rec in enumerate(test_records):
            for mode in ("direct", "cot"):
                ok = i in CORRECT[(name, mode)]
                preds.append({"pid": rec["pid"], "mode": mode, "response": f"{name} {mode} answer {i}",
                              "extracted": str(rec["answer"]) if ok else f"x{i}",
                              "verdict": "correct" if ok else "incorrect", "num_tokens": 5, "truncated": False})
        folder = root / "eval" / name
        folder.mkdir(parents=True)
        (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
        scores = {"model": name, "data": str(test), "n_records": len(test_records),
                  "settings": {"modes": ["direct", "cot"]},
                  "modes": score_predictions(test_records, preds, ["direct", "cot"])}
        (folder / "scores.json").write_text(json.dumps(scores))
    write_comparison([root / "eval" / "base", root / "eval" / "mpo"], root / "report", names=["base", "mpo"],
                     n_boot=200)
    (root / "results.json").write_text(json.dumps({"models": {"base": {}, "mpo": {}}, "start_model": "base"}))

    pids = [r["pid"] for r in records]
    test_pids = [r["pid"] for r in test_records]
    pairs_by_pid = {pids[0]: 4, pids[1]: 3, pids[3]: 3, pids[5]: 3}
    assert stats["pairs"]["total"] == sum(pairs_by_pid.values()) == 13
    return types.SimpleNamespace(
        root=root, train=train, test=test, samples=samples, pids=pids, records=records, test_pids=test_pids,
        pairs_by_pid=pairs_by_pid, n_pairs=13, n_format=3,
        gained=[test_pids[i] for i in sorted(CORRECT[("mpo", "cot")] - CORRECT[("base", "cot")])],
        lost=[test_pids[i] for i in sorted(CORRECT[("base", "cot")] - CORRECT[("mpo", "cot")])])


@pytest.fixture(autouse=True)
def one_thread():
    """Overrides the suite's torch-thread fixture: nothing here loads torch, so nothing imports it."""
    yield


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless chromium context, closed after its module; fails (never skips) when chromium or
    playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the inspector's browser test needs Debian's chromium "
                    "(`make browser`, or: apt-get update && apt-get install -y --no-install-recommends chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -c constraints.txt playwright "
                    "(never `playwright install`: the test uses /usr/bin/chromium)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        yield context
        context.close()


@pytest.fixture(scope="session")
def bench_eval(small_run):
    from _bench_eval import build_bench_eval
    from mmpo.eval.run import load_eval_records

    return build_bench_eval(small_run.root.parent / "bench-eval" / "pope-mpo", load_eval_records(small_run.test))
