"""`mmpo sample` and `mmpo eval` through a real vLLM server on CPU, against the HF engine (docs/engines.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _support import ENGINE_OWN_SERVER_ARCHS
from mmpo.cli import main
from mmpo.data.layout import VERDICTS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _eval(model, data, out, *extra) -> int:
    return main(["eval", "--model", str(model), "--data", str(data), "--out", str(out), "--max-new-tokens", "24",
                 "--no-progress", *extra])


def _sample(model, data, out, *extra) -> int:
    return main(["sample", "--model", str(model), "--data", str(data), "--out", str(out), "--max-new-tokens", "24",
                 "--no-progress", *extra])


def _same_predictions(a: Path, b: Path) -> None:
    keys = ("pid", "mode", "response", "extracted", "verdict", "num_tokens", "truncated", "qhash")
    pa, pb = _lines(a / "predictions.jsonl"), _lines(b / "predictions.jsonl")
    assert [{k: p[k] for k in keys} for p in pa] == [{k: p[k] for k in keys} for p in pb]
    sa, sb = (json.loads((d / "scores.json").read_text()) for d in (a, b))
    assert sa["modes"] == sb["modes"]


def test_greedy_eval_through_the_server_equals_the_hf_engine(served, engine_data, tmp_path):
    model, server = served
    assert _eval(model, engine_data, tmp_path / "hf") == 0
    assert _eval(model, engine_data, tmp_path / "vllm", "--engine", "openai", "--base-url", server.base_url) == 0
    _same_predictions(tmp_path / "hf", tmp_path / "vllm")
    settings = json.loads((tmp_path / "vllm" / "scores.json").read_text())["settings"]
    assert settings["engine"] == "openai"
    assert settings["engine_run"] == {"engine": "openai", "base_urls": [server.base_url],
                                      "served_model": server.served_model_name}


def test_sampling_through_the_server_writes_n_scored_responses_per_prompt(served, engine_data, tmp_path, tiny_model_dir):
    model, server = served
    args = ("--engine", "openai", "--base-url", server.base_url, "--n", "8")
    assert _sample(model, engine_data, tmp_path / "a.jsonl", *args) == 0
    lines = _lines(tmp_path / "a.jsonl")
    pids = [json.loads(x)["pid"] for x in engine_data.read_text().splitlines()]
    assert [line["pid"] for line in lines] == pids
    for line in lines:
        assert len(line["responses"]) == 8
        assert all(r["verdict"] in VERDICTS and set(r) == {"text", "extracted", "verdict", "truncated"}
                   for r in line["responses"])
        assert line["settings"]["engine"] == "openai" and line["settings"]["n"] == 8
    assert len({r["text"] for r in lines[0]["responses"]}) > 1  # sampled, not 8 copies
    # The same line schema as the HF engine's.
    assert _sample(model, engine_data, tmp_path / "hf.jsonl", "--n", "2", "--limit", "2") == 0
    assert set(_lines(tmp_path / "hf.jsonl")[0]) == set(lines[0])
    # Seeded per (seed, pid): the same file again, and a rerun into it has nothing left to do.
    assert _sample(model, engine_data, tmp_path / "b.jsonl", *args) == 0
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert _sample(model, engine_data, tmp_path / "a.jsonl", *args) == 0
    assert json.loads((tmp_path / "a.jsonl.stats.json").read_text())["written"] == 0


def test_dropout_ntp_continues_without_the_image_as_the_hf_engine_does(served, engine_data, tmp_path):
    model, server = served
    open_ended = tmp_path / "open.jsonl"
    rows = [json.loads(x) for x in engine_data.read_text().splitlines()][:6]
    for r in rows:
        r.pop("answer")
        r["image"] = str(engine_data.parent / r["image"])
    open_ended.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    greedy = ("--dropout-ntp", "--temperature", "0", "--n", "1")
    assert _sample(model, open_ended, tmp_path / "hf.jsonl", *greedy) == 0
    assert _sample(model, open_ended, tmp_path / "vllm.jsonl", *greedy, "--engine", "openai",
                   "--base-url", server.base_url) == 0
    keys = ("text", "ntp_prefix", "ntp_continuation", "ntp_truncated")
    hf, vl = _lines(tmp_path / "hf.jsonl"), _lines(tmp_path / "vllm.jsonl")
    assert all("ntp_continuation" in r for line in vl for r in line["responses"])
    assert [[{k: r.get(k) for k in keys} for r in x["responses"]] for x in vl] == \
        [[{k: r.get(k) for k in keys} for r in x["responses"]] for x in hf]
    # DropoutNTP pairs from the server's samples.
    assert main(["pairs", str(tmp_path / "vllm.jsonl"), "--out", str(tmp_path / "pairs")]) == 0
    stats = json.loads((tmp_path / "pairs" / "stats.json").read_text())
    assert stats["pairs"]["dropout_ntp"] > 0, stats


def _mmpo(*args: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "mmpo.cli", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env)


def test_a_kill_of_mmpo_mid_sampling_then_a_rerun_ends_as_an_uninterrupted_run(served, engine_data, tmp_path):
    model, server = served
    args = ["sample", "--model", str(model), "--data", str(engine_data), "--max-new-tokens", "64", "--n", "4",
            "--engine", "openai", "--base-url", server.base_url, "--concurrency", "1", "--no-progress"]
    out = tmp_path / "killed.jsonl"
    proc = _mmpo(*args, "--out", str(out), log=tmp_path / "log")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_file() and out.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = out.read_text().count("\n")
    assert 0 < written < 12, written  # killed part way
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(tmp_path / "whole.jsonl")]) == 0
    assert out.read_text() == (tmp_path / "whole.jsonl").read_text()


def test_a_server_killed_mid_run_is_a_clear_error_and_a_rerun_through_another_server_ends_complete(
        served, vllm_bin, serve_args, engine_data, tmp_path):
    """The server dies under mmpo (SIGKILL of its process group): mmpo stops with an error naming the
    request, keeps every finished line whole, and a rerun through the other server asks only for the rest."""
    from mmpo.engines.server import VLLMServer

    model, shared = served
    own = VLLMServer(model, executable=vllm_bin, extra_args=serve_args, log_path=tmp_path / "own.log").start()
    common = ["sample", "--model", str(model), "--data", str(engine_data), "--max-new-tokens", "64", "--n", "4",
              "--engine", "openai", "--concurrency", "1", "--no-progress"]
    out = tmp_path / "cut.jsonl"
    try:
        proc = _mmpo(*common, "--base-url", own.base_url, "--out", str(out), log=tmp_path / "log")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_file() and out.read_text().count("\n") >= 3:
                break
            time.sleep(0.05)
        os.killpg(own.process.pid, signal.SIGKILL)  # the watchdog and the server with it
        assert proc.wait(timeout=120) == 2
    finally:
        own.stop()
    log = (tmp_path / "log").read_text()
    assert "no answer after" in log and "request " in log, log[-2000:]
    text = out.read_text()
    assert text.endswith("\n") and 0 < text.count("\n") < 12
    assert all(json.loads(line)["pid"] for line in text.splitlines())  # every line whole
    assert main([*common, "--base-url", shared.base_url, "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    pids = [json.loads(line)["pid"] for line in engine_data.read_text().splitlines()]
    assert [p["pid"] for p in lines] == [str(p) for p in pids]  # each pid once, in input order
    assert all(len(p["responses"]) == 4 for p in lines)


def test_a_server_that_serves_another_model_or_none_is_a_clear_error(served, engine_data, tmp_path, capsys):
    model, server = served
    assert _eval(model, engine_data, tmp_path / "a", "--engine", "openai", "--base-url", server.base_url,
                 "--served-model", "another") == 2
    assert "not 'another'" in capsys.readouterr().err
    from mmpo.engines.server import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    assert _eval(model, engine_data, tmp_path / "b", "--engine", "openai", "--base-url", dead,
                 "--served-model", "x") == 2
    assert "cannot list the models" in capsys.readouterr().err
    assert not (tmp_path / "b" / "predictions.jsonl").exists() or not (tmp_path / "b" / "predictions.jsonl").read_text()


def _server_processes(model: Path) -> list[int]:
    """Pids whose command line names the model folder (the vLLM API server, its engine, the watchdog)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(model) in cmd and "-m pytest" not in cmd and state != "Z":
            found.append(int(name))
    return found


@pytest.mark.parametrize("arch", ENGINE_OWN_SERVER_ARCHS)
def test_engine_vllm_serves_the_family_and_equals_hf(arch, vllm_bin, serve_args, engine_data, tmp_path):
    """mmpo starts vllm serve itself; SIGKILL of mmpo takes the server with it; the rerun equals HF."""
    from mmpo.models import save_tiny

    model = save_tiny(arch, "serve", tmp_path / arch, seed=0)
    vllm = ["--engine", "vllm", *[f"--vllm-arg={a}" for a in serve_args]]
    assert _eval(model, engine_data, tmp_path / "hf") == 0
    if arch == "llava":
        log = tmp_path / "killed.log"
        proc = _mmpo("eval", "--model", str(model), "--data", str(engine_data), "--out", str(tmp_path / "vllm"),
                     "--max-new-tokens", "24", "--no-progress", *vllm, log=log)
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and "vllm serves" not in log.read_text() and proc.poll() is None:
            time.sleep(0.2)
        assert "vllm serves" in log.read_text(), log.read_text()[-3000:]
        assert _server_processes(model)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60
        while _server_processes(model) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _server_processes(model), "a vLLM process outlived mmpo"
    assert _eval(model, engine_data, tmp_path / "vllm", *vllm) == 0
    _same_predictions(tmp_path / "hf", tmp_path / "vllm")
    assert not _server_processes(model)  # stopped at the end


def test_iterate_one_round_through_vllm_serves_the_round_1_checkpoint(vllm_bin, serve_args, engine_data, tmp_path):
    """sample (DropoutNTP on open-ended prompts) -> pairs -> train -> eval, every model served by vLLM."""
    from mmpo.models import save_tiny

    model = save_tiny("qwen2_vl", "serve", tmp_path / "start", seed=1)
    train = tmp_path / "train.jsonl"
    rows = [json.loads(x) for x in engine_data.read_text().splitlines()]
    for r in rows:
        r.pop("answer")
        r["image"] = str(engine_data.parent / r["image"])
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "iter"
    assert main(["iterate", "--model", str(model), "--data", str(train), "--eval-data", str(engine_data),
                 "--rounds", "1", "--out", str(out), "--n", "2", "--max-new-tokens", "24", "--dropout-ntp",
                 "--no-progress", "--engine", "vllm", *[f"--vllm-arg={a}" for a in serve_args],
                 "--train-set", "num_train_epochs=1", "--train-set", "per_device_train_batch_size=4",
                 "--train-set", "use_cpu=true", "--train-set", "save_strategy=no",
                 "--train-set", "ref_model=precomputed", "--train-set", "logging_steps=1"]) == 0
    rounds = json.loads((out / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    samples = _lines(out / "round1" / "samples.jsonl")
    assert samples and all(line["settings"]["engine"] == "vllm" for line in samples)
    assert json.loads((out / "round1" / "pairs" / "stats.json").read_text())["pairs"]["dropout_ntp"] > 0
    scores = json.loads((out / "round1" / "eval" / "scores.json").read_text())
    assert scores["settings"]["engine_run"]["engine"] == "vllm"
    assert Path(rounds[1]["model"]).resolve() == (out / "round1" / "model").resolve()
    # The round-1 checkpoint is what vLLM served: its greedy answers equal the HF engine's on it.
    assert _eval(out / "round1" / "model", engine_data, tmp_path / "hf1", "--max-new-tokens",
                 str(scores["settings"]["max_new_tokens"])) == 0
    hf = {(p["pid"], p["mode"]): p["response"] for p in _lines(tmp_path / "hf1" / "predictions.jsonl")}
    vl = {(p["pid"], p["mode"]): p["response"] for p in _lines(out / "round1" / "eval" / "predictions.jsonl")}
    assert hf == vl
