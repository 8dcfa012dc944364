"""Judge-scored benchmarks against a real vLLM server on CPU serving a tiny random model as the judge.

Random weights reply garbage, so most judgements cannot be read: every one must still be recorded,
counted as unparsed and left unscored (never a silent 0), and a run killed mid-way must resume
without judging anything twice. Skipped without .venv-vllm (or $MMPO_VLLM_BIN) unless
MMPO_REQUIRE_VLLM=1, as the engine tests are.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _judge_data import mmhal_template, mmvet_official

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
SERVE_ARGS = ["--enforce-eager", "--max-model-len", "2048"]  # as tests/engines/conftest.py serves


def _vllm_bin() -> str:
    for candidate in (os.environ.get("MMPO_VLLM_BIN"), str(ROOT / ".venv-vllm" / "bin" / "vllm")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    if os.environ.get("MMPO_REQUIRE_VLLM") == "1":
        pytest.fail(f"{ROOT / '.venv-vllm' / 'bin' / 'vllm'} is missing: run `make vllm`")
    pytest.skip("no .venv-vllm (make vllm)")


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    from _support import ENGINE_SHARED_SERVER_ARCH
    from mmpo.engines.server import VLLMServer
    from mmpo.models import save_tiny

    vllm = _vllm_bin()
    model = save_tiny(ENGINE_SHARED_SERVER_ARCH, "serve", tmp_path_factory.mktemp("judge-model"), seed=0)
    server = VLLMServer(model, executable=vllm, extra_args=SERVE_ARGS,
                        log_path=tmp_path_factory.mktemp("judge-log") / "server.log")
    server.start()
    yield server
    server.stop()


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _predictions(path: Path, records, empty: int | None = None) -> Path:
    rows = [{"pid": r["pid"], "mode": "direct", "response": "" if i == empty else f"It is a red thing number {i}."}
            for i, r in enumerate(records)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_mmvet_judged_by_a_real_server_records_every_judgement_and_scores_none_silently(judge_server, tmp_path):
    from mmpo.benchmarks import get_benchmark
    from mmpo.benchmarks.mmvet import parse_judgement
    from mmpo.judge import JudgeOptions, judge_predictions

    bench = get_benchmark("mm-vet")
    records = bench.read(mmvet_official(tmp_path / "mmvet", 8))
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Ground truth: {answer}\nQuestion: {question}\nPrediction: {response}\nScore (0 to 1):",
                      encoding="utf-8")
    preds = [{"pid": r["pid"], "mode": "direct", "response": "" if i == 3 else f"a square {i}",
              **bench.check("" if i == 3 else f"a square {i}", r, "direct")} for i, r in enumerate(records)]
    opts = JudgeOptions(judge_base_url=(judge_server.base_url,), judge_model=judge_server.served_model_name,
                        judge_prompt=str(prompt), judge_max_tokens=24, judge_concurrency=4)
    out = judge_predictions(tmp_path / "out", bench, records, preds, opts, progress=False)
    lines = _lines(tmp_path / "out" / "judgements.jsonl")
    assert sorted(x["pid"] for x in lines) == sorted(r["pid"] for r in records)
    for p, line in zip(out, sorted(lines, key=lambda x: [r["pid"] for r in records].index(x["pid"]))):
        assert isinstance(line["reply"], str) and line["judge_model"] == judge_server.served_model_name
        assert line["score"] == parse_judgement(line["reply"])  # a score only where the reply gives one
        if line["score"] is None:
            assert p["judge_unparsed"] is True and p["score"] is None and line["parse_error"]
            assert p["verdict"] in (None, "format_failure")
        else:
            assert p["score"] == line["score"] and not p["judge_unparsed"]
    assert out[3]["verdict"] == "format_failure"
    summary = bench.summarize(out)
    unparsed = sum(1 for p in out if p["judge_unparsed"])
    assert summary["metrics"]["judge_unparsed"] == unparsed
    assert summary["metrics"]["judged"] == len(out) - unparsed
    if unparsed == len(out):
        assert summary["primary"] is None  # nothing readable: no score, not 0


def _judge_cmd(data: Path, preds: Path, out: Path, prompt: Path, server) -> list[str]:
    return [sys.executable, "-m", "mmpo.judge.run", "--benchmark", "mmhal", "--data", str(data), "--predictions",
            str(preds), "--out", str(out), "--judge-base-url", server.base_url, "--judge-model",
            server.served_model_name, "--judge-prompt", str(prompt), "--judge-concurrency", "1",
            "--judge-max-tokens", "64", "--no-progress"]


def test_a_judging_run_killed_mid_way_resumes_with_one_judgement_per_prediction(judge_server, tmp_path):
    from mmpo.benchmarks import get_benchmark
    from mmpo.judge import JudgeOptions, judge_predictions

    bench = get_benchmark("mmhal")
    data = mmhal_template(tmp_path / "mmhal", 24)
    records = bench.read(data)
    preds = _predictions(tmp_path / "predictions.jsonl", records, empty=5)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Objects: {image_content}\nQuestion: {question}\nStandard answer: {answer}\n"
                      "Answer: {response}\nEnd with 'Rating: N' (0-6).", encoding="utf-8")
    out = tmp_path / "out"
    judgements = out / "judgements.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(_judge_cmd(data, preds, out, prompt, judge_server), env=env,
                            stdout=(tmp_path / "log").open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if judgements.is_file() and judgements.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = judgements.read_bytes()
    written = before.count(b"\n")
    assert 0 < written < 24, (written, (tmp_path / "log").read_text())
    first = before[:before.rfind(b"\n") + 1]  # the whole lines the killed run wrote

    # The rerun: the finished judgements stay as they were, the rest are added, one per prediction.
    assert subprocess.run(_judge_cmd(data, preds, out, prompt, judge_server), env=env, capture_output=True,
                          text=True).returncode == 0
    after = judgements.read_bytes()
    assert after.startswith(first)
    lines = _lines(judgements)
    assert sorted(x["pid"] for x in lines) == sorted(r["pid"] for r in records)  # exactly one each
    # Nothing left to judge: a third run asks nobody (the judge address is dead) and reads the same file.
    from mmpo.engines.server import free_port

    opts = JudgeOptions(judge_base_url=(f"http://127.0.0.1:{free_port()}/v1",),
                        judge_model=judge_server.served_model_name, judge_prompt=str(prompt))
    pred_rows = [json.loads(x) for x in preds.read_text().splitlines()]
    scored = judge_predictions(out, bench, records, pred_rows, opts, progress=False)
    assert judgements.read_bytes() == after
    summary = bench.summarize(scored)
    unparsed = [p for p in scored if p["judge_unparsed"]]
    assert summary["metrics"]["judge_unparsed"] == len(unparsed) > 0  # garbage from random weights
    assert all(p["score"] is None and p["verdict"] in (None, "format_failure") for p in unparsed)
    assert scored[5]["verdict"] == "format_failure"
    assert summary["metrics"]["judged"] + len(unparsed) == 24


def test_mmpo_eval_mm_vet_judged_by_a_real_server_and_a_rerun_asks_nobody(judge_server, tiny_model_dir, tmp_path):
    """`mmpo eval --benchmark mm-vet` end to end: a tiny LLaVA answers, the vLLM server judges, scores.json
    counts the unreadable judgements and leaves them out of the score; a rerun reuses every judgement."""
    from mmpo.benchmarks import get_benchmark
    from mmpo.cli import main
    from mmpo.engines.server import free_port

    data = mmvet_official(tmp_path / "mmvet", 6)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Ground truth: {answer}\nQuestion: {question}\nPrediction: {response}\nScore (0 to 1):",
                      encoding="utf-8")
    out = tmp_path / "out"

    def run(url: str) -> int:
        return main(["eval", "--model", str(tiny_model_dir("llava", "unit")), "--benchmark", "mm-vet", "--data",
                     str(data), "--out", str(out), "--max-new-tokens", "6", "--judge-base-url", url,
                     "--judge-model", judge_server.served_model_name, "--judge-prompt", str(prompt),
                     "--judge-max-tokens", "24", "--no-progress"])

    assert run(judge_server.base_url) == 0
    preds = _lines(out / "predictions.jsonl")
    judgements = _lines(out / "judgements.jsonl")
    assert len(preds) == 6 and {p["mode"] for p in preds} == {"direct"}
    assert sorted(j["pid"] for j in judgements) == sorted(p["pid"] for p in preds)  # one per prediction
    scores = json.loads((out / "scores.json").read_text())
    unparsed = [p for p in preds if p.get("judge_unparsed")]
    assert scores["judge"]["unparsed"] == len(unparsed)
    assert scores["judge"]["model"] == judge_server.served_model_name
    block = scores["benchmark"]["modes"]["direct"]
    assert block == get_benchmark("mm-vet").summarize(preds)
    assert block["metrics"]["judge_unparsed"] == len(unparsed)
    assert block["metrics"]["judged"] == len(preds) - len(unparsed)
    judged = [p["score"] for p in preds if not p.get("judge_unparsed")]
    assert all(p["score"] is None for p in unparsed)
    if judged:  # the primary is the mean over the readable judgements only
        assert block["primary"] == pytest.approx(sum(judged) / len(judged))
    else:
        assert block["primary"] is None

    # The rerun reuses the answers and the judgements: nothing is asked (the judge address is dead).
    before = (out / "judgements.jsonl").read_bytes()
    assert run(f"http://127.0.0.1:{free_port()}/v1") == 0
    assert (out / "judgements.jsonl").read_bytes() == before
    assert json.loads((out / "scores.json").read_text())["benchmark"] == scores["benchmark"]
    assert json.loads((out / "scores.json").read_text())["resumed_predictions"] == 6
