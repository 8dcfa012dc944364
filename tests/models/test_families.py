"""Every supported family through the whole loop, as a user runs it: `mmpo model tiny`, `mmpo sample`
(2 prompts x 2 samples), `mmpo pairs`, `mmpo train` (2 steps), `mmpo eval`, and the trained
checkpoint back through `load_model`.

A random tiny model never writes "Final answer:", so verdicts alternate correct / incorrect (the
plumbing is under test here; the answer checker has its own tests). Where a family is not on a
verified fast path, the plain path runs and says why in exactly one log line.
"""

from __future__ import annotations

import json
import logging

import pytest
import torch

from mmpo.cli import main
from mmpo.models import ARCHS, load_model
from mmpo.models.families import PREFILL_REUSE_TYPES, SHARED_PREFIX_TYPES

SAMPLE_FALLBACK = "mmpo: sampling with generate(num_return_sequences)"
TRAIN_FALLBACK = "mmpo: plain two-sequence preference forward"


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from mmpo.synth import write_benchmark

    return write_benchmark(tmp_path_factory.mktemp("bench"), n=2, seed=3)


@pytest.fixture
def alternating_checker(monkeypatch):
    import mmpo.answers
    from mmpo.answers import Verdict

    calls = iter(range(10**6))

    def check(response, record, **kw):
        k = next(calls) % 2
        return Verdict(extracted=str(k), verdict=("correct", "incorrect")[k])

    monkeypatch.setattr(mmpo.answers, "check_answer", check)


def _messages(caplog, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


@pytest.mark.parametrize("arch", ARCHS)
def test_family_runs_the_whole_loop(arch, bench, alternating_checker, tmp_path, caplog, capsys):
    from mmpo.train import logps

    logps._logged_reasons.clear()
    base = tmp_path / "base"
    assert main(["model", "tiny", "--arch", arch, "--out", str(base)]) == 0
    assert f"wrote tiny {arch}" in capsys.readouterr().out
    samples = tmp_path / "samples.jsonl"
    with caplog.at_level(logging.WARNING):
        assert main(["sample", "--model", str(base), "--data", str(bench), "--n", "2", "--max-new-tokens", "6",
                     "--out", str(samples), "--no-progress"]) == 0
    lines = [json.loads(x) for x in samples.read_text().splitlines()]
    assert [len(x["responses"]) for x in lines] == [2, 2]
    fallback = _messages(caplog, SAMPLE_FALLBACK)
    assert len(fallback) == (0 if arch in PREFILL_REUSE_TYPES else 1), fallback

    assert main(["pairs", str(samples), "--out", str(tmp_path / "pairs")]) == 0
    meta = tmp_path / "pairs" / "meta.json"
    assert json.loads((tmp_path / "pairs" / "stats.json").read_text())["pairs"]["total"] == 2

    run = tmp_path / "run"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["train", "--model_name_or_path", str(base), "--train_data", str(meta), "--output_dir",
                     str(run), "--max_steps", "2", "--per_device_train_batch_size", "1", "--logging_steps", "1",
                     "--learning_rate", "1e-3", "--use_cpu", "true", "--save_strategy", "no",
                     "--report_to", "none", "--disable_tqdm", "true", "--dataloader_num_workers", "0"]) == 0
    state = json.loads((run / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h and "train_runtime" not in h]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    fallback = _messages(caplog, TRAIN_FALLBACK)
    assert len(fallback) == (0 if arch in SHARED_PREFIX_TYPES else 1), fallback

    assert main(["eval", "--model", str(run), "--data", str(bench), "--out", str(tmp_path / "eval"),
                 "--max-new-tokens", "4", "--no-progress"]) == 0
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert {m: s["n"] for m, s in scores["modes"].items()} == {"direct": 2, "cot": 2}

    trained, processor = load_model(run)
    start, _ = load_model(base)
    assert type(trained).__name__ == type(start).__name__ and trained.config.model_type == arch
    moved = [n for (n, a), b in zip(trained.state_dict().items(), start.state_dict().values()) if not torch.equal(a, b)]
    assert moved, "training changed no weight"


def test_readme_support_table_is_what_the_tests_check():
    """Each cell of README's support table is backed by a test: loads (the loop above, every arch),
    prefill reuse (tests/sample/test_prefill.py runs every arch in PREFILL_REUSE_TYPES), shared
    prefix (tests/train/test_logps_families.py every arch in SHARED_PREFIX_TYPES), TRL parity
    (tests/train/test_trl_parity.py, the lists in tests/_support.py)."""
    from pathlib import Path

    from _support import ENGINE_TESTED_ARCHS, TRL_BOTH_FORWARDS, TRL_SHARED_PREFIX_ONLY

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Supported model families", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| family")]
    table = {row[1].strip("`"): row[2:] for row in rows}
    assert list(table) == list(ARCHS)
    assert PREFILL_REUSE_TYPES <= set(ARCHS) and SHARED_PREFIX_TYPES <= set(ARCHS)  # every claim has a tiny model
    for arch, (loads, prefill, shared, trl, engine) in table.items():
        # vLLM: "tested" only where tests/engines compares greedy vLLM with HF; others say what the bench saw.
        assert engine.startswith("tested") == (arch in ENGINE_TESTED_ARCHS), arch
        assert loads == "yes", arch
        assert prefill == ("yes" if arch in PREFILL_REUSE_TYPES else "no"), arch
        assert shared == ("yes" if arch in SHARED_PREFIX_TYPES else "no"), arch
        want = "both" if arch in TRL_BOTH_FORWARDS else "shared prefix" if arch in TRL_SHARED_PREFIX_ONLY else "no"
        assert trl.split(" (")[0] == want, arch
