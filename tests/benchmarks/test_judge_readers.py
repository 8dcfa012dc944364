"""MM-Vet, LLaVA-Bench and MMHal-Bench read in the shapes they ship in (files built here)."""

from __future__ import annotations

import json

import pytest

from _judge_data import (
    llava_official,
    llava_parquet,
    llava_tsv,
    mmhal_parquet,
    mmhal_template,
    mmvet_official,
    mmvet_tsv,
    write_jsonl,
)
from mmpo.benchmarks import get_benchmark
from mmpo.errors import InputError


def test_mmvet_official_json_and_vlmevalkit_tsv(tmp_path):
    bench = get_benchmark("mm-vet")
    assert bench.kind == "judge" and bench.modes == ("direct",)
    path = mmvet_official(tmp_path / "mmvet")
    for source in (path, path.parent):
        recs = bench.read(source)
        assert [r["pid"] for r in recs] == ["v1_0", "v1_1", "v1_2", "v1_3"]
        assert recs[1]["metadata"]["capability"] == ["ocr", "math"]
        assert recs[0]["image_path"].endswith("images/v1_0.png") and recs[0]["answer"] == "a square <OR> box 0"
        assert recs[0]["question_type"] == "free_form" and recs[0]["answer_type"] == "text"
    tsv = bench.read(mmvet_tsv(tmp_path / "tsv"))
    assert [r["pid"] for r in tsv] == ["0", "1", "2", "3"]
    assert tsv[2]["metadata"]["capability"] == ["rec", "know", "gen"]
    assert isinstance(tsv[1]["image_ref"], dict) and tsv[1]["image_ref"]["bytes"] == tsv[0]["image_ref"]["bytes"]
    assert bench.prompt(tsv[0], "direct") == "Question 0?"
    fields = bench.check("  a box ", tsv[1], "direct")
    assert fields == {"extracted": "a box", "verdict": "incorrect", "score": None, "capability": ["ocr", "math"]}
    assert bench.check("", tsv[1], "direct")["verdict"] == "format_failure"
    assert bench.check(None, tsv[1], "direct")["extracted"] is None


def test_mmvet_bad_rows_name_the_file_and_field(tmp_path):
    bench = get_benchmark("mm-vet")
    path = mmvet_official(tmp_path / "a")
    data = json.loads(path.read_text())
    data["v1_2"]["capability"] = ["rec", "vision"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="record 2.*capability.*'vision'"):
        bench.read(path)
    data["v1_2"]["capability"] = ["rec"]
    (path.parent / "images" / "v1_3.png").unlink()
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="v1_3.png does not exist"):
        bench.read(path)
    with pytest.raises(InputError, match="mm-vet.json"):
        bench.read(tmp_path)


def test_llava_bench_authors_folder_hub_parquet_and_tsv(tmp_path):
    bench = get_benchmark("llava-bench")
    folder = llava_official(tmp_path / "wild")
    for source in (folder, folder / "questions.jsonl"):
        recs = bench.read(source)
        assert [r["pid"] for r in recs] == [str(i) for i in range(6)]
        assert [r["metadata"]["category"] for r in recs[:3]] == ["conv", "detail", "complex"]
        assert recs[1]["answer"] == "Reference answer 1." and recs[1]["metadata"]["caption"].startswith("A photo number 1")
        assert recs[3]["image_path"].endswith("images/001.jpg")
    fields = bench.judge_fields(recs[2])
    assert fields["caption"] == fields["context"] and fields["category"] == "complex"
    assert bench.judge_variant(recs[2]) == "complex"
    parquet = llava_parquet(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet")
    for source in (parquet, tmp_path / "hub"):
        recs = bench.read(source)
        assert recs[4]["answer"] == "ref 4" and recs[4]["metadata"]["caption"] == "caption 4"
        assert recs[4]["metadata"]["category"] == "detail" and isinstance(recs[4]["image_ref"], dict)
    tsv = bench.read(llava_tsv(tmp_path / "tsv"))
    assert tsv[0]["answer"] == "ref 0" and tsv[5]["metadata"]["category"] == "complex"
    assert bench.check("x", tsv[0], "direct")["category"] == "conv"


def test_llava_bench_missing_reference_or_caption_is_named(tmp_path):
    bench = get_benchmark("llava-bench")
    folder = llava_official(tmp_path / "wild")
    answers = [json.loads(x) for x in (folder / "answers_gpt4.jsonl").read_text().splitlines()]
    write_jsonl(folder / "answers_gpt4.jsonl", answers[:-1])
    with pytest.raises(InputError, match=r"questions.jsonl:6.*no reference answer"):
        bench.read(folder)
    (folder / "context.jsonl").unlink()
    with pytest.raises(InputError, match="context.jsonl is missing"):
        bench.read(folder)
    qs = tmp_path / "q.jsonl"
    write_jsonl(qs, [{"question_id": 0, "question": "q", "gpt_answer": "a", "category": "chat"}])
    with pytest.raises(InputError, match="'chat' is not a LLaVA-Bench category"):
        bench.read(qs)


def test_mmhal_response_template_and_parquet(tmp_path):
    bench = get_benchmark("mmhal")
    assert bench.scale == "0-6"
    path = mmhal_template(tmp_path / "mmhal", 8)
    for source in (path, path.parent):
        recs = bench.read(source)
        assert [r["pid"] for r in recs] == [str(i) for i in range(8)]
        assert recs[3]["metadata"]["question_type"] == "counting"
        assert recs[3]["answer"] == "It is red 3." and recs[3]["image_path"].endswith("images/3ebabc.jpg")
        assert bench.judge_fields(recs[0])["image_content"] == "Cat, Sofa"
    rows = json.loads(path.read_text())
    rows[1]["image_src"] = "https://x/missing.jpg"
    rows[1]["image_id"] = "missing"
    path.write_text(json.dumps(rows))
    with pytest.raises(InputError, match="record 1.*image_src.*missing.jpg"):
        bench.read(path)
    rows[1]["question_type"] = "colour"
    path.write_text(json.dumps(rows))
    with pytest.raises(InputError, match="'colour' is not an MMHal-Bench question type"):
        bench.read(path)
    pq = bench.read(mmhal_parquet(tmp_path / "hub" / "test.parquet"))
    assert len(pq) == 8 and isinstance(pq[0]["image_ref"], dict) and pq[7]["metadata"]["question_type"] == "other"
