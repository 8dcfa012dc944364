"""The benchmark table of `mmpo report`: benchmarks by models x modes, each benchmark's own metric, paired
bootstrap of that metric vs the baseline, footnotes where the questions differ, "-" for a missing eval.

Two fake benchmarks stand in for the registry's (registered by monkeypatching `get_benchmark`):
"pope" scores F1 of the "yes" class (not a mean over questions, so its bootstrap must recompute it),
broken down by subset; "mmhal" is a judge's mean score on a 0-6 scale, unparsed replies (score None)
left out. The evals are written by hand, so every number below is computed by hand.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest

import mmpo.benchmarks as benchmarks
from mmpo.benchmarks.base import Benchmark
from mmpo.cli import main
from mmpo.errors import MMPOError
from mmpo.eval import table as tbl
from mmpo.eval.report import load_eval
from mmpo.eval.stats import paired_bootstrap, paired_bootstrap_statistic


def _f1(preds):
    tp = sum(p["gold"] == "yes" and p["pred"] == "yes" for p in preds)
    fp = sum(p["gold"] == "no" and p["pred"] == "yes" for p in preds)
    fn = sum(p["gold"] == "yes" and p["pred"] != "yes" for p in preds)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


@dataclass(frozen=True)
class FakePope(Benchmark):
    def summarize(self, predictions):
        by = {}
        for sub in sorted({p["subset"] for p in predictions}):
            group = [p for p in predictions if p["subset"] == sub]
            by[sub] = {"f1": _f1(group), "n": len(group)}
        f1 = _f1(predictions)
        return {"primary": f1, "n": len(predictions), "metrics": {"f1": f1}, "by": {"subset": by}}


@dataclass(frozen=True)
class FakeJudge(Benchmark):
    def summarize(self, predictions):
        scored = [p["score"] for p in predictions if p["score"] is not None]
        mean = sum(scored) / len(scored) if scored else None
        return {"primary": mean, "n": len(predictions), "metrics": {"score": mean, "unparsed": len(predictions) - len(scored)},
                "by": {}}


POPE = FakePope(name="pope", title="POPE", primary="f1", scale="fraction")
MMHAL = FakeJudge(name="mmhal", title="MMHal", kind="judge", primary="score", scale="0-6")
FAKES = {"pope": POPE, "mmhal": MMHAL}

GOLD = ["yes", "yes", "yes", "no", "no", "no"]
SUBSET = ["random", "random", "adversarial", "random", "adversarial", "adversarial"]
# base: TP 1, FP 1, FN 2 -> F1 0.4; mpo: TP 2, FP 0, FN 1 -> F1 0.8. By subset: random 0.5 -> 1.0, adversarial 0 -> 0.
BASE_POPE = ["yes", "no", "no", "yes", "no", "no"]
MPO_POPE = ["yes", "yes", "no", "no", "no", "no"]
# the judge's scores: base mean of (3, 4, 5) = 4.0 (one reply unparsed), mpo mean 5.0
BASE_HAL = [3.0, 4.0, None, 5.0]
MPO_HAL = [4.0, 5.0, 6.0, 5.0]


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch):
    real = benchmarks.get_benchmark
    monkeypatch.setattr(benchmarks, "get_benchmark", lambda name: FAKES[name] if name in FAKES else real(name))


def _pope_preds(pred, mode, *, qhash=None):
    return [{"pid": f"p{i}", "mode": mode, "response": f"{a.capitalize()}.", "extracted": a,
             "verdict": "correct" if a == g else "incorrect", "score": float(a == g),
             "qhash": (qhash or {}).get(i, f"h{i}"), "gold": g, "pred": a, "subset": s}
            for i, (a, g, s) in enumerate(zip(pred, GOLD, SUBSET))]


def _hal_preds(scores, mode):
    return [{"pid": f"h{i}", "mode": mode, "response": f"answer {i}", "extracted": None,
             "verdict": "correct" if s is not None and s >= 4 else "incorrect", "score": s,
             "judge": f"[[{s}]]" if s is not None else "unclear", "qhash": f"q{i}",
             **({"judge_unparsed": True} if s is None else {})}
            for i, s in enumerate(scores)]


def write_eval(d, model, bench, preds_by_mode, *, data=None, fingerprint=None):
    """An eval dir in the format `mmpo eval --benchmark NAME` writes (scores.json + predictions.jsonl)."""
    d.mkdir(parents=True)
    preds = [p for ps in preds_by_mode.values() for p in ps]
    modes = {mo: {"n": len(ps), "accuracy": sum(p["verdict"] == "correct" for p in ps) / len(ps),
                  "format_failure_rate": 0.0, "by": {}} for mo, ps in preds_by_mode.items()}
    scores = {"model": model, "data": data or f"{bench.name}.tsv", "n_records": len(next(iter(preds_by_mode.values()))),
              "data_fingerprint": fingerprint or f"fp-{bench.name}", "modes": modes,
              "benchmark": {"name": bench.name, "title": bench.title, "kind": bench.kind, "primary": bench.primary,
                            "scale": bench.scale,
                            "modes": {mo: bench.summarize(ps) for mo, ps in preds_by_mode.items()}}}
    (d / "scores.json").write_text(json.dumps(scores))
    (d / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return d


@pytest.fixture
def evals(tmp_path):
    e = tmp_path / "evals"
    return {
        "base-hal": write_eval(e / "base-hal", "models/base", MMHAL,
                               {"direct": _hal_preds(BASE_HAL, "direct"), "cot": _hal_preds(BASE_HAL, "cot")}),
        "base-pope": write_eval(e / "base-pope", "models/base", POPE,
                                {"direct": _pope_preds(BASE_POPE, "direct"), "cot": _pope_preds(BASE_POPE, "cot")}),
        "mpo-pope": write_eval(e / "mpo-pope", "runs/mpo", POPE,
                               {"direct": _pope_preds(BASE_POPE, "direct"), "cot": _pope_preds(MPO_POPE, "cot")}),
        "mpo-hal": write_eval(e / "mpo-hal", "runs/mpo", MMHAL,
                              {"direct": _hal_preds(MPO_HAL, "direct"), "cot": _hal_preds(MPO_HAL, "cot")}),
    }


def _write_eval(d, name, direct, cot):
    """A generic eval dir (no benchmark block, as `mmpo eval --data FILE` writes) of bench.jsonl."""
    d.mkdir(parents=True)
    preds = [{"pid": str(i), "mode": mode, "response": "r", "extracted": None,
              "verdict": "correct" if ok else "incorrect"}
             for mode, outcomes in (("direct", direct), ("cot", cot)) for i, ok in enumerate(outcomes)]
    modes = {mode: {"n": len(o), "accuracy": sum(o) / len(o), "format_failure_rate": 0.0, "by": {}}
             for mode, o in (("direct", direct), ("cot", cot))}
    (d / "scores.json").write_text(json.dumps({"model": name, "data": "bench.jsonl", "modes": modes}))
    (d / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return d


def _runs(paths, names=None):
    runs = [load_eval(p) for p in paths]
    for r, n in zip(runs, tbl.model_names(runs, [str(p) for p in paths], names)):
        r.name = n
    return runs


def test_bootstrap_of_a_statistic_pairs_questions_like_the_mean_bootstrap():
    a = [1, 0, 1, 0, 0, 1, 1, 0, 0, 0]
    b = [1, 1, 1, 0, 1, 1, 1, 0, 1, 0]
    mean = paired_bootstrap_statistic(a, b, lambda v: sum(v) / len(v), n_boot=500, seed=3)
    ref = paired_bootstrap(a, b, n_boot=500, seed=3)
    assert (mean.estimate, mean.low, mean.high, mean.n) == pytest.approx((ref.estimate, ref.low, ref.high, ref.n))
    named = paired_bootstrap_statistic(a, b, lambda v: {"": sum(v) / len(v), "first": v[0] or None},
                                       n_boot=200, seed=3)
    assert set(named) == {"", "first"} and named[""].estimate == pytest.approx(0.3)


def test_table_numbers_by_hand(evals):
    runs = _runs([evals["base-hal"], evals["base-pope"], evals["mpo-pope"], evals["mpo-hal"]])
    table = tbl.benchmark_table(runs, baseline="base", n_boot=1000, seed=0)
    assert table["models"] == ["base", "mpo"] and table["modes"] == ["direct", "cot"]
    assert [r["name"] for r in table["rows"]] == ["pope", "mmhal"]   # the registry's order, not the input's
    pope, hal = table["rows"]
    assert pope["cells"]["base"]["cot"]["value"] == pytest.approx(0.4)
    assert pope["cells"]["mpo"]["cot"]["value"] == pytest.approx(0.8)
    d = pope["diffs"]["mpo"]["cot"]
    assert d["estimate"] == pytest.approx(0.4) and d["n"] == 6
    # mpo turns a false negative into a true positive and drops a false positive: F1 never falls on a resample.
    assert 0.0 <= d["low"] <= 0.4 <= d["high"] <= 1.0 and d["low"] < d["high"]
    assert pope["diffs"]["mpo"]["direct"] == {"estimate": 0.0, "low": 0.0, "high": 0.0, "n": 6}
    groups = {g["group"]: g for g in pope["groups"]}
    assert groups["random"]["cells"]["base"]["cot"] == {"value": 0.5, "n": 3}
    assert groups["random"]["cells"]["mpo"]["cot"]["value"] == 1.0
    assert groups["random"]["diffs"]["mpo"]["cot"]["estimate"] == pytest.approx(0.5)
    assert groups["adversarial"]["diffs"]["mpo"]["cot"] == {"estimate": 0.0, "low": 0.0, "high": 0.0, "n": 6}
    assert hal["cells"]["base"]["cot"]["value"] == pytest.approx(4.0)
    assert hal["cells"]["mpo"]["cot"]["value"] == pytest.approx(5.0)
    h = hal["diffs"]["mpo"]["cot"]
    assert h["estimate"] == pytest.approx(1.0) and h["low"] <= 1.0 <= h["high"] and h["n"] == 4
    assert table["notes"] == []

    md = tbl.table_markdown(table)
    lines = md.splitlines()
    assert lines[0] == "| benchmark | n | base direct | base CoT | mpo direct | mpo CoT | mpo − base direct | mpo − base CoT |"
    lo, hi = f"{100 * d['low']:+.1f}", f"{100 * d['high']:+.1f}"
    assert lines[2] == (f"| **POPE (f1, %)** | 6 | 40.0 | 40.0 | 40.0 | 80.0 | +0.0 [+0.0, +0.0] | +40.0 [{lo}, {hi}] |")
    assert lines[3] == "| POPE · subset: adversarial | 3 | 0.0 | 0.0 | 0.0 | 0.0 | +0.0 [+0.0, +0.0] | +0.0 [+0.0, +0.0] |"
    assert lines[4].startswith("| POPE · subset: random | 3 | 50.0 | 50.0 | 50.0 | 100.0 | +0.0 [+0.0, +0.0] | +50.0 [")
    hl, hh = f"{h['low']:+.2f}", f"{h['high']:+.2f}"
    assert lines[5] == (f"| **MMHal (score, 0-6)** | 4 | 4.00 | 4.00 | 5.00 | 5.00 | +1.00 [{hl}, {hh}] "
                        f"| +1.00 [{hl}, {hh}] |")
    assert "Baseline: base." in md and "1000 resamples, seed 0" in md

    # The same seed gives the same table; another seed other intervals around the same differences.
    again = tbl.benchmark_table(runs, baseline="base", n_boot=1000, seed=0)
    assert again == table
    other = tbl.benchmark_table(runs, baseline="base", n_boot=1000, seed=1)
    assert other["rows"][0]["diffs"]["mpo"]["cot"]["estimate"] == pytest.approx(0.4)


def test_csv_parses_back(evals, tmp_path):
    runs = _runs(list(evals.values()))
    table = tbl.benchmark_table(runs, baseline="base", n_boot=300, seed=0)
    paths = tbl.write_table(table, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [(r["benchmark"], r["group"]) for r in rows] == [("pope", ""), ("pope", "adversarial"),
                                                            ("pope", "random"), ("mmhal", "")]
    pope, adv, rnd, hal = rows
    assert (pope["metric"], pope["unit"], pope["n"], pope["title"]) == ("f1", "%", "6", "POPE")
    assert float(pope["base cot"]) == pytest.approx(40.0) and float(pope["mpo cot"]) == pytest.approx(80.0)
    assert float(pope["mpo - base cot"]) == pytest.approx(40.0)
    d = table["rows"][0]["diffs"]["mpo"]["cot"]
    assert float(pope["mpo - base cot low"]) == pytest.approx(100 * d["low"])
    assert float(pope["mpo - base cot high"]) == pytest.approx(100 * d["high"])
    assert rnd["breakdown"] == "subset" and float(rnd["mpo cot"]) == 100.0 and float(rnd["base direct"]) == 50.0
    assert adv["mpo - base cot low"] == "0" and adv["notes"] == ""
    assert (hal["unit"], hal["base cot"], hal["mpo cot"], hal["mpo - base direct"]) == ("0-6", "4", "5", "1")
    assert json.loads(paths["json"].read_text())["rows"][1]["cells"]["mpo"]["cot"]["value"] == 5.0


def test_missing_benchmark_and_other_questions_footnote(evals, tmp_path):
    # sft: POPE only, and one of its questions has other content (another hash): no interval, a footnote.
    sft = write_eval(tmp_path / "evals" / "sft-pope", "runs/sft", POPE,
                     {"cot": _pope_preds(MPO_POPE, "cot", qhash={2: "changed"})})
    runs = _runs([evals["base-pope"], evals["mpo-pope"], sft, evals["base-hal"], evals["mpo-hal"]])
    table = tbl.benchmark_table(runs, baseline="base", n_boot=200, seed=0)
    assert table["models"] == ["base", "mpo", "sft"]
    pope, hal = table["rows"]
    assert pope["diffs"]["sft"]["cot"] == {"estimate": pytest.approx(0.4), "note": 1}
    assert "direct" not in pope["diffs"]["sft"] and pope["cells"]["sft"]["direct"] is None
    assert table["notes"] == ["sft vs base on POPE: 6 and 6 questions, 5 of them the same (same pid and question "
                              "hash): not the same questions, so no interval"]
    assert hal["cells"]["sft"] is None and "sft" not in hal["diffs"]
    md = tbl.table_markdown(table).splitlines()

    def cells(line):
        return [c.strip() for c in line.strip("|").split("|")]

    assert cells(md[0])[-3:] == ["mpo − base CoT", "sft − base direct", "sft − base CoT"]
    pope_cells = cells(md[2])
    assert pope_cells[:8] == ["**POPE (f1, %)**", "6", "40.0", "40.0", "40.0", "80.0", "-", "80.0"]
    assert pope_cells[8] == "+0.0 [+0.0, +0.0]" and pope_cells[9].startswith("+40.0 [")
    assert pope_cells[10:] == ["-", "+40.0 (1)"]
    hal_cells = cells(next(line for line in md if line.startswith("| **MMHal")))
    assert hal_cells[2:8] == ["4.00", "4.00", "5.00", "5.00", "-", "-"]
    assert hal_cells[8].startswith("+1.00 [") and hal_cells[10:] == ["-", "-"]
    assert "(1) sft vs base on POPE: 6 and 6 questions, 5 of them the same" in "\n".join(md)
    rows = list(csv.DictReader(io.StringIO(tbl.table_csv(table))))
    assert rows[-1]["sft cot"] == "" and rows[-1]["sft - base cot"] == ""
    assert rows[0]["sft - base cot"] == "40" and rows[0]["sft - base cot low"] == ""
    assert rows[0]["notes"].startswith("sft vs base on POPE")


def test_no_predictions_and_unknown_module_footnotes(evals, tmp_path, monkeypatch):
    (evals["mpo-hal"] / "predictions.jsonl").unlink()
    runs = _runs(list(evals.values()))
    monkeypatch.setattr(benchmarks, "get_benchmark", lambda name: FAKES[name] if name != "pope" else _raise(name))
    table = tbl.benchmark_table(runs, baseline="base", n_boot=100, seed=0)
    pope, hal = table["rows"]
    assert set(pope["diffs"]["mpo"]["cot"]) == {"estimate", "note"}
    assert set(hal["diffs"]["mpo"]["cot"]) == {"estimate", "note"}
    assert any("not available" in n for n in table["notes"])
    assert any(n.startswith("mpo on MMHal: no predictions.jsonl") for n in table["notes"])


def _raise(name):
    raise MMPOError(f"benchmark {name!r} is not available in this version")


def test_model_names_default_mapping_and_per_input(evals):
    paths = [evals["base-pope"], evals["mpo-pope"]]
    runs = [load_eval(p) for p in paths]
    assert tbl.model_names(runs, [str(p) for p in paths], None) == ["base", "mpo"]
    assert tbl.model_names(runs, [str(p) for p in paths], ["runs/mpo=MPO"]) == ["base", "MPO"]
    assert tbl.model_names(runs, [str(p) for p in paths], ["base=B", "mpo=M"]) == ["B", "M"]
    assert tbl.model_names(runs, [str(p) for p in paths], ["x", "y"]) == ["x", "y"]
    with pytest.raises(MMPOError, match="nope match no eval"):
        tbl.model_names(runs, [str(p) for p in paths], ["nope=N"])
    with pytest.raises(MMPOError, match="one name per eval"):
        tbl.model_names(runs, [str(p) for p in paths], ["x"])
    runs[1].scores["model"] = "other/base"   # two models with one last path part: the whole strings
    assert tbl.model_names(runs, [str(p) for p in paths], None) == ["models/base", "other/base"]


def test_two_evals_of_one_model_on_one_benchmark_are_refused(evals, tmp_path):
    again = write_eval(tmp_path / "evals" / "base-pope-2", "models/base", POPE,
                       {"cot": _pope_preds(BASE_POPE, "cot")})
    with pytest.raises(MMPOError, match="two evals of model 'base' on POPE"):
        tbl.benchmark_table(_runs([evals["base-pope"], again]))


def test_cli_writes_the_table_and_report(evals, tmp_path, capsys):
    out = tmp_path / "report"
    main(["report", *map(str, evals.values()), "--names", "runs/mpo=MPO", "--baseline", "base",
          "--n-boot", "200", "--n-boot-summarize", "150", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| **POPE (f1, %)** | 6 | 40.0 | 40.0 | 40.0 | 80.0 | +0.0 [+0.0, +0.0] | +40.0 [" in printed
    for name in ("table.md", "table.csv", "table.json", "report.md", "comparison.json"):
        assert (out / name).is_file(), name
    md = (out / "report.md").read_text()
    assert md.startswith("## Benchmarks\n") and "## POPE: direct vs chain-of-thought accuracy" in md
    assert "## MMHal: direct vs chain-of-thought accuracy" in md
    assert (out / "direct_vs_cot.png").stat().st_size > 10_000 and "Figure: `direct_vs_cot.png`" in md
    assert "MPO − base CoT" in (out / "table.md").read_text()
    # POPE's F1 ran summarize on 150 resamples; MMHal's mean score the vectorised 200
    assert "(200 resamples; 150 where the benchmark's summarize runs on each, seed 0)" in md
    assert json.loads((out / "table.json").read_text())["n_boot_summarize"] == 150
    comp = json.loads((out / "comparison.json").read_text())
    assert set(comp["benchmarks"]) == {"pope", "mmhal"}
    # accuracy of POPE's CoT answers: base 3/6, MPO 5/6
    assert comp["benchmarks"]["pope"]["rows"][1]["cot"]["accuracy"] == pytest.approx(5 / 6)


def test_cli_one_named_benchmark_keeps_the_comparison_and_adds_the_table(evals, tmp_path):
    out = tmp_path / "report"
    main(["report", str(evals["base-pope"]), str(evals["mpo-pope"]), "--n-boot", "200", "--out", str(out)])
    md = (out / "report.md").read_text()
    assert md.startswith("## Direct vs chain-of-thought accuracy") and "\n## Benchmarks\n" in md
    assert (out / "direct_vs_cot.png").is_file() and (out / "table.csv").is_file()
    assert json.loads((out / "comparison.json").read_text())["baseline"] == "base"


def test_generic_evals_of_two_data_files_make_a_table(tmp_path):
    a = _write_eval(tmp_path / "a", "m1", [1, 0, 1, 0], [1, 1, 0, 0])
    b = _write_eval(tmp_path / "b", "m1", [1, 1, 1, 0], [1, 1, 1, 1])
    s = json.loads((b / "scores.json").read_text())
    s["data"] = "other.jsonl"
    (b / "scores.json").write_text(json.dumps(s))
    c = _write_eval(tmp_path / "c", "m2", [0, 0, 1, 0], [1, 0, 0, 0])
    out = tmp_path / "report"
    main(["report", str(a), str(b), str(c), "--n-boot", "100", "--out", str(out)])
    rows = list(csv.DictReader(io.StringIO((out / "table.csv").read_text())))
    assert [r["benchmark"] for r in rows] == ["bench.jsonl", "other.jsonl"]
    assert (rows[0]["m1 direct"], rows[0]["m2 cot"], rows[1]["m1 cot"], rows[1]["m2 cot"]) == ("50", "25", "100", "")
    assert float(rows[0]["m2 - m1 cot"]) == pytest.approx(-25.0) and rows[0]["m2 - m1 cot low"] != ""


def test_plain_comparison_is_unchanged(tmp_path, capsys):
    a = _write_eval(tmp_path / "base", "base", [1, 1, 0, 0], [1, 0, 0, 0])
    b = _write_eval(tmp_path / "mpo", "mpo", [1, 1, 1, 0], [1, 1, 1, 1])
    out = tmp_path / "report"
    main(["report", str(a), str(b), "--n-boot", "100", "--out", str(out)])
    assert not (out / "table.md").exists() and (out / "report.md").is_file()
    assert main(["report", str(a), str(b), "--names", "base=B", "--out", str(tmp_path / "r2")]) == 2
    assert "MODEL=NAME is for the benchmark table" in capsys.readouterr().err


@dataclass(frozen=True)
class FakeAccuracy(Benchmark):
    def summarize(self, predictions):
        def acc(ps):
            return sum(p["score"] for p in ps) / len(ps)

        by = {s: {"accuracy": acc([p for p in predictions if p["subset"] == s]),
                  "n": sum(p["subset"] == s for p in predictions)} for s in sorted({p["subset"] for p in predictions})}
        return {"primary": acc(predictions), "n": len(predictions), "metrics": {}, "by": {"subset": by}}


@pytest.mark.parametrize("bench, a, b", [
    (FakeAccuracy(name="acc", title="Acc"), _pope_preds(BASE_POPE, "cot"), _pope_preds(MPO_POPE, "cot")),
    (MMHAL, _hal_preds(BASE_HAL, "cot"), _hal_preds(MPO_HAL, "cot")),
])
def test_mean_benchmarks_take_the_vectorised_path_with_the_same_intervals(bench, a, b):
    from mmpo.eval.stats import paired_bootstrap_means

    fast = tbl._mean_path(bench, bench.primary, a, b)
    assert fast is not None
    assert set(fast[2]) == ({"by/subset/adversarial", "by/subset/random"} if bench.name == "acc" else set())
    quick = paired_bootstrap_means(fast[0], fast[1], groups=fast[2], n_boot=400, seed=5)
    slow = paired_bootstrap_statistic(a, b, tbl._statistic(bench, bench.primary), n_boot=400, seed=5)
    assert set(quick) == set(slow)
    for k in slow:
        assert (quick[k].estimate, quick[k].low, quick[k].high) == pytest.approx(
            (slow[k].estimate, slow[k].low, slow[k].high)), k
    # F1 is no mean of per-question scores: the slow path, summarize on every resample.
    assert tbl._mean_path(POPE, "f1", _pope_preds(BASE_POPE, "cot"), _pope_preds(MPO_POPE, "cot")) is None


@dataclass(frozen=True)
class FakeCircular(Benchmark):
    """CRPE-like: a question counts once, correct when all its rotations are (pids q0-r0, q0-r1, ...)."""

    bootstrap_unit: str = "question_id"

    def summarize(self, predictions):
        by_q = {}
        for p in predictions:
            by_q.setdefault(p["question_id"], []).append(p["score"] == 1.0)
        acc = sum(all(v) for v in by_q.values()) / len(by_q)
        return {"primary": acc, "n": len(by_q), "metrics": {"circular": acc}, "by": {}}


def test_a_benchmark_with_a_bootstrap_unit_resamples_whole_clusters(tmp_path, monkeypatch):
    circ = FakeCircular(name="crpe", title="CRPE")
    monkeypatch.setitem(FAKES, "crpe", circ)

    def preds(right, mode="cot"):   # 3 questions x 2 rotations; right: the rotations answered right
        return [{"pid": f"q{q}-r{r}", "mode": mode, "response": "", "extracted": None,
                 "verdict": "correct" if (q, r) in right else "incorrect", "score": float((q, r) in right),
                 "qhash": f"q{q}-r{r}", "question_id": f"q{q}"} for q in range(3) for r in range(2)]

    base = {(0, 0), (0, 1), (1, 0)}                 # circular: q0 only, 1/3
    mpo = {(0, 0), (0, 1), (1, 0), (1, 1)}          # q0 and q1, 2/3
    seen = []
    real = circ.summarize

    def spy(predictions):
        ids = [p["question_id"] for p in predictions]
        # whole clusters: every question drawn k times brings both its rotations k times
        seen.append(all(ids.count(q) % 2 == 0 for q in set(ids)))
        return real(predictions)

    object.__setattr__(circ, "summarize", spy)
    a = write_eval(tmp_path / "a", "base", circ, {"cot": preds(base)})
    b = write_eval(tmp_path / "b", "mpo", circ, {"cot": preds(mpo)})
    seen.clear()
    table = tbl.benchmark_table(_runs([a, b]), n_boot=200, seed=0)
    d = table["rows"][0]["diffs"]["mpo"]["cot"]
    assert d["estimate"] == pytest.approx(1 / 3) and d["low"] <= 1 / 3 <= d["high"]
    assert len(seen) == 2 * 200 + 2 and all(seen)


def test_cli_reads_suite_folders_and_their_globs(tmp_path, capsys):
    # `mmpo eval --suite paper --out evals/M` leaves evals/M/suite.json and evals/M/<benchmark>/.
    for model, pope, hal in (("models/base", BASE_POPE, BASE_HAL), ("runs/mpo", MPO_POPE, MPO_HAL)):
        root = tmp_path / "evals" / model.split("/")[-1]
        write_eval(root / "pope", model, POPE, {"cot": _pope_preds(pope, "cot")})
        write_eval(root / "mmhal", model, MMHAL, {"cot": _hal_preds(hal, "cot")})
        (root / "suite.json").write_text(json.dumps({"suite": "paper", "model": model, "skipped": {},
                                                     "ran": {"pope": {"out": str(root / "pope")},
                                                             "mmhal": {"out": "moved/elsewhere"}}}))
    base, mpo = tmp_path / "evals" / "base", tmp_path / "evals" / "mpo"
    out = tmp_path / "report"
    # a suite folder, and the other one as `evals/mpo/*` (its suite.json among its benchmark dirs)
    assert main(["report", str(base), *map(str, sorted(mpo.iterdir())), "--n-boot", "50", "--out", str(out)]) == 0
    table = json.loads((out / "table.json").read_text())
    assert table["models"] == ["base", "mpo"] and [r["name"] for r in table["rows"]] == ["pope", "mmhal"]
    assert table["rows"][0]["cells"]["mpo"]["cot"]["value"] == pytest.approx(0.8)
    # per-input names name every eval of a suite folder
    assert main(["report", str(base), str(mpo), "--names", "B,M", "--n-boot", "50", "--out", str(out)]) == 0
    assert json.loads((out / "table.json").read_text())["models"] == ["B", "M"]
    (mpo / "suite.json").write_text(json.dumps({"ran": {"pope": {}, "ghost": {}}}))
    assert main(["report", str(base), str(mpo), "--out", str(out)]) == 2
    assert "the suite lists 'ghost'" in capsys.readouterr().err


def test_crpe_like_rotations_are_resampled_together_and_repeats_stay_distinct(tmp_path, monkeypatch):
    """No bootstrap_unit declared: a `circular_of` field ties the rotations; a question drawn twice counts
    twice (its copies relabelled), so every resample has as many questions as the eval."""

    @dataclass(frozen=True)
    class Circular(Benchmark):
        def summarize(self, predictions):
            by_q = {}
            for p in predictions:
                by_q.setdefault(p["circular_of"], []).append(p)
            solved = [all(x["verdict"] == "correct" for x in v) and len({x["rotation"] for x in v}) == 2
                      for v in by_q.values()]
            sizes.append(len(by_q))
            return {"primary": sum(solved) / len(solved), "n": len(by_q), "metrics": {}, "by": {}}

    sizes = []
    crpe = Circular(name="crpe", title="CRPE")
    monkeypatch.setitem(FAKES, "crpe", crpe)

    def preds(right):
        return [{"pid": f"q{q}-r{r}", "mode": "cot", "response": "", "extracted": None,
                 "verdict": "correct" if (q, r) in right else "incorrect", "score": float((q, r) in right),
                 "qhash": f"q{q}-r{r}", "circular_of": f"q{q}", "rotation": r} for q in range(4) for r in range(2)]

    a = write_eval(tmp_path / "a", "base", crpe, {"cot": preds({(0, 0), (0, 1), (1, 0)})})
    b = write_eval(tmp_path / "b", "mpo", crpe, {"cot": preds({(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)})})
    sizes.clear()
    d = tbl.benchmark_table(_runs([a, b]), n_boot=300, seed=0)["rows"][0]["diffs"]["mpo"]["cot"]
    assert d["estimate"] == pytest.approx(0.5) and d["low"] <= 0.5 <= d["high"] and d["n"] == 4
    assert sizes and set(sizes) == {4}   # 4 questions in every resample, each whole


def test_a_benchmark_the_baseline_lacks_has_a_footnote(evals):
    runs = _runs([evals["base-pope"], evals["mpo-pope"], evals["mpo-hal"]])
    table = tbl.benchmark_table(runs, n_boot=50)
    hal = table["rows"][1]
    assert hal["cells"]["base"] is None and hal["diffs"]["mpo"] == {} and hal["no_baseline"] == 1
    assert table["notes"] == ["MMHal: the baseline base has no eval of it, so no differences"]
    line = next(x for x in tbl.table_markdown(table).splitlines() if x.startswith("| **MMHal"))
    assert line == "| **MMHal (score, 0-6)** (1) | 4 | - | - | 5.00 | 5.00 | - | - |"
    csv_hal = list(csv.DictReader(io.StringIO(tbl.table_csv(table))))[-1]
    assert csv_hal["notes"] == table["notes"][0] and csv_hal["base cot"] == "" and csv_hal["mpo cot"] == "5"
