"""Faults real inputs have, each with its exact outcome: non-UTF-8 bytes, high bit-depth and bomb
images, corrupt images before training, identical chosen and rejected, and locked outputs."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from mmpo.data.files import JsonlAppender, OutputLock, iter_jsonl
from mmpo.data.images import MAX_PIXELS, check_image, open_image
from mmpo.data.pairs import load_pairs
from mmpo.errors import InputError, MMPOError
from mmpo.train.collate import check_pair_images


def _png_header_only(path, width, height):
    """A PNG that declares width x height but holds almost no data (a decompression-bomb shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_a_non_utf8_byte_names_its_line_and_can_be_skipped(tmp_path):
    path = tmp_path / "p.jsonl"
    good = json.dumps({"question": "q", "chosen": "a", "rejected": "b"}).encode()
    path.write_bytes(good + b"\n" + b'{"question": "caf\xe9", "chosen": "a", "rejected": "b"}\n' + good + b"\n")
    with pytest.raises(InputError, match=r"p.jsonl:2: not UTF-8 text"):
        list(iter_jsonl(path))
    with pytest.raises(InputError, match=r"p.jsonl:2: not UTF-8"):
        load_pairs(path)
    skipped = load_pairs(path, on_error="skip")
    assert len(skipped.pairs) == 2 and skipped.stats["skipped_bad_record"] == 1


def test_16_bit_png_is_scaled_not_clipped_to_white(tmp_path):
    from PIL import Image

    arr = np.full((8, 8), 32768, dtype=np.uint16)
    arr[0, 0] = 0
    Image.fromarray(arr).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as raw:
        assert raw.mode.startswith("I")
    rgb = np.asarray(open_image(str(tmp_path / "deep.png")))
    assert rgb.shape == (8, 8, 3) and rgb[1, 1].tolist() == [128, 128, 128] and rgb[0, 0].tolist() == [0, 0, 0]


def test_decompression_bomb_is_an_input_error_even_from_its_header(tmp_path):
    bomb = _png_header_only(tmp_path / "bomb.png", 15000, 15000)
    assert 15000 * 15000 > MAX_PIXELS
    for fn in (check_image, open_image):
        with pytest.raises(InputError, match=r"data.jsonl:4, field 'image': image .*bomb.png is .*over the 89 Mpx"):
            fn(str(bomb), source="data.jsonl", line=4)


def test_corrupt_images_fail_before_training_or_are_skipped_and_counted(tmp_path, tiny_image):
    tiny_image.save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    rows = [{"image": name, "question": "<image>\nQ?", "chosen": f"c{i}", "rejected": f"r{i}"}
            for i, name in enumerate(["ok.png", "broken.png", "ok.png"])]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = load_pairs(tmp_path / "p.jsonl")
    with pytest.raises(InputError, match=r"p.jsonl:2, field 'image': image .*broken.png cannot be read"):
        check_pair_images(pairs)
    check_pair_images(pairs, on_error="skip")
    assert [p.chosen for p in pairs.pairs] == ["c0", "c2"] and pairs.stats["skipped_bad_image"] == 1


def test_identical_chosen_and_rejected_are_left_out_and_counted(tmp_path):
    rows = [{"question": "q1", "chosen": "same", "rejected": "same"},
            {"question": "q2", "chosen": "a", "rejected": "b"}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = load_pairs(tmp_path / "p.jsonl")
    assert [p.chosen for p in got.pairs] == ["a"] and got.stats["skipped_identical_chosen_rejected"] == 1


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    out = tmp_path / "samples.jsonl"
    with OutputLock(out):
        with pytest.raises(MMPOError, match=r"samples.jsonl is being written by another process \(pid \d+\)"):
            JsonlAppender(out)
    with JsonlAppender(out) as sink:  # released: the next run proceeds
        sink.write({"a": 1})
    assert out.read_text() == '{"a": 1}\n'
