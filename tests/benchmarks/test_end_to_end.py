"""Every rule-scored benchmark through `mmpo eval --benchmark NAME` on a tiny LLaVA, from a small file in
each shape it ships in (tests/_bench_files.py): one prediction per record and mode carrying the
benchmark's own fields, scores.json's "benchmark" block equal to the benchmark's summary of those
predictions, and a rerun that answers nothing again. Then `--suite paper --data-root` over a folder
holding three benchmarks as they ship: those run, the rest are skipped with a reason. The judge-scored
ones go the same way with a stand-in judge (the real one: tests/benchmarks/test_judge_vllm.py)."""

from __future__ import annotations

import json

import pytest

import _judge_data as _jd
from _bench_files import SHIPPED
from mmpo.benchmarks import BENCHMARK_NAMES, get_benchmark
from mmpo.cli import main


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return tiny_model_dir("llava", "unit")


def _eval(*args) -> int:
    return main(["eval", *args, "--max-new-tokens", "4", "--no-progress"])


def _lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _json(x):
    return json.loads(json.dumps(x))  # as it reads back from a file: tuples as lists


@pytest.fixture
def no_model_load(monkeypatch):
    """Fails the test if a model is loaded (a rerun that reuses every prediction loads none)."""
    import mmpo.engines.session as session

    def refuse(*a, **k):
        raise AssertionError("the rerun loaded the model: some prediction was not reused")

    def install():
        monkeypatch.setattr(session, "open_model", refuse)
    return install


@pytest.mark.parametrize("name,shape", list(SHIPPED), ids=[f"{n}-{s}" for n, s in SHIPPED])
def test_benchmark_end_to_end_from_each_shipping_shape(name, shape, model, tmp_path, no_model_load, capsys):
    bench = get_benchmark(name)
    data = SHIPPED[(name, shape)](tmp_path / "data")
    out = tmp_path / "out"
    args = ["--model", str(model), "--benchmark", name, "--data", str(data), "--out", str(out)]
    assert _eval(*args) == 0, capsys.readouterr().err

    records = bench.read(data)
    assert 3 <= len(records) <= 6
    preds = _lines(out / "predictions.jsonl")
    assert [(p["pid"], p["mode"]) for p in preds] == [(r["pid"], m) for r in records for m in bench.modes]
    by_pid = {r["pid"]: r for r in records}
    for p in preds:  # the benchmark's own fields, as its rule gives them for that response
        fields = _json(bench.check(p["response"], by_pid[p["pid"]], p["mode"]))
        assert {"extracted", "verdict", "score"} <= set(fields)
        assert {k: p[k] for k in fields} == fields
    scores = json.loads((out / "scores.json").read_text())
    block = scores["benchmark"]
    assert block["name"] == name and block["kind"] == "rules" and set(block["modes"]) == set(bench.modes)
    for mode in bench.modes:
        assert block["modes"][mode] == _json(bench.summarize([p for p in preds if p["mode"] == mode]))
    assert scores["n_records"] == len(records)

    before = (out / "predictions.jsonl").read_bytes()
    capsys.readouterr()
    no_model_load()
    assert _eval(*args) == 0, capsys.readouterr().err
    assert f"reusing {len(preds)} predictions" in capsys.readouterr().out
    again = json.loads((out / "scores.json").read_text())
    assert again["resumed_predictions"] == len(preds) and again["recomputed_predictions"] == 0
    assert again["benchmark"] == block
    assert (out / "predictions.jsonl").read_bytes() == before


def test_suite_over_a_folder_of_benchmarks_as_they_ship(model, tmp_path):
    root = tmp_path / "benchmarks"
    json_file = SHIPPED[("mathvista", "release")](root)  # root/MathVista/testmini.json: a glob with a folder part
    SHIPPED[("m3cot", "parquet")](root)  # root/M3CoT/: the Hub download folder
    tsv = SHIPPED[("pope", "tsv")](root)  # root/POPE.tsv
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--max-new-tokens", "4", "--no-progress"]) == 0
    summary = json.loads((out / "suite.json").read_text())
    assert list(summary["ran"]) == ["mathvista", "m3cot", "pope"]  # in the paper's order
    assert {n: r["data"] for n, r in summary["ran"].items()} == {
        "mathvista": str(json_file), "m3cot": str(root / "M3CoT"), "pope": str(tsv)}
    for name, ran in summary["ran"].items():
        block = json.loads((out / name / "scores.json").read_text())["benchmark"]
        assert block["name"] == name and ran["primary"] == block["primary"]
        assert ran["scores"] == {m: block["modes"][m]["primary"] for m in block["modes"]}
        assert len(_lines(out / name / "predictions.jsonl")) == 2 * len(get_benchmark(name).read(ran["data"]))
    skipped = summary["skipped"]
    assert set(skipped) == set(BENCHMARK_NAMES) - {"mathvista", "m3cot", "pope"}
    for name, why in skipped.items():
        assert why.startswith("no file named ") and str(root) in why, (name, why)


def test_suite_skips_a_benchmark_that_asks_none_of_the_modes_given(model, tmp_path, capsys):
    """`--modes cot` with a judge given: POPE runs in cot alone; MM-Vet (asked directly only) is skipped
    with the reason, not a crash after POPE ran."""
    from _judge_data import mmvet_official
    from mmpo.engines.server import free_port

    root = tmp_path / "benchmarks"
    SHIPPED[("pope", "tsv")](root)
    mmvet_official(root / "mm-vet")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("{question} {answer} {response}")
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--modes", "cot", "--judge-base-url", f"http://127.0.0.1:{free_port()}/v1", "--judge-model", "j",
                 "--judge-prompt", str(prompt), "--max-new-tokens", "4", "--no-progress"]) == 0, capsys.readouterr().err
    summary = json.loads((out / "suite.json").read_text())
    assert list(summary["ran"]) == ["pope"] and list(summary["ran"]["pope"]["scores"]) == ["cot"]
    assert {p["mode"] for p in _lines(out / "pope" / "predictions.jsonl")} == {"cot"}
    assert "asked in direct only (--modes cot)" in summary["skipped"]["mm-vet"]
    assert list(summary["skipped"]) == [n for n in BENCHMARK_NAMES if n != "pope"]  # the paper's order


def test_suite_with_half_a_judge_fails_before_anything_runs(model, tmp_path, capsys):
    root = tmp_path / "benchmarks"
    SHIPPED[("pope", "tsv")](root)
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--judge-model", "j", "--no-progress"]) == 2
    assert "--judge-prompt" in capsys.readouterr().err
    assert not (out / "pope").exists()


def test_suite_rerun_with_its_out_below_the_data_root_finds_the_same_files(model, tmp_path):
    """OUT/pope and OUT/m3cot are not taken for POPE's and M3CoT's folders on the rerun (that made both
    ambiguous: skipped)."""
    root = tmp_path / "benchmarks"
    SHIPPED[("pope", "parquet")](root)  # root/POPE/data/test-00000-of-00001.parquet: found as the folder POPE
    SHIPPED[("m3cot", "parquet")](root)
    out = root / "evals"
    args = ["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
            "--max-new-tokens", "4", "--no-progress"]
    assert main(args) == 0
    first = json.loads((out / "suite.json").read_text())
    assert main(args) == 0
    again = json.loads((out / "suite.json").read_text())
    assert list(again["ran"]) == list(first["ran"]) == ["m3cot", "pope"]
    assert again == first


JUDGE_SHAPES = {("mm-vet", "release"): lambda root: _jd.mmvet_official(root / "mm-vet"),
                ("mm-vet", "tsv"): lambda root: _jd.mmvet_tsv(root),
                ("llava-bench", "release"): lambda root: _jd.llava_official(root / "llava-bench-in-the-wild"),
                ("llava-bench", "parquet"): lambda root: _jd.llava_parquet(root / "llava-bench" / "test.parquet"),
                ("llava-bench", "tsv"): lambda root: _jd.llava_tsv(root),
                ("mmhal", "release"): lambda root: _jd.mmhal_template(root / "MMHal-Bench", 6),
                ("mmhal", "parquet"): lambda root: _jd.mmhal_parquet(root / "mmhal" / "test.parquet", 6)}
GOOD_REPLY = {"mm-vet": "0.5", "llava-bench": "8 6\nAssistant 1 is better.", "mmhal": "Rating: 4"}


class _Judge:
    """Stands in for the judge's client: every third reply cannot be read, the rest are `GOOD_REPLY`."""

    sent: list[str] = []
    good = ""

    def __init__(self, base_urls, model, **kw):
        pass

    def imap(self, requests):
        from mmpo.engines.client import Sample

        for req in requests:
            _Judge.sent.append(req.text)
            reply = "I cannot tell." if len(_Judge.sent) % 3 == 1 else _Judge.good
            yield [Sample(text=reply, truncated=False, num_tokens=1)]


@pytest.mark.parametrize("name,shape", list(JUDGE_SHAPES), ids=[f"{n}-{s}" for n, s in JUDGE_SHAPES])
def test_judge_scored_benchmark_end_to_end_with_a_stand_in_judge(name, shape, model, tmp_path, monkeypatch,
                                                                 no_model_load, capsys):
    from mmpo.judge import run as judge_run

    monkeypatch.setattr(judge_run, "JudgeClient", _Judge)
    _Judge.sent, _Judge.good = [], GOOD_REPLY[name]
    bench = get_benchmark(name)
    data = JUDGE_SHAPES[(name, shape)](tmp_path / "data")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Question: {question}\nReference: {answer}\nAnswer: {response}\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["--model", str(model), "--benchmark", name, "--data", str(data), "--out", str(out),
            "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "judge", "--judge-prompt", str(prompt)]
    assert _eval(*args) == 0, capsys.readouterr().err

    records = bench.read(data)
    preds = _lines(out / "predictions.jsonl")
    assert [(p["pid"], p["mode"]) for p in preds] == [(r["pid"], "direct") for r in records]
    judgements = _lines(out / "judgements.jsonl")
    assert sorted(j["pid"] for j in judgements) == sorted(p["pid"] for p in preds)
    assert len(_Judge.sent) == len(preds)  # one request per prediction (an empty answer too)
    scores = json.loads((out / "scores.json").read_text())
    unparsed = [p for p in preds if p.get("judge_unparsed")]
    assert scores["judge"]["unparsed"] == len(unparsed) > 0 and scores["judge"]["model"] == "judge"
    assert all(p["score"] is None for p in unparsed)
    block = scores["benchmark"]
    assert block["name"] == name and block["kind"] == "judge" and list(block["modes"]) == ["direct"]
    assert block["modes"]["direct"] == _json(bench.summarize(preds))

    before = {f: (out / f).read_bytes() for f in ("predictions.jsonl", "judgements.jsonl")}
    _Judge.sent = []
    no_model_load()
    assert _eval(*args) == 0, capsys.readouterr().err
    assert _Judge.sent == []  # every judgement reused
    assert {f: (out / f).read_bytes() for f in before} == before
    assert json.loads((out / "scores.json").read_text())["benchmark"] == block


def test_suite_with_a_judge_runs_the_judge_scored_benchmarks_too(model, tmp_path, monkeypatch, capsys):
    from mmpo.judge import run as judge_run

    monkeypatch.setattr(judge_run, "JudgeClient", _Judge)
    _Judge.sent, _Judge.good = [], "Rating: 5"  # MMHal reads it; to MM-Vet and LLaVA-Bench it is unparsed
    root = tmp_path / "benchmarks"
    SHIPPED[("pope", "tsv")](root)
    for name in ("mm-vet", "llava-bench", "mmhal"):
        JUDGE_SHAPES[(name, "release")](root)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("{question} {answer} {response}", encoding="utf-8")
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--judge-base-url", "http://127.0.0.1:9/v1", "--judge-model", "judge", "--judge-prompt", str(prompt),
                 "--max-new-tokens", "4", "--no-progress"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    summary = json.loads((out / "suite.json").read_text())
    assert list(summary["ran"]) == ["pope", "mm-vet", "llava-bench", "mmhal"]
    for name in ("mm-vet", "llava-bench", "mmhal"):
        assert list(summary["ran"][name]["scores"]) == ["direct"]
        assert (out / name / "judgements.jsonl").is_file()
    assert summary["ran"]["mmhal"]["scale"] == "0-6" and "| mmhal (average) |" in printed
    assert summary["ran"]["mm-vet"]["scores"] == {"direct": None}  # no judgement readable: no score, not 0
    unparsed = {n: json.loads((out / n / "scores.json").read_text())["judge"]["unparsed"] for n in summary["ran"]
                if n != "pope"}
    assert unparsed["mm-vet"] == 4 and unparsed["llava-bench"] == 6 and 0 < unparsed["mmhal"] < 6


def test_suite_with_nothing_to_run_in_the_modes_given_says_why(model, tmp_path, capsys):
    root = tmp_path / "benchmarks"
    SHIPPED[("pope", "tsv")](root)
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out",
                 str(tmp_path / "suite"), "--modes", "boxed", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no benchmark to run" in err and "pope: found" in err and "asked in direct, cot only (--modes boxed)" in err


def test_the_check_examples_in_the_docs_give_the_verdict_they_show(capsys):
    """docs/benchmarks.md's and `mmpo check`'s own `--benchmark pope` examples: a direct answer, checked as
    one (under the default --mode cot it would be a format failure)."""
    import shlex
    from pathlib import Path

    import mmpo.commands.check as check

    root = Path(__file__).resolve().parents[2]
    lines = [x for x in (root / "docs" / "benchmarks.md").read_text().splitlines()
             if x.startswith("mmpo check --benchmark")]
    doc = check.__doc__.split("mmpo check --benchmark", 1)[1].split("\n\n", 1)[0].replace("\\\n", " ")
    lines.append("mmpo check --benchmark" + doc)
    assert len(lines) == 2
    for line in lines:
        capsys.readouterr()
        assert main(shlex.split(line)[1:]) == 0, line
        assert capsys.readouterr().out.splitlines()[0] == "correct", line


def test_a_suite_goes_on_past_a_bad_file_and_exits_non_zero(model, tmp_path, capsys):
    root = tmp_path / "benchmarks"
    SHIPPED[("mathvista", "release")](root)
    tsv = SHIPPED[("pope", "tsv")](root)
    lines = tsv.read_text().splitlines()
    tsv.write_text("\n".join(lines[:2] + [lines[2].replace("\tYes\t", "\tmaybe\t").replace("\tNo\t", "\tmaybe\t")])
                   + "\n")
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--max-new-tokens", "4", "--no-progress"]) == 2
    err = capsys.readouterr()
    summary = json.loads((out / "suite.json").read_text())
    assert list(summary["ran"]) == ["mathvista"] and list(summary["failed"]) == ["pope"]
    assert "POPE.tsv:3" in summary["failed"]["pope"] and "answer" in summary["failed"]["pope"]
    assert "FAILED pope" in err.out and "1 benchmark(s) failed" in err.err
