import json

import pytest

from mmpo.cli import main
from mmpo.errors import InputError, MMPOError
from mmpo.eval import plots, report


def _write_eval(d, name, direct, cot, *, ff=(0, 0), predictions=True):
    """An eval dir whose scores.json agrees with its predictions (direct/cot: lists of 0/1 per pid)."""
    d.mkdir(parents=True)
    preds, modes = [], {}
    for mode, outcomes, n_ff in (("direct", direct, ff[0]), ("cot", cot, ff[1])):
        for i, ok in enumerate(outcomes):
            verdict = "correct" if ok else ("format_failure" if i < n_ff else "incorrect")
            preds.append({"pid": str(i), "mode": mode, "response": "r", "extracted": None, "verdict": verdict})
        modes[mode] = {"n": len(outcomes), "accuracy": sum(outcomes) / len(outcomes),
                       "format_failure_rate": n_ff / len(outcomes), "by": {}}
    (d / "scores.json").write_text(json.dumps({"model": name, "data": "bench.jsonl", "modes": modes}))
    if predictions:
        (d / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return d


def _trainer_state(path, steps=6, with_eval=True):
    hist = []
    for s in range(1, steps + 1):
        hist.append({"step": s, "epoch": s / steps, "loss": 2.0 - 0.1 * s, "loss/pref": 0.69 - 0.01 * s,
                     "loss/quality": 1.38 - 0.02 * s, "loss/gen": 1.2 - 0.05 * s, "rewards/chosen": 0.01 * s,
                     "rewards/rejected": -0.02 * s, "rewards/margins": 0.03 * s,
                     "rewards/accuracies": min(1.0, 0.5 + 0.1 * s), "bco/delta": -0.001 * s, "learning_rate": 1e-5})
        if with_eval and s % 3 == 0:
            hist.append({"step": s, "eval_loss": 1.9 - 0.1 * s, "eval_rewards/margins": 0.02 * s})
    hist.append({"step": steps, "train_runtime": 1.0, "train_loss": 1.5})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"global_step": steps, "log_history": hist}))
    return hist


# 10 questions. base: direct 5/10, CoT 4/10 (CoT hurts). mpo: direct 6/10, CoT 8/10, a superset of base's CoT.
BASE_D = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
BASE_C = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
MPO_D = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
MPO_C = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]


def test_comparison_table_and_paired_intervals(tmp_path):
    a = _write_eval(tmp_path / "base", "base", BASE_D, BASE_C, ff=(2, 3))
    b = _write_eval(tmp_path / "mpo", "mpo", MPO_D, MPO_C)
    comp = report.write_comparison([a, b], tmp_path / "out", n_boot=2000)
    assert comp["baseline"] == "base"
    base_row, mpo_row = comp["rows"]
    assert base_row["direct"]["format_failure_rate"] == pytest.approx(0.2)
    assert base_row["cot_minus_direct"] == pytest.approx(-0.1)
    assert mpo_row["cot_minus_direct"] == pytest.approx(0.2)
    vs = mpo_row["vs_baseline_ci95"]
    assert vs["cot"]["estimate"] == pytest.approx(0.4) and vs["cot"]["n"] == 10
    assert vs["direct"]["estimate"] == pytest.approx(0.1)
    # mpo's CoT wins on 4 questions and loses on none: every resample's difference is >= 0.
    assert vs["cot"]["low"] >= 0.0 and vs["cot"]["high"] <= 1.0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| base (baseline) | 50.0 | 40.0 | -10.0 [" in md
    assert "+40.0 [" in md
    assert (tmp_path / "out" / "direct_vs_cot.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert saved["rows"][1]["vs_baseline_ci95"]["cot"]["estimate"] == pytest.approx(0.4)


def test_figure_points_at_the_right_coordinates(tmp_path, monkeypatch):
    a = _write_eval(tmp_path / "base", "base", BASE_D, BASE_C)
    b = _write_eval(tmp_path / "mpo", "mpo", MPO_D, MPO_C)
    captured = {}
    real = plots.direct_vs_cot

    def spy(*args, **kwargs):
        captured["fig"] = real(*args, **kwargs)
        return captured["fig"]

    monkeypatch.setattr(plots, "direct_vs_cot", spy)
    report.write_comparison([a, b], tmp_path / "out", names=["Base", "MPO"], n_boot=200)
    ax = captured["fig"].axes[0]
    series = {line.get_gid(): list(zip(line.get_xdata(), line.get_ydata())) for line in ax.lines if line.get_gid()}
    assert series == {"cot-hurts": [(50.0, 40.0)], "cot-helps": [(60.0, 80.0)]}
    labels = {t.get_text().split("\n")[0]: tuple(t.xy) for t in ax.texts}
    assert labels == {"Base": (50.0, 40.0), "MPO": (60.0, 80.0)}
    assert "direct" in ax.get_xlabel() and "(%)" in ax.get_xlabel() and "(%)" in ax.get_ylabel()
    assert ax.get_title()
    diag = [ln for ln in ax.lines if ln.get_linestyle() == "--"][0]
    assert list(diag.get_xdata()) == list(diag.get_ydata())  # the 45-degree line
    assert ax.get_legend() is None and captured["fig"].legends  # legend outside the axes


def test_cli_report_writes_both_pngs(tmp_path, capsys):
    a = _write_eval(tmp_path / "base", "base", BASE_D, BASE_C)
    b = _write_eval(tmp_path / "mpo", "mpo", MPO_D, MPO_C)
    _trainer_state(tmp_path / "run" / "trainer_state.json")
    out = tmp_path / "out"
    rc = main(["report", str(a), str(b / "scores.json"), str(tmp_path / "run"), "--out", str(out),
               "--names", "base,mpo,mpo-run", "--baseline", "base", "--n-boot", "500"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| mpo |" in text and "direct_vs_cot.png" in text
    for f in ("report.md", "comparison.json", "direct_vs_cot.png", "training_curves.png"):
        assert (out / f).stat().st_size > 0


def test_report_without_predictions_shows_accuracies_only(tmp_path):
    a = _write_eval(tmp_path / "base", "base", BASE_D, BASE_C, predictions=False)
    b = _write_eval(tmp_path / "mpo", "mpo", MPO_D, MPO_C)
    comp = report.write_comparison([a, b], tmp_path / "out", n_boot=100)
    assert comp["rows"][1]["vs_baseline_ci95"] == {}
    assert comp["rows"][1]["cot_minus_direct_ci95"]["estimate"] == pytest.approx(0.2)
    assert "base: no predictions.jsonl" in comp["markdown"]


def test_pairing_uses_shared_pids_only(tmp_path):
    a = _write_eval(tmp_path / "base", "base", BASE_D, BASE_C)
    b = _write_eval(tmp_path / "mpo", "mpo", MPO_D[:6], MPO_C[:6])
    comp = report.compare([report.load_eval(a), report.load_eval(b)], n_boot=100)
    iv = comp["rows"][1]["vs_baseline_ci95"]["cot"]
    # On pids 0-5: base CoT 4/6, mpo CoT 6/6.
    assert iv["n"] == 6 and iv["estimate"] == pytest.approx(2 / 6)
    assert "(n=6)" in report.comparison_markdown(comp)


def test_training_curves_plot_the_logged_values(tmp_path):
    hist = _trainer_state(tmp_path / "run" / "checkpoint-6" / "trainer_state.json")
    loaded = report.load_log_history(tmp_path / "run")  # found in the latest checkpoint
    assert loaded == hist
    fig = plots.training_curves({"run": loaded}, tmp_path / "curves.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["loss", "loss/pref", "loss/quality", "loss/gen", "rewards/chosen", "rewards/rejected",
                      "rewards/margins", "rewards/accuracies", "bco/delta"]
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines if ln.get_gid()}
    assert list(lines["run:loss/gen"].get_ydata()) == pytest.approx([1.2 - 0.05 * s for s in range(1, 7)])
    assert list(lines["run:eval_rewards/margins"].get_xdata()) == [3.0, 6.0]
    assert "run:eval_loss/gen" not in lines
    for ax in fig.axes:
        if ax.get_visible():
            assert ax.get_xlabel() and ax.get_ylabel()
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_training_curves_only_panels_present(tmp_path):
    fig = plots.training_curves({"r": [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "bco/delta": 0.1}]})
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["loss", "bco/delta"]
    with pytest.raises(ValueError, match="no known training metric"):
        plots.training_curves({"r": [{"step": 1, "learning_rate": 1.0}]})


def test_scores_markdown_lists_modes_and_breakdowns():
    scores = {"model": "m", "data": "d", "settings": {"scoring": "default"}, "modes": {
        "direct": {"n": 4, "accuracy": 0.5, "accuracy_ci95": [0.15, 0.85], "format_failure_rate": 0.25,
                   "truncated": 0, "by": {"skill": {"arithmetic": {"n": 4, "accuracy": 0.5},
                                                    "counting": {"n": 2, "accuracy": 1.0}}}},
        "cot": {"n": 4, "accuracy": 0.75, "format_failure_rate": 0.0, "truncated": 1,
                "by": {"skill": {"arithmetic": {"n": 4, "accuracy": 0.75}}}}}}
    md = report.scores_markdown(scores)
    assert "| direct | 4 | 50.0 | [15.0, 85.0] | 25.0 | 0 |" in md
    assert "| CoT | 4 | 75.0 | – | 0.0 | 1 |" in md
    assert "| counting | 2 | 100.0 | – |" in md
    assert report.SKILL_NOTE in md


def test_bad_inputs_name_what_is_wrong(tmp_path, capsys):
    bad = tmp_path / "bad" / "scores.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"model": "m", "modes": {"cot": {"n": 3}}}))
    with pytest.raises(InputError) as e:
        report.load_eval(bad)
    assert e.value.field == "modes.cot.accuracy" and e.value.path == str(bad)

    d = _write_eval(tmp_path / "p", "p", BASE_D, BASE_C)
    lines = (d / "predictions.jsonl").read_text().splitlines()
    lines[2] = json.dumps({"pid": "2", "mode": "direct"})
    (d / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        report.load_eval(d)
    assert e.value.line == 3 and e.value.field == "verdict"

    ok = _write_eval(tmp_path / "ok", "ok", BASE_D, BASE_C)
    with pytest.raises(MMPOError, match="baseline 'nope'"):
        report.write_comparison([ok], tmp_path / "out", baseline="nope")
    with pytest.raises(MMPOError, match="names"):
        report.write_comparison([ok, ok], tmp_path / "out")  # same name twice

    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "missing: does not exist" in capsys.readouterr().err
    assert main(["report", str(ok), "--names", "a,b", "--out", str(tmp_path / "o")]) == 2
    assert "--names needs one" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no scores.json and no trainer_state.json" in capsys.readouterr().err
    state = tmp_path / "s" / "trainer_state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"log_history": "oops"}))
    assert main(["report", str(state), "--out", str(tmp_path / "o")]) == 2
    assert "field 'log_history'" in capsys.readouterr().err
