"""`mmpo eval --benchmark`, `--suite` and `mmpo check --benchmark` with a stand-in benchmark: the
benchmark's reader, prompt and rule are the ones used, its metrics land in scores.json, a rerun
resumes, and the suite says what it skipped and why."""

from __future__ import annotations

import importlib.machinery
import json
import shutil
import sys
import types
from dataclasses import dataclass

import pytest

from mmpo.benchmarks.base import Benchmark
from mmpo.cli import main

N = 6
PROMPTS: list[str] = []


@dataclass(frozen=True)
class _Fake(Benchmark):
    def read(self, path, *, split=None):
        from mmpo.data.records import read_records

        recs = read_records(path, require_answer=True)
        for i, r in enumerate(recs):
            r["metadata"] = {**(r["metadata"] or {}), "half": "first" if i < len(recs) / 2 else "second"}
        return recs

    def prompt(self, record, mode):
        text = f"[fake {mode}] {record['question']}"
        PROMPTS.append(text)
        return text

    def check(self, response, record, mode):
        ok = len(response or "") % 2 == 0
        return {"extracted": (response or "")[:3] or None, "verdict": "correct" if ok else "incorrect",
                "score": 1.0 if ok else 0.0, "half": record["metadata"]["half"]}

    def summarize(self, predictions):
        n = len(predictions)
        by: dict = {}
        for p in predictions:
            cell = by.setdefault(p["half"], {"n": 0, "score": 0.0})
            cell["n"] += 1
            cell["score"] += p["score"]
        for cell in by.values():
            cell["score"] /= cell["n"]
        mean = sum(p["score"] for p in predictions) / n
        return {"primary": mean, "n": n, "metrics": {"score": mean}, "by": {"half": by}}


FAKE = _Fake(name="fake", title="Fake", reads="synthetic JSONL", scoring="even length", source="tests",
             primary="score", files=("fake-*.jsonl",))


@pytest.fixture
def fake(monkeypatch):
    import mmpo.benchmarks as registry

    module = types.ModuleType("fake_benchmark_module")
    module.BENCHMARK = FAKE
    module.__spec__ = importlib.machinery.ModuleSpec("fake_benchmark_module", None)
    monkeypatch.setitem(sys.modules, "fake_benchmark_module", module)
    monkeypatch.setattr(registry, "_MODULES", {**registry._MODULES, "fake": "fake_benchmark_module"})
    monkeypatch.setattr(registry, "BENCHMARK_NAMES", (*registry.BENCHMARK_NAMES, "fake"))
    PROMPTS.clear()
    return FAKE


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from mmpo.synth.benchmark import write_benchmark

    return write_benchmark(tmp_path_factory.mktemp("fake"), N, seed=1)


def _eval(model, data, out, *extra):
    return main(["eval", "--model", str(model), "--data", str(data), "--out", str(out), "--max-new-tokens", "5",
                 "--no-progress", *extra])


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_benchmark_reader_prompt_and_rule_decide_and_its_metrics_land_in_scores(fake, data, tmp_path,
                                                                                 tiny_model_dir, capsys):
    model = tiny_model_dir("llava", "unit")
    out = tmp_path / "ev"
    assert _eval(model, data, out, "--benchmark", "fake") == 0
    preds = _lines(out / "predictions.jsonl")
    scores = json.loads((out / "scores.json").read_text())
    assert len(preds) == 2 * N and len(PROMPTS) >= 2 * N
    assert all(p.startswith("[fake ") for p in PROMPTS)
    for p in preds:
        ok = len(p["response"]) % 2 == 0
        assert p["verdict"] == ("correct" if ok else "incorrect") and p["score"] == float(ok)
        assert p["half"] in ("first", "second")
    block = scores["benchmark"]
    assert block["name"] == "fake" and block["primary"] == "score" and block["kind"] == "rules"
    for mode in ("direct", "cot"):
        mine = [p for p in preds if p["mode"] == mode]
        assert block["modes"][mode]["primary"] == pytest.approx(sum(p["score"] for p in mine) / N)
        assert block["modes"][mode]["by"]["half"]["first"]["n"] == N // 2
        # the generic columns agree with the benchmark's verdicts
        assert scores["modes"][mode]["correct"] == sum(p["verdict"] == "correct" for p in mine)
    assert scores["settings"]["benchmark"] == "fake"

    # a rerun reuses every prediction (no model is loaded), and writes the same scores
    capsys.readouterr()
    PROMPTS.clear()
    assert _eval(model, data, out, "--benchmark", "fake") == 0
    assert f"reusing {2 * N} predictions" in capsys.readouterr().out
    assert json.loads((out / "scores.json").read_text())["benchmark"] == block
    # the same folder without the benchmark is another setting: refused
    assert _eval(model, data, out) == 2
    assert "benchmark" in capsys.readouterr().err


def test_benchmark_refuses_generic_scoring_flags_and_unknown_names(fake, data, tmp_path, capsys):
    assert _eval(tmp_path / "m", data, tmp_path / "o", "--benchmark", "fake", "--scoring", "mathvista") == 2
    assert "named benchmark asks and scores by its own rules" in capsys.readouterr().err
    assert _eval(tmp_path / "m", data, tmp_path / "o", "--benchmark", "nope") == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "fake" in err


def test_benchmark_list_says_what_each_reads_and_how_it_scores(fake, capsys):
    assert main(["eval", "--benchmark", "list"]) == 0
    out = capsys.readouterr().out
    assert "fake: Fake (rule-scored; table shows score)" in out
    assert "reads:   synthetic JSONL" in out and "scoring: even length" in out and "fake-*.jsonl" in out


def test_check_benchmark_prints_the_verdict_alone_on_the_first_line(fake, capsys):
    rec = json.dumps({"pid": "x", "question": "How many?", "answer": "2"})
    assert main(["check", "--benchmark", "fake", "--record", rec, "abcd"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "correct" and any(line.startswith("half:") for line in lines[1:])
    assert main(["check", "--benchmark", "fake", "--record", rec, "abc"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "incorrect"
    assert main(["check", "--benchmark", "fake", "--record", '{"pid": "x"}', "abc"]) == 2
    err = capsys.readouterr().err
    assert "--record" in err and "question" in err and "tmp" not in err
    assert main(["check", "--benchmark", "fake", "--record", "[1]", "abc"]) == 2
    assert main(["check", "--benchmark", "fake", "--answer", "2", "--record", rec, "abc"]) == 2


def test_suite_runs_what_it_finds_and_says_why_it_skipped_the_rest(fake, data, tmp_path, tiny_model_dir, capsys):
    model = tiny_model_dir("llava", "unit")
    root = tmp_path / "benchmarks"
    shutil.copytree(data.parent, root / "sub")
    (root / "sub" / data.name).rename(root / "sub" / "fake-test.jsonl")
    out = tmp_path / "suite"
    assert main(["eval", "--model", str(model), "--suite", "paper", "--data-root", str(root), "--out", str(out),
                 "--max-new-tokens", "5", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "suite.json").read_text())
    assert list(summary["ran"]) == ["fake"]
    assert (out / "fake" / "scores.json").is_file()
    ran = json.loads((out / "fake" / "scores.json").read_text())["benchmark"]["modes"]
    assert summary["ran"]["fake"]["scores"] == {m: ran[m]["primary"] for m in ("direct", "cot")}
    import mmpo.benchmarks as registry

    assert set(summary["skipped"]) == set(registry.BENCHMARK_NAMES) - {"fake"}
    assert all(summary["skipped"].values())
    assert "skipped" in printed

    # two candidate files: no guess, a reason naming both
    shutil.copy(root / "sub" / "fake-test.jsonl", root / "sub" / "fake-other.jsonl")
    from mmpo.eval.suite import find_suite_files

    found, skipped = find_suite_files(root, judge=False)
    assert "fake" not in found and "several files match" in skipped["fake"] and "fake-other.jsonl" in skipped["fake"]


def test_suite_needs_its_root(fake, tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path), "--suite", "paper", "--out", str(tmp_path / "o")]) == 2
    assert "--data-root" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path), "--suite", "paper", "--data-root", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_every_benchmark_is_documented_and_in_the_readme_table():
    from pathlib import Path

    from mmpo.benchmarks import BENCHMARK_NAMES, available, get_benchmark

    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The paper's benchmarks", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip().strip("`") for line in table.splitlines()
            if line.startswith("| `") and "--benchmark" not in line]
    assert rows == list(BENCHMARK_NAMES) == available()
    for name in BENCHMARK_NAMES:
        b = get_benchmark(name)
        assert f"### `{name}`: {b.title}" in docs and b.source in docs and b.scoring in docs, name
        assert b.kind in ("rules", "judge") and b.files, name


def test_suite_globs_with_a_folder_part_match_the_trailing_parts_of_a_path(tmp_path):
    from pathlib import Path

    from mmpo.eval.suite import find_suite_files, glob_matches

    assert glob_matches(Path("x/MathVista/testmini.json"), "MathVista/testmini.json")
    assert glob_matches(Path("mathvista/TESTMINI.json"), "MathVista/testmini.json")  # case-insensitive
    assert glob_matches(Path("testmini.json"), "testmini.json")
    assert not glob_matches(Path("testmini.json"), "MathVista/testmini.json")  # no folder above it
    assert not glob_matches(Path("Other/testmini.json"), "MathVista/testmini.json")
    assert glob_matches(Path("a/MathVista/data/testmini-00000-of-00001.parquet"), "MathVista/data/testmini-*.parquet")
    assert not glob_matches(Path("MathVista/data/x/testmini-0.parquet"), "MathVista/data/testmini-*.parquet")
    assert not glob_matches(Path("MathVerse/a/b.parquet"), "MathVerse/*.parquet")  # `*` stays in one part

    (tmp_path / "hub" / "MathVista").mkdir(parents=True)
    (tmp_path / "hub" / "MathVista" / "testmini.json").write_text("[]")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "testmini.json").write_text("[]")  # another benchmark's split name: not MathVista
    found, _ = find_suite_files(tmp_path, judge=False)
    assert found["mathvista"] == tmp_path / "hub" / "MathVista" / "testmini.json"


def test_suite_searches_through_links_to_folders_once(tmp_path):
    from mmpo.eval.suite import find_suite_files

    data = tmp_path / "store" / "MathVista"
    data.mkdir(parents=True)
    (data / "testmini.json").write_text("[]")
    root = tmp_path / "root"
    root.mkdir()
    (root / "MathVista").symlink_to(data, target_is_directory=True)  # the data root links to where the data lie
    (root / "loop").symlink_to(root, target_is_directory=True)  # a link back up is not followed round
    found, skipped = find_suite_files(root, judge=False)
    assert found == {"mathvista": root / "MathVista" / "testmini.json"}, skipped


def test_a_rerun_answers_again_what_the_benchmark_asks_differently_and_rescores_the_rest(
        fake, data, tmp_path, tiny_model_dir, capsys, monkeypatch):
    model = tiny_model_dir("llava", "unit")
    folder = tmp_path / "d"
    shutil.copytree(data.parent, folder)
    path = folder / data.name
    out = tmp_path / "ev"
    assert _eval(model, path, out, "--benchmark", "fake") == 0
    first = _lines(out / "predictions.jsonl")
    # metadata is outside the generic record hash, but a benchmark may read it: that record is asked again
    rows = _lines(path)
    rows[0]["metadata"] = {**(rows[0].get("metadata") or {}), "note": "edited"}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # and the rule changed since: every reused line is scored by the rule of this run
    monkeypatch.setattr(_Fake, "check", lambda self, response, record, mode: {
        "extracted": None, "verdict": "format_failure", "score": 0.0, "half": record["metadata"]["half"]})
    capsys.readouterr()
    assert _eval(model, path, out, "--benchmark", "fake") == 0
    assert f"reusing {2 * N - 2} predictions" in capsys.readouterr().out
    again = _lines(out / "predictions.jsonl")
    assert [p["response"] for p in again[2:]] == [p["response"] for p in first[2:]]
    assert {p["verdict"] for p in again} == {"format_failure"}
    assert json.loads((out / "scores.json").read_text())["benchmark"]["modes"]["cot"]["primary"] == 0.0
