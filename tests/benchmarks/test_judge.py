"""judge_predictions: templates, options, judgements.jsonl and its reuse; the judge benchmarks' summaries.

The judge here is a stand-in for the engines' client (replies chosen by the test), so that the file logic
is checked reply by reply; tests/benchmarks/test_judge_vllm.py runs the same path against a real vLLM.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _judge_data import llava_official, mmhal_template, mmvet_official
from mmpo.benchmarks import get_benchmark
from mmpo.engines.client import Sample
from mmpo.errors import MMPOError
from mmpo.judge import JudgeOptions, judge_predictions
from mmpo.judge import run as judge_run
from mmpo.judge.template import JudgeTemplate


class FakeJudge:
    """Replies `reply_for(text)`; records every request's text."""

    sent: list[str] = []
    reply_for = staticmethod(lambda text: "0.5")

    def __init__(self, base_urls, model, **kw):
        self.model = model

    def imap(self, requests):
        for req in requests:
            assert req.temperature == 0.0 and req.image is None
            FakeJudge.sent.append(req.text)
            yield [Sample(text=FakeJudge.reply_for(req.text), truncated=False, num_tokens=1)]


@pytest.fixture
def fake_judge(monkeypatch):
    FakeJudge.sent = []
    monkeypatch.setattr(judge_run, "JudgeClient", FakeJudge)
    return FakeJudge


def _prompt(tmp_path: Path, text: str, name: str = "prompt.txt") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def _opts(prompt: str, model: str = "judge-a") -> JudgeOptions:
    return JudgeOptions(judge_base_url=("http://127.0.0.1:9/v1",), judge_model=model, judge_prompt=prompt)


def _preds(bench, records, responses):
    return [{"pid": r["pid"], "mode": "direct", "response": x, **bench.check(x, r, "direct")}
            for r, x in zip(records, responses)]


def test_missing_judge_settings_say_what_to_give_and_where_prompts_are_published(tmp_path):
    with pytest.raises(MMPOError, match="mmpo ships none.*github.com/yuweihao/MM-Vet"):
        JudgeOptions(judge_model="m", judge_base_url=("http://h/v1",)).check_judge("mm-vet")
    with pytest.raises(MMPOError, match="MM-Vet.*LLaVA.*LLaVA-RLHF"):
        JudgeOptions().check_judge()
    prompt = _prompt(tmp_path, "{question} {answer} {response}")
    with pytest.raises(MMPOError, match="--judge-model is required"):
        JudgeOptions(judge_prompt=prompt, judge_base_url=("http://h/v1",)).check_judge("mmhal")
    with pytest.raises(MMPOError, match="--judge-base-url"):
        JudgeOptions(judge_prompt=prompt, judge_model="m").check_judge("mmhal")
    with pytest.raises(MMPOError, match="must start with http"):
        JudgeOptions(judge_prompt=prompt, judge_model="m", judge_base_url="host:8000").check_judge("mmhal")
    with pytest.raises(MMPOError, match="does not exist"):
        JudgeOptions(judge_prompt=str(tmp_path / "nope.txt"), judge_model="m",
                     judge_base_url=("http://h/v1",)).check_judge("mmhal")
    with pytest.raises(MMPOError, match="--judge-concurrency must be >= 1"):
        JudgeOptions(judge_concurrency=0)


@pytest.mark.parametrize("text, message", [
    ("{question} {answer} {response} {gt}", r"unknown placeholder \{gt\}; mm-vet offers \{response\}, \{question\}"),
    ("{question} {response}", r"no \{answer\} placeholder"),
    ("{question} {answer}", r"no \{response\} placeholder"),
    ("{question} {answer} {response} {", "Single '{'"),
    ("{question} {answer} {response:>10}", "not a plain"),
    ("{0} {question} {answer} {response}", "positional placeholder"),
    ("Content: {}\n{question} {answer} {response}", r"positional placeholder \{\}; name each one"),
    ("   ", "is empty"),
])
def test_template_errors_name_the_prompt_file(tmp_path, text, message):
    path = _prompt(tmp_path, text)
    with pytest.raises(MMPOError, match=message) as exc:
        JudgeTemplate.load(path, get_benchmark("mm-vet"))
    assert path in str(exc.value)


def test_templates_render_literal_braces_and_per_category_json(tmp_path):
    bench = get_benchmark("llava-bench")
    rec = bench.read(llava_official(tmp_path / "wild"))[1]
    tpl = JudgeTemplate.load(_prompt(tmp_path, '{{"a": 1}} [Context] {caption} Q {question} R {answer} A {response}'),
                             bench)
    assert tpl.render(bench.judge_fields(rec), "mine") == \
        '{"a": 1} [Context] A photo number 1 of a red square. Q Describe detail 1. R Reference answer 1. A mine'
    rules = {c: f"{c}: {{question}} {{answer}} {{response}}" for c in ("conv", "detail", "complex")}
    tpl = JudgeTemplate.load(_prompt(tmp_path, json.dumps(rules), "rules.json"), bench)
    assert tpl.render(bench.judge_fields(rec), "x", variant=bench.judge_variant(rec)).startswith("detail: Describe")
    with pytest.raises(MMPOError, match="category values conv, detail, complex, not 'chat'"):
        JudgeTemplate.load(_prompt(tmp_path, json.dumps({"chat": "{question}"}), "bad.json"), bench)
    with pytest.raises(MMPOError, match="template 'conv'.*no \\{response\\}"):
        JudgeTemplate.load(_prompt(tmp_path, json.dumps({**rules, "conv": "{question} {answer}"}), "b.json"), bench)
    with pytest.raises(MMPOError, match="no variants"):
        JudgeTemplate.load(_prompt(tmp_path, json.dumps(rules), "r.json"), get_benchmark("mm-vet"))


def test_judgements_are_written_reused_and_redone_when_the_answer_prompt_or_judge_changes(tmp_path, fake_judge):
    bench = get_benchmark("mm-vet")
    records = bench.read(mmvet_official(tmp_path / "mmvet", 4))
    replies = {"a0": "0.9", "a1": "garbage", "a2": "0.2 partly", "": "0.0"}
    fake_judge.reply_for = staticmethod(lambda text: replies[text.rsplit("A: ", 1)[1]])
    prompt = _prompt(tmp_path, "Q: {question}\nGT: {answer}\nA: {response}")
    preds = _preds(bench, records, ["a0", "a1", "a2", ""])
    out = judge_predictions(tmp_path / "out", bench, records, preds, _opts(prompt), progress=False)
    path = tmp_path / "out" / "judgements.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 4 and len(fake_judge.sent) == 4
    assert set(lines[0]) == set(judge_run.JUDGEMENT_FIELDS)
    assert lines[0]["judge_model"] == "judge-a" and lines[0]["reply"] == "0.9" and lines[0]["score"] == 0.9
    assert lines[1]["score"] is None and "no MM-Vet judgement" in lines[1]["parse_error"]
    assert lines[0]["prompt_sha256"] == JudgeTemplate.load(prompt, bench).sha256
    assert [p["verdict"] for p in out] == ["correct", None, "incorrect", "format_failure"]
    assert [p["score"] for p in out] == [0.9, None, 0.2, 0.0]
    assert [p["judge_unparsed"] for p in out] == [False, True, False, False]
    assert out[1]["judge"]["reply"] == "garbage" and out[0]["capability"] == ["rec"]
    summary = bench.summarize(out)
    assert summary["metrics"]["judge_unparsed"] == 1 and summary["metrics"]["judged"] == 3
    assert summary["primary"] == pytest.approx((0.9 + 0.2 + 0.0) / 3)  # the unparsed one is not a 0
    assert summary["metrics"]["ocr"] == 0.0  # v1_3 scored 0.0; v1_1 (ocr too) unparsed, left out

    # A rerun asks nothing; a changed answer, prompt or judge model is judged again.
    fake_judge.sent = []
    again = judge_predictions(tmp_path / "out", bench, records, preds, _opts(prompt), progress=False)
    assert fake_judge.sent == [] and again == out
    replies["a2 changed"] = "1.0"
    preds2 = _preds(bench, records, ["a0", "a1", "a2 changed", ""])
    out2 = judge_predictions(tmp_path / "out", bench, records, preds2, _opts(prompt), progress=False)
    assert len(fake_judge.sent) == 1 and out2[2]["score"] == 1.0 and out2[0] == out[0]
    fake_judge.sent = []
    prompt2 = _prompt(tmp_path, "Question: {question}\nGT: {answer}\nA: {response}", "p2.txt")
    judge_predictions(tmp_path / "out", bench, records, preds2, _opts(prompt2), progress=False)
    judge_predictions(tmp_path / "out", bench, records, preds2, _opts(prompt, "judge-b"), progress=False)
    assert len(fake_judge.sent) == 8
    assert len(path.read_text().splitlines()) == 4 + 1 + 8


def test_a_partial_last_line_is_cut_and_that_judgement_redone(tmp_path, fake_judge):
    bench = get_benchmark("mmhal")
    records = bench.read(mmhal_template(tmp_path / "mmhal", 4))
    fake_judge.reply_for = staticmethod(lambda text: "Fine.\nRating: 4")
    prompt = _prompt(tmp_path, "{image_content} {question} {answer} {response}")
    preds = _preds(bench, records, ["a", "b", "c", "d"])
    judge_predictions(tmp_path / "out", bench, records, preds, _opts(prompt), progress=False)
    path = tmp_path / "out" / "judgements.jsonl"
    text = path.read_text()
    kept = "".join(text.splitlines(keepends=True)[:2])
    path.write_text(kept + text.splitlines(keepends=True)[2][:25])  # as a kill mid-write leaves it
    fake_judge.sent = []
    out = judge_predictions(tmp_path / "out", bench, records, preds, _opts(prompt), progress=False)
    assert len(fake_judge.sent) == 2
    assert path.read_text().startswith(kept) and len(path.read_text().splitlines()) == 4
    assert all(p["score"] == 4.0 and p["verdict"] == "correct" for p in out)
    with pytest.raises(MMPOError, match="question '99'"):
        judge_predictions(tmp_path / "out", bench, records, [{"pid": "99", "response": "x"}], _opts(prompt),
                          progress=False)
    with pytest.raises(MMPOError, match="scored by its rule"):
        judge_predictions(tmp_path / "out", type("B", (), {"kind": "rules", "name": "pope"})(), records, preds,
                          _opts(prompt), progress=False)


def test_llava_bench_summary_is_the_ratio_of_totals_per_category():
    bench = get_benchmark("llava-bench")
    rows = [("conv", 8, 6), ("conv", 10, 10), ("detail", 5, 5), ("complex", 8, 2), ("complex", None, None)]
    preds = []
    for cat, ref, model in rows:
        p = {"category": cat, "score": model, "reference_score": ref, "judge_unparsed": model is None}
        preds.append(p)
    s = bench.summarize(preds)
    assert s["by"]["category"]["conv"]["relative"] == pytest.approx(16 / 18)
    assert s["by"]["category"]["complex"]["relative"] == pytest.approx(2 / 8)
    assert s["primary"] == pytest.approx((6 + 10 + 5 + 2) / (8 + 10 + 5 + 8))
    assert s["metrics"]["model_mean"] == pytest.approx(23 / 4) and s["metrics"]["judge_unparsed"] == 1
    assert bench.verdict_of({"score": 7, "reference_score": 7}) == "correct"
    assert bench.verdict_of({"score": 6, "reference_score": 7}) == "incorrect"


def test_mmhal_summary_average_and_hallucination_rate_per_type():
    bench = get_benchmark("mmhal")
    preds = [{"question_type": t, "score": s, "judge_unparsed": s is None}
             for t, s in [("attribute", 6), ("attribute", 2), ("counting", 0), ("counting", 3), ("other", None)]]
    s = bench.summarize(preds)
    assert s["primary"] == pytest.approx(11 / 4) and s["metrics"]["hallucination_rate"] == pytest.approx(2 / 4)
    assert s["by"]["question_type"]["attribute"] == {"average": 4.0, "hallucination_rate": 0.5, "n": 2}
    assert s["by"]["question_type"]["other"]["n"] == 0 and s["metrics"]["judge_unparsed"] == 1
    nothing = bench.summarize([{"question_type": "other", "score": None, "judge_unparsed": True}])
    assert nothing["primary"] is None and nothing["metrics"]["hallucination_rate"] is None


def test_mmvet_summary_per_capability_and_integration():
    bench = get_benchmark("mm-vet")
    preds = [{"capability": ["rec"], "score": 1.0}, {"capability": ["rec", "ocr"], "score": 0.5},
             {"capability": ["ocr"], "score": 0.0}, {"capability": ["math"], "score": None, "judge_unparsed": True}]
    s = bench.summarize(preds)
    assert s["primary"] == pytest.approx(0.5) and s["metrics"]["rec"] == pytest.approx(0.75)
    assert s["metrics"]["ocr"] == pytest.approx(0.25) and s["metrics"]["math"] is None
    assert s["by"]["integration"]["rec_ocr"] == {"score": 0.5, "n": 1}
    assert s["metrics"]["judge_unparsed"] == 1 and s["n"] == 4


def test_llava_bench_judged_per_category_rule_and_a_changed_caption_is_judged_again(tmp_path, fake_judge):
    bench = get_benchmark("llava-bench")
    folder = llava_official(tmp_path / "wild")
    records = bench.read(folder)
    fake_judge.reply_for = staticmethod(lambda text: "8 6\nAssistant 1 is better." if text.startswith("conv")
                                        else "7 7\nBoth fine.")
    rules = {c: f"{c}\n[Context]\n{{context}}\n[Question]\n{{question}}\n[1]\n{{answer}}\n[2]\n{{response}}"
             for c in ("conv", "detail", "complex")}
    prompt = _prompt(tmp_path, json.dumps(rules), "rule.json")
    preds = _preds(bench, records, [f"answer {i}" for i in range(6)])
    out = judge_predictions(tmp_path / "out", bench, records, preds, _opts(prompt), progress=False)
    assert [p["score"] for p in out] == [6.0, 7.0, 7.0, 6.0, 7.0, 7.0]
    assert [p["reference_score"] for p in out] == [8.0, 7.0, 7.0, 8.0, 7.0, 7.0]
    assert [p["verdict"] for p in out] == ["incorrect", "correct", "correct"] * 2
    assert fake_judge.sent[1].startswith("detail\n[Context]\nA photo number 1 of a red square.\n[Question]\nDescribe")
    s = bench.summarize(out)
    assert s["by"]["category"]["conv"]["relative"] == pytest.approx(0.75) and s["primary"] == pytest.approx(40 / 44)
    contexts = [json.loads(x) for x in (folder / "context.jsonl").read_text().splitlines()]
    contexts[0]["caption"] = "A new caption."
    (folder / "context.jsonl").write_text("".join(json.dumps(c) + "\n" for c in contexts))
    fake_judge.sent = []
    judge_predictions(tmp_path / "out", bench, bench.read(folder), preds, _opts(prompt), progress=False)
    assert len(fake_judge.sent) == 3 and all("A new caption." in t for t in fake_judge.sent)  # image 000's questions
