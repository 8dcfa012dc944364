"""mmpo eval on a tiny model and a small synthetic benchmark: files, scores, breakdowns, resume, errors."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass

import pytest

from mmpo.cli import main
from mmpo.errors import MMPOError
from mmpo.eval import run as evaluate
from mmpo.eval.options import EvalOptions

N = 12


@dataclass
class _Verdict:
    extracted: str | None
    verdict: str


@pytest.fixture
def varied_checker(monkeypatch):
    """A checker whose verdicts vary with the record and the response, so scores and breakdowns are
    non-trivial (a random tiny model is never right). The eval must store and count whatever it says."""

    def check_answer(response, record, *, scoring="default", lenient=None):
        k = (int(record["pid"].split("-")[-1]) + len(response)) % 3
        verdict = ("correct", "incorrect", "format_failure")[k]
        return _Verdict(None if verdict == "format_failure" else response[:5], verdict)

    import mmpo.answers

    monkeypatch.setattr(mmpo.answers, "check_answer", check_answer)
    return check_answer


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from mmpo.synth.benchmark import write_benchmark

    return write_benchmark(tmp_path_factory.mktemp("bench"), N, seed=0)


@pytest.fixture
def model_dir(tiny_model_dir):
    return tiny_model_dir("llava", "unit")


def _run_eval(model_dir, data, out, *extra):
    return main(["eval", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                 "--max-new-tokens", "6", "--batch-size", "5", "--no-progress", *extra])


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scores_agree_with_predictions_and_breakdowns_add_up(model_dir, bench, tmp_path, varied_checker, capsys):
    out = tmp_path / "ev"
    assert _run_eval(model_dir, bench, out) == 0
    printed = capsys.readouterr().out
    preds = _lines(out / "predictions.jsonl")
    scores = json.loads((out / "scores.json").read_text())
    records = [json.loads(line) for line in bench.read_text().splitlines()]

    assert len(preds) == 2 * N
    assert Counter((p["pid"], p["mode"]) for p in preds) == Counter(
        (r["pid"], m) for r in records for m in ("direct", "cot"))
    for p in preds:
        assert set(p) >= {"pid", "mode", "response", "extracted", "verdict"}
    assert scores["model"] == str(model_dir) and scores["data"] == str(bench)
    assert set(scores["modes"]) == {"direct", "cot"}

    meta = {r["pid"]: r for r in records}
    for mode, m in scores["modes"].items():
        mine = [p for p in preds if p["mode"] == mode]
        correct = sum(p["verdict"] == "correct" for p in mine)
        ff = sum(p["verdict"] == "format_failure" for p in mine)
        assert m["n"] == N and m["correct"] == correct
        assert m["accuracy"] == pytest.approx(correct / N)
        assert m["format_failure_rate"] == pytest.approx(ff / N)
        assert 0 < correct < N  # the checker above makes a mix, so the counts are not trivially 0 or n
        assert m["accuracy_ci95"][0] <= m["accuracy"] <= m["accuracy_ci95"][1]
        # Partitions: question_type, answer_type, category buckets sum to n and to the correct count.
        for key in ("question_type", "answer_type", "category"):
            buckets = m["by"][key]
            assert sum(b["n"] for b in buckets.values()) == N
            assert sum(b["correct"] for b in buckets.values()) == correct
            for b in buckets.values():
                assert b["accuracy"] == pytest.approx(b["correct"] / b["n"])
        assert m["by"]["question_type"].keys() == {r["question_type"] for r in records}
        # Skills overlap: each record counts once per skill it lists.
        skills = Counter(s for r in records for s in r["metadata"]["skills"])
        assert {k: b["n"] for k, b in m["by"]["skill"].items()} == dict(skills)
        right = Counter(s for p in mine if p["verdict"] == "correct" for s in meta[p["pid"]]["metadata"]["skills"])
        assert {k: b["correct"] for k, b in m["by"]["skill"].items() if b["correct"]} == dict(right)
    assert "| direct | 12 |" in printed and "| CoT | 12 |" in printed and "by skill" in printed


def test_verdicts_come_from_the_answer_checker(model_dir, bench, tmp_path):
    import mmpo.answers as answers

    out = tmp_path / "ev"
    assert _run_eval(model_dir, bench, out, "--limit", "4") == 0
    records = {r["pid"]: r for r in evaluate.load_eval_records(bench)}
    preds = _lines(out / "predictions.jsonl")
    assert len(preds) == 8
    for p in preds:
        # Direct answers are bare, so they are read leniently; CoT must say "Final answer: ..".
        v = answers.check_answer(p["response"], records[p["pid"]], lenient=p["mode"] == "direct")
        assert (p["extracted"], p["verdict"]) == (v.extracted, v.verdict)
    scores = json.loads((out / "scores.json").read_text())
    assert scores["settings"]["extraction"] == {"direct": "lenient", "cot": "strict"}


def test_direct_answers_are_read_leniently_and_cot_strictly(bench, monkeypatch):
    import mmpo.eval.generate as generation
    from mmpo.data.prompts import build_prompt

    records = evaluate.load_eval_records(bench, limit=3)
    answers = {r["pid"]: str(r["answer"]) for r in records}
    # A model that answers every question right, bare in direct mode, in a sentence without the
    # asked format in CoT mode: direct counts as correct, CoT as a format failure.
    reply = {"direct": "{a}", "cot": "I think it is {a}."}

    def fake_generate(model, processor, items, **kw):
        out = []
        for text, _ in items:
            mode = "direct" if "step by step" not in text else "cot"
            rec = next(r for r in records if build_prompt(r, mode) == text)
            out.append(generation.Generation(reply[mode].format(a=answers[rec["pid"]]), 3, False))
        return out

    monkeypatch.setattr(generation, "greedy_generate", fake_generate)
    res = evaluate.evaluate_model(None, None, records, EvalOptions(progress=False), model_name="m")
    assert res.scores["modes"]["direct"]["accuracy"] == 1.0
    assert res.scores["modes"]["cot"]["format_failure_rate"] == 1.0


def test_direct_answers_can_have_their_own_length_limit(bench, monkeypatch):
    import mmpo.eval.generate as generation

    records = evaluate.load_eval_records(bench, limit=2)
    limits = {}

    def fake_generate(model, processor, items, *, max_new_tokens, **kw):
        mode = "cot" if "step by step" in items[0][0] else "direct"
        limits[mode] = max_new_tokens
        return [generation.Generation("Final answer: 1", 3, False) for _ in items]

    monkeypatch.setattr(generation, "greedy_generate", fake_generate)
    res = evaluate.evaluate_model(None, None, records, EvalOptions(max_new_tokens=128, direct_max_new_tokens=16,
                                                                   progress=False))
    assert limits == {"direct": 16, "cot": 128}
    assert res.scores["settings"]["direct_max_new_tokens"] == 16
    evaluate.evaluate_model(None, None, records, EvalOptions(max_new_tokens=64, progress=False))
    assert limits == {"direct": 64, "cot": 64}


def test_in_memory_eval_batching_does_not_change_answers(tiny_model, bench, varied_checker):
    model, processor = tiny_model("qwen2_vl")
    records = evaluate.load_eval_records(bench, limit=7)
    one = evaluate.evaluate_model(model, processor, records, EvalOptions(max_new_tokens=6, batch_size=1, progress=False))
    model.train()  # as the demo may hand it over straight from training: answered in eval mode, then restored
    many = evaluate.evaluate_model(model, processor, records, EvalOptions(max_new_tokens=6, batch_size=4, progress=False))
    assert model.training
    assert [p["response"] for p in one.predictions] == [p["response"] for p in many.predictions]
    assert one.scores["modes"] == many.scores["modes"]
    assert all(p["num_tokens"] <= 6 for p in one.predictions)
    assert sum(p["truncated"] for p in one.predictions) == sum(m["truncated"] for m in one.scores["modes"].values())


def test_derangement():
    for n in (2, 3, 10, 101):
        perm = evaluate.derangement(n, seed=3)
        assert sorted(perm) == list(range(n)) and all(perm[i] != i for i in range(n))
    assert evaluate.derangement(50, 1) == evaluate.derangement(50, 1) != evaluate.derangement(50, 2)
    with pytest.raises(MMPOError):
        evaluate.derangement(1, 0)


def test_shuffle_images_pairs_each_question_with_another_image(bench, varied_checker, monkeypatch):
    import mmpo.eval.generate as generation

    seen = []

    def fake_generate(model, processor, items, **kw):
        seen.extend(items)
        return [generation.Generation(text="x", num_tokens=1, truncated=False) for _ in items]

    monkeypatch.setattr(generation, "greedy_generate", fake_generate)
    records = evaluate.load_eval_records(bench)
    images = [f"image-of-{r['pid']}" for r in records]  # stand-ins: only identity matters here
    res = evaluate.evaluate_model(None, None, records, EvalOptions(modes=("cot",), shuffle_images=True, seed=5,
                                                                   progress=False), images=images, model_name="m")
    from mmpo.data.prompts import build_prompt

    perm = evaluate.derangement(len(records), 5)
    # One mode and fewer records than a chunk: the prompts reach the generator in record order.
    assert [text for text, _ in seen] == [build_prompt(r, "cot") for r in records]
    assert [im for _, im in seen] == [images[perm[i]] for i in range(len(records))]
    assert all(perm[i] != i for i in range(len(records)))
    assert [p["image_from"] for p in res.predictions] == [records[perm[i]]["pid"] for i in range(len(records))]
    assert res.scores["settings"]["shuffle_images"] is True


def test_resume_after_interruption(model_dir, bench, tmp_path, varied_checker):
    full = tmp_path / "full"
    assert _run_eval(model_dir, bench, full, "--limit", "8") == 0
    part = tmp_path / "part"
    shutil.copytree(full, part)
    lines = (part / "predictions.jsonl").read_text().splitlines(keepends=True)
    # A kill mid-write: 5 whole lines and half of the sixth survive, and no scores.json yet.
    (part / "predictions.jsonl").write_text("".join(lines[:5]) + lines[5][:20])
    (part / "scores.json").unlink()
    assert _run_eval(model_dir, bench, part, "--limit", "8") == 0
    a, b = _lines(full / "predictions.jsonl"), _lines(part / "predictions.jsonl")
    key = lambda p: (p["pid"], p["mode"])  # noqa: E731
    assert sorted(a, key=key) == sorted(b, key=key) and len(b) == 16
    sa, sb = (json.loads((d / "scores.json").read_text()) for d in (full, part))
    assert sa["modes"] == sb["modes"] and sb["resumed_predictions"] == 5
    # Other settings in the same directory are refused rather than mixed in.
    assert _run_eval(model_dir, bench, part, "--limit", "8", "--scoring", "mathvista") == 2


def test_mathvista_testmini_json_dict_loads(model_dir, tmp_path, varied_checker, tiny_image):
    (tmp_path / "images").mkdir()
    tiny_image.save(tmp_path / "images" / "1.png")
    tiny_image.save(tmp_path / "images" / "2.png")
    data = {
        "1": {"question": "What is the value of the largest bar?", "image": "images/1.png", "choices": None,
              "unit": None, "precision": None, "answer": "9", "question_type": "free_form",
              "answer_type": "integer", "query": "Hint: Please answer the question requiring an integer answer "
              "and provide the final value, e.g., 1, 2, 3, at the end.\nQuestion: What is the value?",
              "metadata": {"category": "general-vqa", "skills": ["statistical reasoning"]}},
        "2": {"question": "Is it red?", "image": "images/2.png", "choices": ["Yes", "No"], "answer": "No",
              "question_type": "multi_choice", "answer_type": "text",
              "metadata": {"category": "math-targeted-vqa", "skills": []}},
    }
    path = tmp_path / "testmini.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "ev"
    assert _run_eval(model_dir, path, out, "--modes", "direct") == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["modes"]["direct"]["n"] == 2 and set(scores["modes"]) == {"direct"}
    assert scores["modes"]["direct"]["by"]["skill"]["(none)"]["n"] == 1
    assert [p["pid"] for p in _lines(out / "predictions.jsonl")] == ["1", "2"]


def _bad_bench(tmp_path, bench, edit):
    lines = bench.read_text().splitlines()
    recs = [json.loads(line) for line in lines[:4]]
    edit(recs)
    d = tmp_path / "bad"
    d.mkdir(exist_ok=True)
    shutil.copytree(bench.parent / "images", d / "images", dirs_exist_ok=True)
    p = d / "bad.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return p


def test_bad_input_errors_name_what_is_wrong(model_dir, bench, tmp_path, capsys, varied_checker):
    no_answer = _bad_bench(tmp_path, bench, lambda recs: recs[2].pop("answer"))
    assert _run_eval(model_dir, no_answer, tmp_path / "o1") == 2
    assert f"{no_answer}:3, field 'answer'" in capsys.readouterr().err

    def drop_image(recs):
        recs[1]["image"] = "images/nope.png"

    no_image = _bad_bench(tmp_path, bench, drop_image)
    assert _run_eval(model_dir, no_image, tmp_path / "o2") == 2
    err = capsys.readouterr().err
    assert f"{no_image}:2, field 'image'" in err and "nope.png does not exist" in err

    no_proc = tmp_path / "noproc"
    no_proc.mkdir()
    for f in model_dir.iterdir():
        if f.name in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, no_proc / f.name)
    assert _run_eval(no_proc, bench, tmp_path / "o3") == 2
    assert "no processor" in capsys.readouterr().err

    assert _run_eval(model_dir, bench, tmp_path / "o4", "--modes", "direct,essay") == 2
    assert "unknown mode 'essay'" in capsys.readouterr().err
    assert _run_eval(model_dir, bench, tmp_path / "o5", "--limit", "1", "--shuffle-images") == 2
    assert "at least 2 records" in capsys.readouterr().err
    assert _run_eval(model_dir, tmp_path / "missing.jsonl", tmp_path / "o6") == 2
    assert "missing.jsonl: file does not exist" in capsys.readouterr().err


def test_eval_command_module_is_light():
    import subprocess

    code = ("import sys; import mmpo.commands.eval, mmpo.commands.report, mmpo.eval.run, mmpo.eval.report, "
            "mmpo.eval.plots, mmpo.eval.generate; "
            "print(sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_training_run_dir_evaluates_and_reports_with_no_extra_arguments(model_dir, bench, tmp_path,
                                                                         varied_checker, capsys):
    # What `mmpo train` leaves: weights + processor, a model card, trainer_state.json, checkpoint-*/.
    run = tmp_path / "run"
    shutil.copytree(model_dir, run)
    (run / "README.md").write_text("---\nlibrary_name: transformers\n---\n# mpo run\n")
    history = [{"step": s, "loss": 1.5 - 0.1 * s, "rewards/margins": 0.05 * s, "bco/delta": 0.01 * s}
               for s in range(1, 5)]
    (run / "trainer_state.json").write_text(json.dumps({"global_step": 4, "log_history": history}))
    (run / "checkpoint-2").mkdir()
    (run / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"log_history": history[:2]}))

    ev = tmp_path / "ev"
    assert main(["eval", "--model", str(run), "--data", str(bench), "--out", str(ev), "--limit", "3",
                 "--max-new-tokens", "4", "--no-progress"]) == 0
    base = tmp_path / "base"
    assert _run_eval(model_dir, bench, base, "--limit", "3") == 0
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["report", str(base), str(ev), str(run), "--out", str(out), "--n-boot", "200"]) == 0
    printed = capsys.readouterr().out
    assert "| base (baseline) |" in printed and "| ev |" in printed
    for name in ("report.md", "direct_vs_cot.png", "training_curves.png"):
        assert (out / name).stat().st_size > 0


def test_a_rerun_answers_again_only_the_records_that_changed(model_dir, bench, tmp_path, varied_checker, capsys):
    data = tmp_path / "bench" / bench.name
    shutil.copytree(bench.parent, data.parent)
    out = tmp_path / "ev"
    assert _run_eval(model_dir, data, out, "--limit", "6") == 0
    first = _lines(out / "predictions.jsonl")
    recs = [json.loads(line) for line in data.read_text().splitlines()]
    recs[1]["answer"] = "12345"  # a corrected gold answer
    data.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    capsys.readouterr()
    assert _run_eval(model_dir, data, out, "--limit", "6") == 0
    assert ("reusing 10 predictions (same weights, settings and records), answering 2 (2 of them again, as "
            "their record changed)") in capsys.readouterr().out
    assert json.loads((out / "scores.json").read_text())["recomputed_predictions"] == 2
    again = _lines(out / "predictions.jsonl")
    assert [(p["pid"], p["mode"]) for p in again] == [(p["pid"], p["mode"]) for p in first]
    changed = [a["pid"] for a, b in zip(first, again) if a["qhash"] != b["qhash"]]
    assert changed == [recs[1]["pid"]] * 2
    fresh = tmp_path / "fresh"
    assert _run_eval(model_dir, data, fresh, "--limit", "6") == 0
    assert json.loads((out / "scores.json").read_text())["modes"] == json.loads(
        (fresh / "scores.json").read_text())["modes"]


def test_refusals_and_impossible_settings_fail_before_the_model_loads(tiny_model_dir, bench, tmp_path, capsys,
                                                                      monkeypatch):
    from PIL import Image

    import mmpo.models

    data = tmp_path / "bench" / bench.name
    shutil.copytree(bench.parent, data.parent)
    recs = [json.loads(line) for line in data.read_text().splitlines()][:3]
    Image.new("RGB", (10, 10000), (128, 128, 128)).save(data.parent / "tall.png")
    recs[2]["image"] = "tall.png"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    monkeypatch.setattr(mmpo.models, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    qwen = tiny_model_dir("qwen2_vl")
    assert _run_eval(qwen, data, tmp_path / "o1") == 2
    assert f"{data}:3, field 'image': Qwen2VLImageProcessor" in capsys.readouterr().err
    no_query = data.parent / "no_query.jsonl"
    no_query.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "query"}) + "\n" for r in recs[:2]))
    assert _run_eval(qwen, no_query, tmp_path / "o2", "--prompt-source", "query") == 2
    assert f"{no_query}:1, field 'query'" in capsys.readouterr().err
    assert _run_eval(qwen, data, qwen) == 2
    assert "is also --model: the output would overwrite its own input" in capsys.readouterr().err
    assert _run_eval(qwen, data, tmp_path / "o3", "--device", "cuda:0") == 2
    assert "no CUDA device here" in capsys.readouterr().err
