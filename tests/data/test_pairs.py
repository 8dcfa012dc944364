"""Pair readers (MMPR layout, TRL format, JSONL), validation messages, and batch collation."""

import json
from collections import Counter

import pytest

from mmpo.data.pairs import load_pairs, parse_pair
from mmpo.errors import InputError
from mmpo.train.collate import PairCollator, PairDataset, render


def _write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _line(i, image="img.png", **kw):
    row = {"image": image, "question": f"<image>\nQuestion {i}?", "chosen": f"Good {i}. Final answer: {i}",
           "rejected": f"Final answer: {i + 1}"}
    row.update(kw)
    return row


@pytest.fixture
def mmpr(tmp_path, tiny_image):
    root = tmp_path / "images"
    root.mkdir()
    tiny_image.save(root / "img.png")
    ann = tmp_path / "ann"
    ann.mkdir()
    _write_jsonl(ann / "a.jsonl", [_line(i) for i in range(4)])
    _write_jsonl(ann / "b.jsonl", [_line(i) for i in range(10, 20)])
    meta = {"a_pairs_vqa_correctness_rules": {"root": "images", "annotation": "ann/a.jsonl", "data_augment": False,
                                              "repeat_time": 2, "length": 4},
            "b_pairs_vqa_format_rules": {"root": "images", "annotation": "ann/b.jsonl", "data_augment": False,
                                         "repeat_time": 0.5, "length": 10}}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    return tmp_path


def test_mmpr_layout_repeat_time_and_image_marker(mmpr):
    pairs = load_pairs(mmpr / "meta.json", seed=3).pairs
    subsets = Counter(p.subset for p in pairs)
    # repeat_time 2 doubles the 4 lines; 0.5 keeps the first 5 of 10 (the authors' rule)
    assert subsets == {"a_pairs_vqa_correctness_rules": 8, "b_pairs_vqa_format_rules": 5}
    first = pairs[0]
    assert first.images == (str(mmpr / "images" / "img.png"),)
    assert first.messages == [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Question 0?"}]}]
    assert (first.source, first.line) == (str(mmpr / "ann" / "a.jsonl"), 1)
    # the same pairs whatever the seed; the folder works like its meta.json
    again = [p.line for p in load_pairs(mmpr, seed=3).pairs]
    assert again == [p.line for p in pairs]
    assert len(load_pairs(mmpr, seed=4).pairs) == 13


def test_trl_format_strings_and_messages(tmp_path, tiny_image):
    tiny_image.save(tmp_path / "x.png")
    rows = [
        {"prompt": "How many?", "chosen": "Three.", "rejected": "Two.", "images": ["x.png"]},
        {"prompt": [{"role": "user", "content": "How many?"}],
         "chosen": [{"role": "assistant", "content": "Three."}],
         "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "Two."}]}], "images": ["x.png"]},
        {"prompt": "No image here.", "chosen": "Yes.", "rejected": "No."},
    ]
    pairs = load_pairs(_write_jsonl(tmp_path / "trl.jsonl", rows)).pairs
    assert [p.chosen for p in pairs] == ["Three.", "Three.", "Yes."]
    assert pairs[1].rejected == "Two."
    assert pairs[0].messages == pairs[1].messages  # both forms give the image first, then the text
    assert pairs[2].images == () and pairs[2].messages[0]["content"] == [{"type": "text", "text": "No image here."}]


def test_saved_datasets_folder_keeps_images_encoded(tmp_path, tiny_image):
    import datasets

    tiny_image.save(tmp_path / "x.png")
    ds = datasets.Dataset.from_dict({"prompt": ["Q?"], "chosen": ["A."], "rejected": ["B."],
                                     "images": [[str(tmp_path / "x.png")]]})
    ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    ds.save_to_disk(str(tmp_path / "ds"))
    (pair,) = load_pairs(tmp_path / "ds").pairs
    assert isinstance(pair.images[0], dict) and pair.images[0]["bytes"]


@pytest.mark.parametrize("row, field, message", [
    ('{"image": "img.png", "question": "Q", "chosen": "A"', None, "malformed JSON"),
    (_line(1, image="missing.png"), "image", "does not exist"),
    (_line(1, chosen="  "), "chosen", "is empty"),
    (_line(1, rejected=None), "rejected", "expected a string"),
    ({"image": "img.png", "chosen": "A", "rejected": "B"}, "question", "missing"),
    (_line(1, question="<image> and <image>"), "question", "2 <image> marker"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, tiny_image, row, field, message):
    tiny_image.save(tmp_path / "img.png")
    path = _write_jsonl(tmp_path / "p.jsonl", [_line(0), row])
    with pytest.raises(InputError) as err:
        load_pairs(path)
    assert err.value.line == 2 and err.value.path == str(path) and err.value.field == field
    assert message in str(err.value) and f"{path}:2" in str(err.value)
    # skip mode keeps the good line and counts the bad one
    kept = load_pairs(path, on_error="skip")
    assert len(kept.pairs) == 1 and kept.stats["skipped_bad_record"] == 1


def test_bad_meta_json_names_the_field(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"s": {"root": ".", "annotation": "a.jsonl", "repeat_time": -1}}))
    with pytest.raises(InputError, match="repeat_time"):
        load_pairs(tmp_path / "meta.json")


@pytest.mark.parametrize("arch", ["llava", "qwen2_vl"])
def test_collator_layout_and_chat_template(arch, tiny_model, tiny_image_file):
    model, processor = tiny_model(arch)
    pairs = [parse_pair(_line(i, image=tiny_image_file.name), image_root=tiny_image_file.parent, source="p", line=i)
             for i in (1, 22)]
    prompt, chosen, rejected = render(processor, pairs[0])
    assert prompt.endswith("assistant\n") and "Question 1?" in prompt
    assert chosen == "Good 1. Final answer: 1<|im_end|>\n"  # the template's end of turn is part of the answer
    batch = PairCollator(processor)(pairs)
    p = batch["prompt_inputs"]
    image_id = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    n_image = int((p["input_ids"] == image_id).sum())
    assert n_image > 0 and n_image % 2 == 0  # two prompts, the same number of image tokens each
    assert batch["chosen_ids"].shape[0] == 2 and batch["chosen_mask"].sum(1).tolist() == [
        len(processor.tokenizer(c, add_special_tokens=False)["input_ids"])
        for c in (render(processor, q)[1] for q in pairs)]
    if arch == "qwen2_vl":
        assert p["image_grid_thw"].shape == (2, 3) and "mm_token_type_ids" in p


def test_truncation_cuts_completions_from_the_end_never_the_prompt(tiny_model, tiny_image_file):
    _, processor = tiny_model("llava")
    pair = parse_pair(_line(3, image=tiny_image_file.name, chosen="one two three four five six seven eight"),
                      image_root=tiny_image_file.parent, source="p.jsonl", line=7)
    full = PairCollator(processor)([pair])
    prompt_len = int(full["prompt_inputs"]["attention_mask"].sum())
    collate = PairCollator(processor, max_length=prompt_len + 3)
    cut = collate([pair])
    assert cut["chosen_ids"][0].tolist() == full["chosen_ids"][0, :3].tolist()
    assert cut["prompt_inputs"]["input_ids"].tolist() == full["prompt_inputs"]["input_ids"].tolist()
    assert collate.stats["truncated_chosen"] == 1 and collate.stats["truncated_rejected"] == 1

    # a prompt with no room left: an error naming the record, or a counted skip
    with pytest.raises(InputError, match="max_length") as err:
        PairCollator(processor, max_length=prompt_len)([pair])
    assert (err.value.path, err.value.line) == ("p.jsonl", 7)
    skipping = PairCollator(processor, max_length=prompt_len, on_error="skip")
    assert skipping([pair]) == {"num_pairs": 0} and skipping.stats["skipped_prompt_too_long"] == 1
    # and truncation can be refused
    with pytest.raises(InputError, match="truncate_completions"):
        PairCollator(processor, max_length=prompt_len + 3, truncate_completions=False)([pair])


def test_images_open_lazily_and_a_broken_one_is_named_when_batched(tmp_path, tiny_model):
    _, processor = tiny_model("llava")
    (tmp_path / "img.png").write_bytes(b"not a png")
    ds = PairDataset(load_pairs(_write_jsonl(tmp_path / "p.jsonl", [_line(0)])))  # reading does not decode
    assert len(ds) == 1 and ds[0].chosen.startswith("Good")
    with pytest.raises(InputError, match="cannot be read") as err:
        PairCollator(processor)([ds[0]])
    assert err.value.line == 1
