"""What `mmpo inspect` writes: inputs recognised by their files, chunks and indexes, images once,
errors that name file and line, the printed summary."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from mmpo.cli import main
from mmpo.errors import InputError, MMPOError
from mmpo.inspector.inputs import find_inputs
from mmpo.inspector.markdown import to_html
from mmpo.inspector.run import write_inspector


def read_js(path):
    """The JSON arguments of a data file `MMPO.<call>(a, b, ...);`."""
    text = path.read_text(encoding="utf-8").strip()
    call, _, body = text.partition("(")
    assert call.startswith("MMPO.") and body.endswith(");"), text[:80]
    return json.loads("[" + body[:-2] + "]")


def index(out, key):
    name, value = read_js(out / "data" / key / "index.js")
    assert name == key
    return value


def column(ix, name):
    """A vocab column decoded back to its values."""
    return [ix["vocab"][name][code] for code in ix[name]]


def rows(out, key):
    found = []
    for path in sorted((out / "data" / key).glob("0*.js")):
        name, n, chunk = read_js(path)
        assert name == key and n == int(path.stem)
        found += chunk
    return found


def test_inputs_are_recognised_by_their_files(small_run):
    r = small_run.root
    found = find_inputs([small_run.samples, r / "pairs", r / "eval" / "base" / "scores.json", r / "eval" / "mpo",
                         r / "report" / "report.md"])
    assert [k for k, _ in found.given] == ["samples", "pairs", "eval", "eval", "report"]
    assert found.samples == [small_run.samples] and found.pairs == [r / "pairs"]
    assert [n for n, _ in found.evals] == ["base", "mpo"] and found.reports == [r / "report"]
    demo = find_inputs([r])
    assert demo.samples == [small_run.samples] and demo.pairs == [r / "pairs"]
    assert [n for n, _ in demo.evals] == ["base", "mpo"] and demo.compare == ("base", "mpo")
    assert demo.reports == [r / "report"] and small_run.test in demo.records


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "does not recognise"),
    (lambda d: (d / "x.txt").write_text("hi") and d / "x.txt", "not a file mmpo inspect reads"),
    (lambda d: (d / "p.jsonl").write_text('{"pid": 1, "mode": "cot", "verdict": "correct"}\n') and d / "p.jsonl",
     "a predictions file: give its eval folder"),
    (lambda d: (d / "s.jsonl").write_text('\n{"pid": 1, "question": "q"}\n') and d / "s.jsonl",
     "s.jsonl:2: not a samples file"),
    (lambda d: (d / "b.jsonl").write_text('{"prompt": \n') and d / "b.jsonl", "b.jsonl:1: malformed JSON"),
    (lambda d: (d / "ev").mkdir() or (d / "ev" / "scores.json").write_text("{}") and d / "ev",
     "needs predictions.jsonl"),
])
def test_unknown_inputs_are_named(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as err:
        find_inputs([path])
    assert str(path) in str(err.value)


def test_pairs_samples_and_evals_written_as_chunks_and_indexes(small_run, tmp_path):
    out = tmp_path / "site"
    summary = write_inspector([small_run.root], out, chunk_size=2)
    assert summary["index"] == str(out / "index.html")
    for name in ("index.html", "app.js", "style.css", "data/site.js"):
        assert (out / name).is_file(), name
    manifest = read_js(out / "data" / "site.js")[0]
    assert manifest["pairs"]["n"] == small_run.n_pairs and manifest["pairs"]["chunks"] == 7  # 13 rows, 2 a file
    assert [e["name"] for e in manifest["evals"]] == ["base", "mpo"] and manifest["compare"] == ["base", "mpo"]

    ix = index(out, "pairs")
    assert ix["n"] == 13 and len(ix["pid"]) == 13
    assert {p: ix["pid"].count(p) for p in set(ix["pid"])} == small_run.pairs_by_pid
    subsets = column(ix, "subset")
    assert subsets.count("digits_pairs_vqa_format_rules") == small_run.n_format
    assert set(column(ix, "verdict")) == {"correct vs incorrect", "correct vs format_failure"}
    bucket = dict(zip(ix["pid"], column(ix, "bucket")))
    p = small_run.pids
    assert [bucket[p[i]] for i in (0, 1, 3, 5)] == ["26-50%", "1-25%", "51-75%", "1-25%"]
    assert ix["order"]["bucket"] == ["1-25%", "26-50%", "51-75%"]  # buckets in their natural order
    qtype = dict(zip(ix["pid"], column(ix, "qtype")))
    assert qtype == {r["pid"]: r["question_type"] for r in small_run.records if r["pid"] in qtype}
    assert all(small_run.records[0]["question"].lower().split()[0] in ix["texts"][ix["text"][i]]
               for i in range(13) if ix["pid"][i] == p[0])

    pairs = rows(out, "pairs")
    assert len(pairs) == 13 and [r["pid"] for r in pairs] == ix["pid"]
    first = pairs[0]
    assert first["question"] == small_run.records[0]["question"] and first["prompt"].startswith("Answer with steps.")
    assert first["chosen"]["verdict"] == "correct" and first["rejected"]["verdict"] == "incorrect"
    assert first["rejected"]["extracted"] == "nopey" and first["pass"] == [2, 4]
    assert first["answer"] == str(small_run.records[0]["answer"])

    samples = rows(out, "samples")
    assert [s["pid"] for s in samples] == p and [s["correct"] for s in samples] == [2, 1, 4, 3, 0, 1]
    assert column(index(out, "samples"), "bucket") == ["26-50%", "1-25%", "100%", "51-75%", "0%", "1-25%"]

    base, mpo = rows(out, "eval/0"), rows(out, "eval/1")
    assert [r["pid"] for r in base] == small_run.test_pids
    assert set(base[0]["modes"]) == {"direct", "cot"} and base[0]["question"]
    assert base[0]["image"].startswith("images/")
    ix0 = index(out, "eval/0")
    assert [v == "correct" for v in column(ix0, "v_cot")] == [True, True, True, False, False, False]
    assert column(index(out, "eval/1"), "v_direct")[5] == "correct" and mpo[5]["modes"]["direct"]["verdict"] == "correct"

    # Each image once in images/: the 6 train and 6 test images, hard-linked (same file system).
    images = sorted((out / "images").iterdir())
    assert len(images) == 12 == summary["images"]["files"] == summary["images"]["linked"]
    src = small_run.root / "data" / small_run.records[0]["image"]
    assert os.path.samefile(out / first["image"], src)
    report = manifest["reports"][0]
    assert {f["name"] for f in report["figures"]} == {"direct_vs_cot.png"}
    assert (out / report["figures"][0]["src"]).stat().st_size > 1000
    assert "<table>" in report["parts"][0]["html"]


def test_pairs_alone_find_their_samples_through_stats_json(small_run, tmp_path):
    out = tmp_path / "site"
    summary = write_inspector([small_run.root / "pairs"], out)
    assert any("named in its stats.json" in n for n in summary["notes"])
    assert set(index(out, "pairs")["pid"]) == set(small_run.pairs_by_pid)


def test_pairs_without_samples_fall_back_to_the_subset_kind(small_run, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(small_run.root / "pairs", pairs)
    (pairs / "stats.json").unlink()
    summary = write_inspector([pairs], tmp_path / "site")
    assert any("13 pair(s) not found in any samples file" in n for n in summary["notes"])
    ix = index(tmp_path / "site", "pairs")
    assert set(column(ix, "bucket")) == {"unknown"} and set(ix["pid"]) == {None}
    assert set(column(ix, "verdict")) == {"correct vs incorrect", "correct vs format_failure"}


def test_bad_samples_line_is_named_or_skipped_and_listed(small_run, tmp_path):
    bad = tmp_path / "samples.jsonl"
    lines = small_run.samples.read_text().splitlines()
    broken = json.loads(lines[2])
    broken["responses"][0]["verdict"] = "maybe"
    bad.write_text("\n".join([lines[0], lines[1], json.dumps(broken), "{not json"]) + "\n")
    with pytest.raises(InputError, match=r"samples.jsonl:3, field 'responses\[0\].verdict'"):
        write_inspector([bad], tmp_path / "a")
    summary = write_inspector([bad], tmp_path / "b", on_error="skip")
    assert summary["samples"]["n"] == 2 and summary["skips"]["count"] == 2
    assert [s["line"] for s in summary["skips"]["items"]] == [3, 4]


def test_eval_without_its_records_says_so_and_data_finds_them(small_run, tmp_path):
    ev = tmp_path / "ev"
    shutil.copytree(small_run.root / "eval" / "mpo", ev)
    scores = json.loads((ev / "scores.json").read_text())
    scores["data"] = "nowhere/test.jsonl"
    (ev / "scores.json").write_text(json.dumps(scores))
    summary = write_inspector([ev], tmp_path / "a")
    assert any("pass --data FILE" in n for n in summary["notes"])
    assert rows(tmp_path / "a", "eval/0")[0]["question"] is None
    write_inspector([ev], tmp_path / "b", data=[small_run.test])
    assert rows(tmp_path / "b", "eval/0")[0]["question"] == json.loads(small_run.test.read_text().splitlines()[0])["question"]


def test_output_folder_rules(small_run, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(MMPOError, match="not empty and was not written by mmpo inspect"):
        write_inspector([small_run.samples], foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    out = tmp_path / "site"
    write_inspector([small_run.root], out)
    assert (out / "data" / "pairs").is_dir()
    write_inspector([small_run.samples], out)  # a rerun replaces the whole site
    assert not (out / "data" / "pairs").exists() and (out / "data" / "samples" / "index.js").is_file()
    with pytest.raises(MMPOError, match="no eval named 'sft'"):
        write_inspector([small_run.root], out, compare=("base", "sft"))


def test_markdown_is_escaped():
    html = to_html("## Title <b>\n\n| a | n |\n|---|---:|\n| <script> | `1` |\n\n- **x** & y\n\ntext <i>\n")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;i&gt;" in html
    assert '<td class="num"><code>1</code></td>' in html and "<li><strong>x</strong> &amp; y</li>" in html
    assert "<h3>Title &lt;b&gt;</h3>" in html


def test_cli_prints_what_it_wrote_and_errors_in_one_line(small_run, tmp_path, capsys):
    out = tmp_path / "site"
    assert main(["inspect", str(small_run.root), "--out", str(out), "--compare", "mpo,base"]) == 0
    printed = capsys.readouterr().out
    assert "inspector: 13 pairs, 6 prompts of samples, 2 eval(s) (base, mpo), 1 report(s); 12 image(s)" in printed
    assert f"open {(out / 'index.html').resolve().as_uri()}" in printed
    assert read_js(out / "data" / "site.js")[0]["compare"] == ["mpo", "base"]
    assert main(["inspect", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"mmpo inspect: error: {tmp_path / 'nope'}: does not exist"
    assert main(["inspect", str(small_run.root), "--out", str(out), "--compare", "mpo"]) == 2
    assert "--compare takes two eval names" in capsys.readouterr().err


def test_inspecting_loads_no_model_library(small_run, tmp_path):
    import subprocess
    import sys

    code = ("import sys; from mmpo.inspector.run import write_inspector; "
            f"write_inspector([{str(small_run.root)!r}], {str(tmp_path / 'site')!r}); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]"


def test_bad_pairs_line_is_named_or_skipped_and_listed(small_run, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(small_run.root / "pairs", pairs)
    ann = pairs / "digits_pairs_vqa_format_rules.jsonl"
    lines = ann.read_text().splitlines()
    ann.write_text("\n".join([lines[0], lines[1].replace('"chosen"', '"chosn"'), lines[2]]) + "\n")
    with pytest.raises(InputError, match=r"format_rules.jsonl:2, field 'chosen': missing required field"):
        write_inspector([pairs], tmp_path / "a")
    summary = write_inspector([pairs], tmp_path / "b", on_error="skip")
    assert summary["pairs"]["n"] == small_run.n_pairs - 1
    assert [(s["file"], s["line"], s["field"]) for s in summary["skips"]["items"]] == [(str(ann), 2, "chosen")]


def test_search_text_is_the_question_not_the_shared_instructions(small_run, tmp_path):
    write_inspector([small_run.root], tmp_path / "site")
    ix = index(tmp_path / "site", "pairs")
    assert not any("answer with steps" in t for t in ix["texts"])
    assert ix["texts"][ix["text"][0]] == " ".join(
        f"{small_run.pids[0]} {small_run.records[0]['question']} {small_run.records[0]['answer']}".lower().split())


def test_a_named_benchmark_eval_shows_its_metrics_groups_and_fields(small_run, bench_eval, tmp_path, monkeypatch):
    import mmpo.benchmarks as benchmarks
    from _bench_eval import BENCH_SUBSET, FakeReader

    monkeypatch.setattr(benchmarks, "get_benchmark", lambda name: FakeReader())
    out = tmp_path / "site"
    summary = write_inspector([bench_eval, small_run.root / "eval" / "base"], out)
    bench, base = summary["evals"]
    assert base["benchmark"] is None and base["groups"] == []
    b = bench["benchmark"]
    assert (b["name"], b["title"], b["primary"], b["scale"]) == ("pope", "POPE", "f1", "fraction")
    assert b["modes"]["cot"]["primary"] == 0.8 and b["modes"]["direct"]["by"]["subset"]["random"]["f1"] == 0.5
    assert bench["groups"] == ["subset"] and not any("pope-mpo" in n for n in summary["notes"])
    ix = index(out, "eval/0")
    assert column(ix, "g_subset") == BENCH_SUBSET
    got = rows(out, "eval/0")
    from mmpo.eval.run import load_eval_records

    first = load_eval_records(small_run.test)[0]
    assert got[0]["question"] == first["question"] and got[0]["image"]   # records read by the benchmark
    assert got[0]["modes"]["direct"]["fields"] == {"gold": "yes", "pred": "yes", "subset": "random"}
    assert got[0]["modes"]["direct"]["score"] == 1.0 and "judge_unparsed" not in got[0]["modes"]["direct"]
    last = got[5]["modes"]["cot"]
    assert last["score"] is None and last["judge_unparsed"] is True and last["fields"]["judge"] == "I cannot decide."
    assert "fields" not in rows(out, "eval/1")[0]["modes"]["cot"]


def test_a_benchmark_whose_records_cannot_be_read_still_shows_its_predictions(bench_eval, tmp_path, monkeypatch):
    import mmpo.benchmarks as benchmarks

    def unavailable(name):
        raise MMPOError(f"benchmark {name!r} is not available in this version")

    monkeypatch.setattr(benchmarks, "get_benchmark", unavailable)
    summary = write_inspector([bench_eval], tmp_path / "site")
    assert any("could not be read" in n and "not available" in n for n in summary["notes"])
    assert summary["evals"][0]["n"] == 6 and summary["evals"][0]["benchmark"]["title"] == "POPE"


def test_a_breakdown_held_as_a_list_field_is_a_filter_too(bench_eval, tmp_path, monkeypatch):
    """POPE's predictions carry `subsets` (a list) for its breakdown `subset`."""
    import mmpo.benchmarks as benchmarks
    from _bench_eval import BENCH_SUBSET, FakeReader

    monkeypatch.setattr(benchmarks, "get_benchmark", lambda name: FakeReader())
    folder = tmp_path / "pope-lists"
    shutil.copytree(bench_eval, folder)
    lines = [json.loads(x) for x in (folder / "predictions.jsonl").read_text().splitlines()]
    for p in lines:
        p["subsets"] = [p.pop("subset")]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in lines))
    summary = write_inspector([folder], tmp_path / "site")
    assert summary["evals"][0]["groups"] == ["subset"]
    assert column(index(tmp_path / "site", "eval/0"), "g_subset") == BENCH_SUBSET


def test_images_embedded_in_parquet_or_tsv_records_are_written_once(tmp_path):
    from mmpo.inspector.site import Site

    site = Site(tmp_path / "site")
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 40
    a = site.image_of({"bytes": png, "path": None})
    assert a == site.image_of({"bytes": png, "path": "other.png"}) and a.endswith(".png")
    assert (tmp_path / "site" / a).read_bytes() == png
    assert site.image_of({"bytes": b"\xff\xd8\xff" + b"y" * 10, "path": None}).endswith(".jpg")
    assert site.image_of(None) is None and site.files == 2
