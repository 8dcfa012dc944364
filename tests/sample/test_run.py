"""The sampling stage end to end on a tiny model: records in, samples out, shards, bad input, pairs."""

import json
from pathlib import Path

import pytest

from mmpo.errors import InputError, MMPOError
from mmpo.pairs.build import build_pairs  # noqa: E402
from mmpo.pairs.options import PairOptions  # noqa: E402
from mmpo.sample.run import SampleOptions, prompt_seed, read_prompts, run_sampling  # noqa: E402


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from mmpo.synth import write_benchmark

    root = tmp_path_factory.mktemp("bench")
    data = write_benchmark(root, n=8, seed=1)
    # Open-ended prompts (no answer) in the plain layout, for DropoutNTP.
    recs = [json.loads(line) for line in data.read_text().splitlines()][:3]
    plain = root / "open.jsonl"
    plain.write_text("".join(json.dumps({"image": r["image"], "question": "Describe the picture."}) + "\n"
                             for r in recs), encoding="utf-8")
    return data, plain


def _opts(model_dir, data, out, **kw):
    base = dict(model=str(model_dir), data=str(data), n=3, out=str(out), seed=0, max_new_tokens=10,
                batch_size=3, progress=False)
    return SampleOptions(**{**base, **kw})


def test_sample_lines_shards_and_pairs(tmp_path, tiny_model_dir, bench):
    data, _ = bench
    model_dir = tiny_model_dir("llava")
    outs = [tmp_path / f"s{i}.jsonl" for i in range(2)]
    for i, out in enumerate(outs):
        s = run_sampling(_opts(model_dir, data, out, shard=f"{i}/2"))
        assert s["written"] == 4 and s["responses"] == 12
    pids = [json.loads(line)["pid"] for line in data.read_text().splitlines()]
    got = [[json.loads(line) for line in out.read_text().splitlines()] for out in outs]
    # The shards partition the prompts, each in input order.
    assert [x["pid"] for x in got[0]] == pids[0::2] and [x["pid"] for x in got[1]] == pids[1::2]
    line = got[0][0]
    assert set(line) == {"pid", "prompt", "image", "question", "answer", "source", "record", "truncated", "qhash",
                         "responses", "settings"}
    assert line["prompt"].startswith("Your task is to answer the question below.")
    assert line["settings"]["n"] == 3 and line["settings"]["shard"] == "0/2"
    assert line["source"] == "test" and line["answer"] not in (None, "")
    for r in line["responses"]:
        assert set(r) == {"text", "extracted", "verdict", "truncated"}
        assert r["verdict"] in ("correct", "incorrect", "format_failure")
    assert line["truncated"] == sum(r["truncated"] for r in line["responses"])
    # Rerunning a finished file writes nothing and changes nothing.
    before = outs[0].read_bytes()
    assert run_sampling(_opts(model_dir, data, outs[0], shard="0/2"))["written"] == 0
    assert outs[0].read_bytes() == before
    stats = build_pairs(PairOptions(samples=outs, out=tmp_path / "pairs"))
    assert stats["prompts"] == 8 and stats["responses"] == 24


def test_dropout_ntp_pairs_train_ready(tmp_path, tiny_model_dir, bench):
    _, plain = bench
    model_dir = tiny_model_dir("qwen2_vl")
    out = tmp_path / "ntp.jsonl"
    run_sampling(_opts(model_dir, plain, out, dropout_ntp=True, max_new_tokens=12))
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["pid"] for x in lines] == ["1", "2", "3"]  # plain JSONL: pid = line number
    for x in lines:
        assert x["answer"] is None
        for r in x["responses"]:
            assert r["verdict"] is None
            if len(r["text"].split()) >= 2:
                assert r["text"].startswith(r["ntp_prefix"]) and r["ntp_prefix"].strip()
                assert len(r["ntp_prefix"].split()) == max(1, min(len(r["text"].split()) - 1,
                                                                   int(len(r["text"].split()) * 0.5)))
    stats = build_pairs(PairOptions(samples=[out], out=tmp_path / "pairs"))
    assert stats["pairs"]["dropout_ntp"] > 0
    meta = json.loads((tmp_path / "pairs" / "meta.json").read_text())
    assert list(meta) == ["open_sr0.5_wo_image"]
    _check_trainer_reads(tmp_path / "pairs" / "meta.json", stats["pairs"]["total"])


def _check_trainer_reads(meta_path, n_pairs):
    from mmpo.data.pairs import load_pairs

    loaded = load_pairs(str(meta_path), seed=0)
    assert len(loaded.pairs) == n_pairs
    for p in loaded.pairs:
        assert all(str(img).endswith(".png") for img in p.images)


def test_resume_with_other_settings_is_refused(tmp_path, tiny_model_dir, bench):
    data, _ = bench
    model_dir = tiny_model_dir("llava")
    out = tmp_path / "s.jsonl"
    run_sampling(_opts(model_dir, data, out, limit=2, n=2))
    with pytest.raises(InputError, match="different settings") as exc:
        run_sampling(_opts(model_dir, data, out, limit=2, n=3))
    assert exc.value.path == str(out) and exc.value.line == 1


def test_bad_records_name_file_line_field_or_are_counted(tmp_path, tiny_model_dir, bench):
    data, _ = bench
    recs = [json.loads(line) for line in data.read_text().splitlines()][:3]
    for r in recs:
        r["image"] = str(data.parent / r["image"])
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps(recs[0]), "{not json", json.dumps({**recs[1], "image": "missing.png"}),
             json.dumps({**recs[2], "choices": "A or B"})]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_prompts(bad)
    assert (exc.value.path, exc.value.line) == (str(bad), 2)
    bad.write_text("\n".join(lines[:1] + lines[2:]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_prompts(bad)
    assert (exc.value.line, exc.value.field) == (2, "image")
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "s.jsonl"
    s = run_sampling(_opts(tiny_model_dir("llava"), bad, out, on_error="skip", n=2))
    assert s["written"] == 1 and s["skips"]["count"] == 3
    assert [(x["line"], x["field"]) for x in s["skips"]["items"]] == [(2, None), (3, "image"), (4, "choices")]
    assert json.loads((tmp_path / "s.jsonl.stats.json").read_text())["skips"]["count"] == 3


def test_options_and_seeds():
    with pytest.raises(MMPOError, match="--shard"):
        SampleOptions(model="m", data="d", n=2, out="o", shard="2/2")
    with pytest.raises(MMPOError, match="--n"):
        SampleOptions(model="m", data="d", n=0, out="o")
    assert prompt_seed(0, "a") == prompt_seed(0, "a") != prompt_seed(0, "b") != prompt_seed(1, "a")
    assert 0 <= prompt_seed(5, "x") < 2**63


def test_end_to_end_sample_pairs_train(tmp_path, tiny_model_dir, bench, monkeypatch):
    """sample -> pairs -> 2 training steps. A random tiny model never writes "Final answer:", so
    the verdicts are stood in by a fixed rule on the text (the plumbing is under test, not the
    checker, which has its own tests); the DropoutNTP side is real."""
    import hashlib

    import torch

    import mmpo.answers
    from mmpo.answers import Verdict
    from mmpo.cli import main

    def fake_check(response, record, **kw):
        h = hashlib.sha256(response.encode()).digest()[0] % 3
        return Verdict(extracted=None if h == 2 else f"v{h}", verdict=("correct", "incorrect", "format_failure")[h])

    monkeypatch.setattr(mmpo.answers, "check_answer", fake_check)
    data, plain = bench
    model_dir = tiny_model_dir("llava")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_sampling(_opts(model_dir, data, a, n=4, limit=6))
    run_sampling(_opts(model_dir, plain, b, n=2, dropout_ntp=True))
    stats = build_pairs(PairOptions(samples=[a, b], out=tmp_path / "pairs", max_pairs_per_prompt=2))
    assert stats["pairs"]["correctness"] > 0 and stats["pairs"]["format"] > 0 and stats["pairs"]["dropout_ntp"] > 0
    meta_path = tmp_path / "pairs" / "meta.json"
    assert set(json.loads(meta_path.read_text())) == {
        "test_pairs_vqa_correctness_rules", "test_pairs_vqa_format_rules", "open_sr0.5_wo_image"}
    _check_trainer_reads(meta_path, stats["pairs"]["total"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from pathlib import Path

        recipe = Path(__file__).resolve().parents[2] / "recipes" / "tiny_cpu.yaml"
        rc = main(["train", "--config", str(recipe), "--model_name_or_path", str(model_dir),
                   "--train_data", str(meta_path), "--output_dir", str(tmp_path / "run"), "--max_steps", "2",
                   "--per_device_train_batch_size", "2", "--logging_steps", "1", "--disable_tqdm", "true"])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 2 and all(x == x and x > 0 for x in losses)


def test_dropout_ntp_with_a_processor_that_needs_images_is_a_clear_error(tmp_path, tiny_model_dir, bench):
    _, plain = bench
    with pytest.raises(MMPOError, match=r"--dropout-ntp continues responses without the image, which this model's "
                                        r"processor \(PaliGemmaProcessor\) refuses"):
        run_sampling(_opts(tiny_model_dir("paligemma"), plain, tmp_path / "s.jsonl", n=2, dropout_ntp=True))


def _copy_bench(data, folder):
    """A private copy of the benchmark (records and images) that a test may edit."""
    import shutil

    shutil.copytree(data.parent, folder)
    return folder / data.name


def test_a_rerun_resamples_only_the_records_that_changed(tmp_path, tiny_model_dir, bench, capsys):
    data = _copy_bench(bench[0], tmp_path / "bench")
    model_dir = tiny_model_dir("llava")
    out = tmp_path / "s.jsonl"
    run_sampling(_opts(model_dir, data, out))
    first = [json.loads(line) for line in out.read_text().splitlines()]
    # Fix one gold answer, and redraw one image under the same file name (as a regenerated data folder).
    recs = [json.loads(line) for line in data.read_text().splitlines()]
    recs[2]["answer"] = "999"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    from PIL import Image

    Image.new("RGB", (64, 64), (250, 0, 0)).save(data.parent / recs[5]["image"])
    s = run_sampling(_opts(model_dir, data, out))
    assert (s["already_done"], s["recomputed"], s["written"]) == (6, 2, 2)
    assert "2 line(s) were sampled from records that changed since" in capsys.readouterr().err
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["pid"] for x in again] == [x["pid"] for x in first]  # input order, each pid once
    assert again[2]["answer"] == "999" and first[2]["answer"] != "999"
    assert [a == b for a, b in zip(first, again)] == [True, True, False, True, True, False, True, True]
    assert run_sampling(_opts(model_dir, data, out))["written"] == 0  # and now nothing is left to do
    # Another model's weights in the same folder are refused, as other settings are.
    with pytest.raises(InputError, match=r"different settings \(.*weights"):
        run_sampling(_opts(tiny_model_dir("llava", seed=1), data, out))


def test_a_processor_refusal_is_a_record_error_that_skip_counts(tmp_path, tiny_model_dir, bench):
    from PIL import Image

    data = _copy_bench(bench[0], tmp_path / "bench")
    recs = [json.loads(line) for line in data.read_text().splitlines()][:3]
    Image.new("RGB", (10000, 10), (128, 128, 128)).save(data.parent / "wide.png")
    recs[1]["image"] = "wide.png"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    model_dir = tiny_model_dir("qwen2_vl")
    with pytest.raises(InputError, match="aspect ratio is over 200") as exc:
        run_sampling(_opts(model_dir, data, tmp_path / "a.jsonl"))
    assert (exc.value.path, exc.value.line, exc.value.field) == (str(data), 2, "image")
    s = run_sampling(_opts(model_dir, data, tmp_path / "b.jsonl", on_error="skip"))
    assert s["written"] == 2 and s["skips"]["count"] == 1 and s["skips"]["items"][0]["line"] == 2


def test_prompt_source_query_without_a_query_fails_before_the_model_loads(tmp_path, bench, monkeypatch):
    import mmpo.models

    monkeypatch.setattr(mmpo.models, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    plain = bench[1]  # open-ended records in the plain layout: no query
    with pytest.raises(InputError, match="has no query") as exc:
        run_sampling(_opts(Path(__file__).parents[2] / "src/mmpo/assets/digits_base", plain, tmp_path / "q.jsonl",
                           prompt_source="query"))
    assert (exc.value.line, exc.value.field) == (1, "query")
