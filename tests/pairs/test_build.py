import json

import pytest

from mmpo.cli import main
from mmpo.errors import InputError
from mmpo.pairs.build import build_pairs, prompt_pairs
from mmpo.pairs.options import PairOptions


def _resp(text, extracted, verdict, **extra):
    return {"text": text, "extracted": extracted, "verdict": verdict, "truncated": False, **extra}


def _sample(pid, responses, image, answer="2", **extra):
    return {"pid": pid, "prompt": f"Question {pid}?", "image": str(image), "question": f"q{pid}",
            "answer": answer, "responses": responses, "settings": {"n": len(responses)},
            "source": "toy", **extra}


def _write(path, samples):
    path.write_text("".join(json.dumps(s) + "\n" for s in samples), encoding="utf-8")
    return path


@pytest.fixture
def img(tmp_path):
    (tmp_path / "images" / "a").mkdir(parents=True)
    p = tmp_path / "images" / "a" / "1.png"
    p.write_bytes(b"png")
    return p


def test_correctness_pairs_substring_rule_and_format_pairs(img):
    s = _sample("1", [
        _resp("r1 Final answer: 2", "2", "correct"),
        _resp("r2 Final answer: 3", "3", "incorrect"),
        _resp("r3 Final answer: 12", "12", "incorrect"),  # contains "2": dropped
        _resp("r4 no answer", None, "format_failure"),
        _resp("r1 Final answer: 2", "2", "correct"),  # duplicate text: paired once
    ], img)
    got = prompt_pairs(s, max_pairs=15, seed=0)
    assert got["correctness"] == [("r1 Final answer: 2", "r2 Final answer: 3")]
    assert got["format"] == [("r1 Final answer: 2", "r4 no answer")]
    assert got["counts"]["substring"] == 1


def test_cap_is_seeded_per_prompt_and_kept_in_order(img):
    correct = [_resp(f"c{i}", "7", "correct") for i in range(4)]
    wrong = [_resp(f"w{i}", str(i), "incorrect") for i in range(5)]
    s = _sample("9", correct + wrong, img, answer="7")
    a = prompt_pairs(s, max_pairs=6, seed=1)
    assert len(a["correctness"]) == 6 and a["counts"]["over_cap"] == 20 - 6
    assert a == prompt_pairs(s, max_pairs=6, seed=1)  # deterministic
    assert a["correctness"] != prompt_pairs(s, max_pairs=6, seed=2)["correctness"]
    order = [(f"c{i}", f"w{j}") for i in range(4) for j in range(5)]
    idx = [order.index(p) for p in a["correctness"]]
    assert idx == sorted(idx)


def test_build_pairs_mmpr_layout_and_stats(tmp_path, img):
    samples = [
        _sample("1", [_resp("good Final answer: 2", "2", "correct"), _resp("bad Final answer: 5", "5", "incorrect"),
                      _resp("rambling", None, "format_failure")], img),
        _sample("2", [_resp("a Final answer: 2", "2", "correct")] * 3, img),  # all correct
        _sample("3", [_resp("x Final answer: 4", "4", "incorrect"), _resp("y", None, "format_failure")], img),
        _sample("4", [_resp("one two three four", None, None, ntp_prefix="one two ", ntp_continuation="five six"),
                      _resp("same text", None, None, ntp_prefix="same ", ntp_continuation="text")],
                img, answer=None, settings={"dropout_ratio": 0.5}),
    ]
    a = _write(tmp_path / "s0.jsonl", samples[:2])
    b = _write(tmp_path / "s1.jsonl", samples[2:])
    out = tmp_path / "pairs"
    stats = build_pairs(PairOptions(samples=[a, b], out=out))
    meta = json.loads((out / "meta.json").read_text())
    assert set(meta) == {"toy_pairs_vqa_correctness_rules", "toy_pairs_vqa_format_rules", "toy_sr0.5_wo_image"}
    for name, entry in meta.items():
        assert set(entry) == {"root", "annotation", "data_augment", "repeat_time", "length"}
        assert entry["annotation"] == str((out / f"{name}.jsonl").resolve())  # absolute, as the authors open it
        rows = [json.loads(line) for line in open(out / entry["annotation"])]
        assert len(rows) == entry["length"] == 1
        row = rows[0]
        assert set(row) == {"image", "question", "chosen", "rejected", "answer_gt"}
        assert (tmp_path / "images" / "a" / "1.png").samefile(f"{entry['root']}/{row['image']}")
        assert row["question"] == "Question 1?" or row["question"] == "Question 4?"
    ntp = json.loads(open(out / meta["toy_sr0.5_wo_image"]["annotation"]).readline())
    assert ntp == {"image": "1.png", "question": "Question 4?", "chosen": "one two three four",
                   "rejected": "one two five six", "answer_gt": None}
    corr = json.loads(open(out / meta["toy_pairs_vqa_correctness_rules"]["annotation"]).readline())
    assert corr["answer_gt"] == "2" and corr["rejected"] == "bad Final answer: 5"
    assert stats["prompts"] == 4 and stats["responses"] == 10
    assert stats["pairs"] == {"correctness": 1, "format": 1, "dropout_ntp": 1, "total": 3}
    assert stats["prompts_without_pairs"]["all_correct"] == 1
    assert stats["prompts_without_pairs"]["all_wrong"] == 1
    assert stats["pairs_not_made"]["ntp_identical"] == 1
    assert stats["pass_rate_histogram"] == {"0%": 1, "1-25%": 0, "26-50%": 1, "51-75%": 0, "76-99%": 0, "100%": 1}
    assert stats["format_failures"] == 2
    assert json.loads((out / "stats.json").read_text()) == stats


@pytest.mark.parametrize("bad,field", [
    ('{"pid": "1", "prompt": "p"', None),  # malformed JSON
    (json.dumps({"pid": "1", "prompt": "p", "image": None, "responses": [], "colour": 1}), "colour"),
    (json.dumps({"pid": "1", "prompt": "p", "image": "/nonexistent.png",
                 "responses": [{"text": "t", "verdict": None}]}), "image"),
    (json.dumps({"pid": "1", "prompt": "p", "image": None,
                 "responses": [{"text": "t", "verdict": "great"}]}), "responses[0].verdict"),
    (json.dumps({"pid": "1", "prompt": "p", "image": None, "responses": "t"}), "responses"),
])
def test_bad_line_names_file_line_field_or_is_counted(tmp_path, img, bad, field):
    good = json.dumps(_sample("0", [_resp("t Final answer: 2", "2", "correct")], img))
    p = tmp_path / "s.jsonl"
    p.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        build_pairs(PairOptions(samples=[p], out=tmp_path / "out"))
    assert exc.value.path == str(p) and exc.value.line == 2 and exc.value.field == field
    stats = build_pairs(PairOptions(samples=[p], out=tmp_path / "out", on_error="skip"))
    assert stats["prompts"] == 1 and stats["skips"]["count"] == 1
    assert stats["skips"]["items"][0]["line"] == 2


def test_duplicate_pid_across_shards_is_an_error(tmp_path, img):
    s = _sample("1", [_resp("t", "2", "correct")], img)
    a, b = _write(tmp_path / "a.jsonl", [s]), _write(tmp_path / "b.jsonl", [s])
    with pytest.raises(InputError, match="duplicate pid") as exc:
        build_pairs(PairOptions(samples=[a, b], out=tmp_path / "out"))
    assert exc.value.path == str(b) and exc.value.line == 1


def test_cli_prints_summary_and_errors_in_one_line(tmp_path, img, capsys):
    a = _write(tmp_path / "a.jsonl", [_sample("1", [_resp("g", "2", "correct"), _resp("b", "3", "incorrect")], img)])
    assert main(["pairs", str(a), "--out", str(tmp_path / "o"), "--max-pairs-per-prompt", "2"]) == 0
    out = capsys.readouterr().out
    assert "pairs: 1 (correctness 1, format 0, dropout-ntp 0)" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    assert main(["pairs", str(bad), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:1" in err[0]


def _two_subset_samples(tmp_path, img, answer):
    samples = [_sample("1", [_resp(f"good Final answer: {answer}", answer, "correct"),
                             _resp("bad Final answer: 5", "5", "incorrect"), _resp("rambling", None, "format_failure")],
                       img, answer=answer)]
    return _write(tmp_path / f"s-{answer}.jsonl", samples)


@pytest.mark.parametrize("killed_at", range(1, 9))  # 4 files written aside, then 4 moved into place
def test_a_kill_between_the_subset_files_of_a_rerun_leaves_no_mixed_set(tmp_path, img, monkeypatch, killed_at):
    import os

    from mmpo.data.pairs import load_pairs
    from mmpo.errors import InputError
    from mmpo.pairs import build as build_module

    out = tmp_path / "pairs"
    build_pairs(PairOptions(samples=[_two_subset_samples(tmp_path, img, "2")], out=out))
    old = sorted((p.chosen, p.rejected) for p in load_pairs(out).pairs)
    new_samples = _two_subset_samples(tmp_path, img, "3")
    calls = {"n": 0}
    real = os.replace

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == killed_at:  # the process dies before this file is renamed
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(build_module.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        build_pairs(PairOptions(samples=[new_samples], out=out))
    monkeypatch.setattr(build_module.os, "replace", real)
    # What a reader sees now: never the new meta.json beside an old subset file, nor the reverse.
    try:
        seen = sorted((p.chosen, p.rejected) for p in load_pairs(out).pairs)
    except InputError as exc:
        assert "needs a meta.json" in exc.reason
    else:
        assert seen == old
    build_pairs(PairOptions(samples=[new_samples], out=out))  # the rerun finishes the new set
    fresh = tmp_path / "fresh"
    build_pairs(PairOptions(samples=[new_samples], out=fresh))
    assert sorted((p.chosen, p.rejected) for p in load_pairs(out).pairs) == sorted(
        (p.chosen, p.rejected) for p in load_pairs(fresh).pairs)
    assert not (out / ".staging").exists()


def test_no_pairs_is_an_empty_meta_that_readers_take(tmp_path, img):
    from mmpo.data.pairs import load_pairs

    samples = _write(tmp_path / "s.jsonl", [_sample("1", [_resp("a Final answer: 2", "2", "correct")] * 2, img)])
    stats = build_pairs(PairOptions(samples=[samples], out=tmp_path / "pairs"))
    assert stats["pairs"]["total"] == 0 and json.loads((tmp_path / "pairs" / "meta.json").read_text()) == {}
    assert load_pairs(tmp_path / "pairs").pairs == []
