"""The demo pipeline end to end at a tiny scale (the full demo is not part of CI)."""

import json
from pathlib import Path

import pytest

from mmpo.data.files import read_jsonl
from mmpo.demo.pipeline import DemoConfig, run_demo


@pytest.mark.slow
def test_tiny_demo_writes_every_stage(tmp_path):
    import torch

    torch.set_num_threads(2)
    out = tmp_path / "demo"
    cfg = DemoConfig.preset("tiny", lrs=(1e-5, 2e-5))  # two candidates: the validation selection runs
    results = run_demo(cfg, out)

    # Every stage's files exist and are valid.
    for split in ("train", "val", "test"):
        assert read_jsonl(out / "data" / f"{split}.jsonl")
    assert len(read_jsonl(out / "samples" / "train.jsonl")) == cfg.n_train
    meta = json.loads((out / "pairs" / "meta.json").read_text())
    assert meta and all((out / "pairs" / m["annotation"]).exists() for m in meta.values())
    for name in ("base", "mpo", "sft_chosen", "dpo"):
        scores = json.loads((out / "eval" / name / "scores.json").read_text())
        assert scores["modes"]["cot"]["n"] == cfg.n_test and scores["modes"]["direct"]["n"] == cfg.n_test
        assert len(read_jsonl(out / "eval" / name / "predictions.jsonl")) == 2 * cfg.n_test
    terms = {"mpo": {"loss/pref", "loss/quality", "loss/gen"}, "sft_chosen": {"loss/gen"}, "dpo": {"loss/pref"}}
    for name, expected in terms.items():
        state = json.loads((out / "models" / name / "trainer_state.json").read_text())
        logged = {k for e in state["log_history"] for k in e if k.startswith("loss/")}
        assert logged == expected, (name, logged)
    for png in ("direct_vs_cot.png", "training_curves.png"):
        assert (out / "report" / png).stat().st_size > 10_000

    # results.json has the documented shape.
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved["models"]) == {"base", "mpo", "sft_chosen", "dpo"}
    assert set(saved["shuffled_images"]) >= {"cot_accuracy", "reading_accuracy"}
    comps = {(c["a"], c["b"], c["mode"]) for c in saved["comparisons"]}
    assert {("mpo", "base", "cot"), ("mpo", "sft_chosen", "cot"), ("mpo", "dpo", "cot")} <= comps
    for c in saved["comparisons"]:
        assert c["ci95"][0] <= c["diff"] <= c["ci95"][1]
    selection = saved["settings"]["selection"]
    assert selection["chosen_lr"] in cfg.lrs and set(selection["candidates"]) == {"1e-05", "2e-05"}
    assert 0.0 <= selection["base_val_cot"] <= 1.0
    for lr in ("1e-05", "2e-05"):
        assert (out / "eval" / f"val-mpo-lr{lr}" / "scores.json").is_file()
    assert {"data", "base", "sample", "select", "train", "evaluate", "report"} <= set(saved["seconds"])

    # The inspector of the run: its entry page and every list (pairs, samples, each eval).
    site = out / "inspect"
    assert (site / "index.html").is_file() and (site / "data" / "site.js").is_file()
    manifest = json.loads((site / "data" / "site.js").read_text().removeprefix("MMPO.site(").rstrip().removesuffix(");"))
    assert manifest["pairs"]["n"] == saved["pairs"]["pairs"]["total"]
    assert manifest["samples"]["n"] == cfg.n_train
    assert [e["name"] for e in manifest["evals"]][:4] == ["base", "mpo", "sft_chosen", "dpo"]
    assert manifest["compare"] == ["base", "mpo"] and manifest["reports"][0]["figures"]


@pytest.mark.slow
def test_tiny_demo_with_two_seeds_reports_the_spread(tmp_path):
    cfg = DemoConfig.preset("tiny", seeds=(0, 1), lrs=(1e-5,))
    results = run_demo(cfg, tmp_path / "demo")
    seeds = results["seeds"]
    assert [row["seed"] for row in seeds["per_seed"]] == [0, 1]
    for name in ("base", "mpo", "sft_chosen", "dpo"):
        cot = [row["accuracy"][name]["cot"] for row in seeds["per_seed"]]
        assert seeds["spread"][name]["cot"]["mean"] == pytest.approx(sum(cot) / 2)
    # Each seed samples and trains into its own folder; the warm-up is shared.
    for seed in (0, 1):
        assert (tmp_path / "demo" / f"seed{seed}" / "pairs" / "meta.json").exists()
        assert (tmp_path / "demo" / "eval" / f"mpo-seed{seed}" / "scores.json").exists()


@pytest.mark.slow
def test_a_rerun_with_another_seed_into_the_same_folder_reuses_nothing_stale(tmp_path):
    """Seed 1 into a seed-0 folder: new data and images, so every sample, pair, model and answer is new."""
    import hashlib

    from mmpo.data.fingerprint import record_hash
    from mmpo.data.records import load_records

    out = tmp_path / "demo"
    run_demo(DemoConfig.preset("tiny"), out)
    weights = {n: hashlib.sha256((out / "models" / n / "model.safetensors").read_bytes()).hexdigest()
               for n in ("mpo", "sft_chosen", "dpo")}
    old_questions = [r["question"] for r in read_jsonl(out / "data" / "train.jsonl")]
    results = run_demo(DemoConfig.preset("tiny", seed=1), out)

    assert results["settings"]["config"]["seed"] == 1 and list(results["settings"]["config"]["seeds"]) == [1]
    train = {r["pid"]: r for r in load_records(out / "data" / "train.jsonl")}
    assert [r["question"] for r in train.values()] != old_questions  # the data did change
    samples = read_jsonl(out / "samples" / "train.jsonl")
    assert [s["pid"] for s in samples] == list(train)
    for s in samples:  # each line was sampled from the record as it is now, image included
        assert s["qhash"] == record_hash(train[s["pid"]]) and s["question"] == train[s["pid"]]["question"]
        assert s["settings"]["seed"] == 1
    by_image = {Path(r["image"]).name: r for r in train.values()}
    meta = json.loads((out / "pairs" / "meta.json").read_text())
    for subset in meta.values():
        for pair in read_jsonl(out / "pairs" / subset["annotation"]):
            assert by_image[Path(pair["image"]).name]["question"] in pair["question"]
    for name, digest in weights.items():  # retrained on the new pairs, not kept from seed 0
        assert hashlib.sha256((out / "models" / name / "model.safetensors").read_bytes()).hexdigest() != digest
    test = {r["pid"]: record_hash(r) for r in load_records(out / "data" / "test.jsonl")}
    for name in ("base", "mpo", "sft_chosen", "dpo"):
        preds = read_jsonl(out / "eval" / name / "predictions.jsonl")
        assert {p["pid"] for p in preds} == set(test)
        assert all(p["qhash"] == test[p["pid"]] for p in preds), name
