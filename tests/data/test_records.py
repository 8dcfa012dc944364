import json

import pytest

from mmpo.data.files import JsonlAppender, read_jsonl, truncate_partial_tail
from mmpo.data.records import load_records
from mmpo.errors import InputError


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_load_records_fills_defaults_and_resolves_images(tmp_path):
    p = tmp_path / "bench.jsonl"
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.png").write_bytes(b"png")  # only its existence is checked here
    _write(p, [json.dumps({"pid": 1, "question": "q?", "image": "images/1.png", "answer": "3"}),
                json.dumps({"pid": 2, "question": "text only", "image": "", "answer": "4"}),
                json.dumps({"pid": 3, "question": "missing", "image": "images/3.png", "answer": "4"})])
    with pytest.raises(InputError, match=r"bench.jsonl:3, field 'image': image .*3.png does not exist"):
        load_records(p)
    _write(p, p.read_text().splitlines()[:2])
    one, two = load_records(p)
    assert one["pid"] == "1" and one["question_type"] == "free_form"
    assert one["image_path"] == str((tmp_path / "images/1.png").resolve())
    assert two["image_path"] is None and two["image_ref"] is None  # "" is a text-only record


@pytest.mark.parametrize(
    "line,field,lineno",
    [
        ('{"pid": "a", "question": "q", "question_type": "yes"}', "question_type", 2),
        ('{"pid": "a"}', "question", 2),
        ('{"pid": "a", "question": "q", "question_type": "multi_choice"}', "choices", 2),
        ('{"pid": "a", "question": 3}', "question", 2),
    ],
)
def test_bad_record_names_file_line_field(tmp_path, line, field, lineno):
    p = tmp_path / "bad.jsonl"
    _write(p, ['{"pid": "ok", "question": "fine"}', line])
    with pytest.raises(InputError) as err:
        load_records(p)
    assert err.value.line == lineno and err.value.field == field
    assert f"bad.jsonl:{lineno}" in str(err.value) and field in str(err.value)


def test_malformed_json_line(tmp_path):
    p = tmp_path / "x.jsonl"
    _write(p, ['{"pid": 1, "question": "a"}', "{oops"])
    with pytest.raises(InputError, match=r"x.jsonl:2: malformed JSON"):
        read_jsonl(p)


def test_duplicate_pid(tmp_path):
    p = tmp_path / "x.jsonl"
    _write(p, ['{"pid": 1, "question": "a"}', '{"pid": "1", "question": "b"}'])
    with pytest.raises(InputError, match="duplicate pid"):
        load_records(p)


def test_appender_drops_partial_tail(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ', encoding="utf-8")
    assert truncate_partial_tail(p) == len('{"a": ')
    with JsonlAppender(p) as w:
        w.write({"a": 3})
    assert [r["a"] for r in read_jsonl(p)] == [1, 2, 3]
