"""Images reach the model as a viewer shows them: EXIF orientation applied, transparency on white,
high bit-depth scaled; through every way a reference comes (a path, embedded bytes, a PIL image)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mmpo.data.images import check_image, load_image, load_record_images, open_image
from mmpo.data.records import load_records
from mmpo.errors import InputError

# What a viewer does for each EXIF orientation (Pillow's names; ROTATE_270 turns 90 degrees clockwise).
TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
         5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_90}


def _scene(w=48, h=24) -> Image.Image:
    """Not symmetric in any way: a red block top-left, a blue one bottom-right, on grey."""
    arr = np.full((h, w, 3), 128, np.uint8)
    arr[: h // 2, : w // 4] = (255, 0, 0)
    arr[h // 2:, 3 * w // 4:] = (0, 0, 255)
    return Image.fromarray(arr)


def _with_orientation(img: Image.Image, orientation: int, fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def test_a_phone_photo_with_orientation_6_comes_out_upright(tmp_path):
    scene = _scene()
    path = tmp_path / "photo.jpg"
    path.write_bytes(_with_orientation(scene, 6, "JPEG"))
    with Image.open(path) as raw:
        assert raw.size == (48, 24) and raw.getexif()[0x0112] == 6  # stored sideways
    want = np.asarray(scene.transpose(Image.Transpose.ROTATE_270), dtype=np.int16)
    for img in (load_image(path), open_image(str(path)), open_image({"bytes": path.read_bytes(), "path": None})):
        assert img.mode == "RGB" and img.size == (24, 48)
        assert np.abs(np.asarray(img, dtype=np.int16) - want).mean() < 4  # JPEG noise only
        assert img.getexif().get(0x0112, 1) == 1  # nothing downstream turns it again
    check_image(str(path))


@pytest.mark.parametrize("orientation", sorted(TURNS))
def test_every_orientation_is_applied_exactly(tmp_path, orientation):
    scene = _scene()
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(_with_orientation(scene, orientation, "PNG"))
    got = np.asarray(load_image(path))
    assert np.array_equal(got, np.asarray(scene.transpose(TURNS[orientation])))


def test_orientation_1_and_no_exif_are_unchanged(tmp_path):
    scene = _scene()
    (tmp_path / "o1.png").write_bytes(_with_orientation(scene, 1, "PNG"))
    scene.save(tmp_path / "plain.png")
    for name in ("o1.png", "plain.png"):
        assert np.array_equal(np.asarray(load_image(tmp_path / name)), np.asarray(scene))


def test_a_decoded_pil_image_is_turned_but_not_changed(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(_with_orientation(_scene(), 8, "PNG"))
    with Image.open(path) as raw:
        raw.load()
        got = open_image(raw)
        assert raw.size == (48, 24) and raw.getexif()[0x0112] == 8  # the caller's image is left alone
    assert got.size == (24, 48)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_exif_leaves_the_image_as_stored(tmp_path):
    scene = _scene()
    buf = io.BytesIO()
    scene.save(buf, "PNG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7fgarbage")
    (tmp_path / "bad-exif.png").write_bytes(buf.getvalue())
    assert np.array_equal(np.asarray(load_image(tmp_path / "bad-exif.png")), np.asarray(scene))


def _marks(mode: str) -> Image.Image:
    """Black marks on a fully transparent background whose colour values are black too."""
    alpha = np.zeros((16, 16), np.uint8)
    alpha[4:12, 7:9] = 255  # a vertical bar
    alpha[7:9, 4:12] = 128  # a half-transparent horizontal one
    black = np.zeros((16, 16), np.uint8)
    if mode == "RGBA":
        return Image.fromarray(np.stack([black, black, black, alpha], -1), "RGBA")
    if mode == "LA":
        return Image.fromarray(np.stack([black, alpha], -1), "LA")
    # P: index 0 transparent (black in the palette), index 1 black
    p = Image.fromarray((alpha == 255).astype(np.uint8), "P")
    p.putpalette([0, 0, 0, 0, 0, 0])
    p.info["transparency"] = 0
    return p


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_black_marks_on_transparency_come_out_black_on_white(tmp_path, mode):
    path = tmp_path / f"chart-{mode}.png"
    img = _marks(mode)
    img.save(path, **({"transparency": 0} if mode == "P" else {}))
    with Image.open(path) as raw:
        assert raw.mode == mode
        assert np.asarray(raw.convert("RGB")).max() == 0  # what a plain conversion gives: all black
    got = np.asarray(load_image(path))
    assert got.shape == (16, 16, 3)
    assert got[0, 0].tolist() == [255, 255, 255]  # the background
    assert got[5, 7].tolist() == [0, 0, 0]  # the bar
    if mode != "P":
        assert 120 <= got[7, 5, 0] <= 135  # half-transparent black on white: grey


def test_a_transparent_colour_key_is_white_too(tmp_path):
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[2:6, 2:6] = (200, 0, 0)
    Image.fromarray(arr).save(tmp_path / "key.png", transparency=(0, 0, 0))
    got = np.asarray(load_image(tmp_path / "key.png"))
    assert got[0, 0].tolist() == [255, 255, 255] and got[3, 3].tolist() == [200, 0, 0]


def test_16_bit_with_orientation_is_scaled_and_turned(tmp_path):
    arr = np.zeros((4, 8), dtype=np.uint16)
    arr[0, 0] = 65535
    arr[0, 1] = 32768
    path = tmp_path / "deep.png"
    path.write_bytes(_with_orientation(Image.fromarray(arr), 3, "PNG"))
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    got = np.asarray(load_image(path))
    assert got.shape == (4, 8, 3) and got[3, 7].tolist() == [255] * 3 and got[3, 6].tolist() == [128] * 3


def test_records_with_files_and_embedded_bytes_load_the_same_way(tmp_path):
    data = _with_orientation(_scene(), 6, "PNG")
    (tmp_path / "photo.png").write_bytes(data)
    (tmp_path / "bench.jsonl").write_text(json.dumps({"pid": 1, "question": "q", "image": "photo.png"}) + "\n")
    (rec,) = load_records(tmp_path / "bench.jsonl")
    from_file, from_bytes = load_record_images([rec, {"image_ref": {"bytes": data, "path": "x.png"}}])
    assert from_file.size == from_bytes.size == (24, 48)
    assert np.array_equal(np.asarray(from_file), np.asarray(from_bytes))


def test_the_checks_before_decoding_still_hold(tmp_path):
    (tmp_path / "not.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"data.jsonl:2, field 'image': image .*not.png cannot be read"):
        load_image(tmp_path / "not.png", source="data.jsonl", line=2)
    truncated = _with_orientation(_scene(), 6, "JPEG")[:200]
    (tmp_path / "cut.jpg").write_bytes(truncated)
    with pytest.raises(InputError, match="cannot be read"):
        load_image(tmp_path / "cut.jpg")
