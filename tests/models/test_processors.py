"""Tokenizer, chat helpers, image loading, the torchvision-free processors, and `mmpo model`."""

from __future__ import annotations

import json

import pytest
import torch

from mmpo.cli import main
from mmpo.data.chat import chat_prompt, encode
from mmpo.data.images import load_image
from mmpo.errors import InputError, MMPOError
from mmpo.models import ARCHS, SIZES, load_model
from mmpo.models import tokenizer as tokmod
from mmpo.models.processors import torchvision_available


def test_tokenizer_is_deterministic_small_and_reads_numbers_whole():
    first = tokmod._trained_json()
    tokmod._trained_json.cache_clear()
    assert tokmod._trained_json() == first
    tok = tokmod.build_tokenizer("llava")
    assert 300 < len(tok) <= tokmod.VOCAB_SIZE
    for n in range(100):
        assert len(tok(str(n)).input_ids) == 1, n
        assert len(tok(f" {n}").input_ids) == 1, n


def test_tokenizer_round_trips_any_text():
    tok = tokmod.build_tokenizer("qwen2_vl")
    text = "Final answer: 3.75 ° π ≤ ü 你好\ttab"
    assert tok.decode(tok(text).input_ids) == text
    assert tok.unk_token is None  # byte-level: nothing is unknown


def test_special_tokens_are_single_ids():
    for arch in ARCHS:
        tok = tokmod.build_tokenizer(arch)
        for special in tokmod.SPECIAL_TOKENS:
            assert len(tok(special).input_ids) == 1, (arch, special)
        assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id


@pytest.mark.parametrize("arch", ["qwen2_vl", "internvl"])
def test_video_capable_processors_save_the_stock_class_and_load_without_torchvision(arch, tiny_model_dir):
    path = tiny_model_dir(arch, "unit")
    saved = json.loads((path / "processor_config.json").read_text())
    stock = {"qwen2_vl": "Qwen2VLProcessor", "internvl": "InternVLProcessor"}[arch]
    assert saved["processor_class"] == stock
    if arch == "internvl":
        assert saved["image_seq_length"] == 16
    # what the stock loader needs (with torchvision) to build the video processor
    video = saved["video_processor"]
    assert video["video_processor_type"] == stock.replace("Processor", "VideoProcessor")
    assert video["size"] == saved["image_processor"]["size"]
    _, processor = load_model(path)
    assert type(processor).__name__ == stock
    if not torchvision_available():
        # the trap this works around: the stock loader wants a video processor
        from transformers import AutoProcessor

        with pytest.raises((OSError, ImportError)):
            AutoProcessor.from_pretrained(path)
        with pytest.raises(ValueError, match="without a video processor"):
            processor(text=["x"], videos=[[0]])


def test_loader_falls_back_to_image_only_when_the_video_config_is_missing(tiny_model_dir, tmp_path,
                                                                           monkeypatch, tiny_image):
    import shutil

    from mmpo.models import processors

    path = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir("qwen2_vl", "unit"), path)
    cfg = json.loads((path / "processor_config.json").read_text())
    del cfg["video_processor"]
    (path / "processor_config.json").write_text(json.dumps(cfg))
    # pretend torchvision is there, so the stock AutoProcessor is tried first and fails
    monkeypatch.setattr(processors, "torchvision_available", lambda: True)
    _, processor = load_model(path)
    assert type(processor).__module__ == "mmpo.models.processors"
    batch = encode(processor, [chat_prompt(processor, "hi")], [tiny_image])
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]]


def test_encode_batches_mixed_prompts_left_padded(tiny_model, tiny_image):
    _, processor = tiny_model("llava")
    texts = [chat_prompt(processor, "no image here, a longer text prompt", image=False),
             chat_prompt(processor, "hi")]
    batch = encode(processor, texts, [None, tiny_image])
    assert batch["pixel_values"].shape[0] == 1
    lengths = batch["attention_mask"].sum(1)
    short = int(lengths.argmin())
    assert batch["attention_mask"][short, 0] == 0 and batch["attention_mask"][:, -1].all()
    right = encode(processor, texts, [None, tiny_image], padding_side="right")
    assert right["attention_mask"][:, 0].all()
    with pytest.raises(ValueError, match="2 texts but 1 images"):
        encode(processor, texts, [tiny_image])


def test_generation_stops_on_the_chat_end_token(tiny_model_dir):
    cfg = json.loads((tiny_model_dir("llava", "unit") / "generation_config.json").read_text())
    tok = tokmod.build_tokenizer("llava")
    assert cfg["eos_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert cfg["pad_token_id"] == tok.pad_token_id


def test_load_image_converts_and_names_the_source(tmp_path, tiny_image_file):
    from PIL import Image

    gray = tmp_path / "g.png"
    Image.new("L", (8, 8)).save(gray)
    assert load_image(gray).mode == "RGB"
    assert load_image(tiny_image_file).size == (64, 64)
    with pytest.raises(InputError, match=r"data.jsonl:7, field 'image': image .*missing.png does not exist"):
        load_image(tmp_path / "missing.png", source="data.jsonl", line=7)
    broken = tmp_path / "broken.png"
    broken.write_bytes(tiny_image_file.read_bytes()[:100])
    with pytest.raises(InputError, match="broken.png cannot be read") as err:
        load_image(broken, source="d.jsonl", line=2)
    assert err.value.line == 2 and err.value.path == "d.jsonl"


def test_cli_writes_a_checkpoint_that_load_model_reads(tmp_path, capsys, tiny_image):
    out = tmp_path / "m"
    assert main(["model", "tiny", "--arch", "internvl", "--size", "unit", "--out", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "parameters" in printed and str(out) in printed
    assert (out / "model.safetensors").is_file()
    model, processor = load_model(out)
    batch = encode(processor, [chat_prompt(processor, "hi")], [tiny_image])
    with torch.no_grad():
        assert torch.isfinite(model(**batch).logits).all()
    assert main(["model", "info", str(out)]) == 0
    assert "image tokens for a 64x64 image: 16" in capsys.readouterr().out


def test_cli_errors_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["model", "tiny", "--arch", "llava", "--out", str(blocker / "sub")]) == 2
    assert "cannot write to" in capsys.readouterr().err
    assert main(["model", "tiny", "--arch", "llava", "--out", str(tmp_path / "a"), "--image-size", "50"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert main(["model", "tiny", "--arch", "qwen2_vl", "--out", str(tmp_path / "b"), "--vision", "siglip"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["model", "tiny", "--arch", "gpt", "--out", str(tmp_path / "c")])
    assert exc.value.code == 2
    assert "invalid choice: 'gpt'" in capsys.readouterr().err
    assert main(["model", "info", str(tmp_path / "none")]) == 2


def test_cli_offers_every_arch_and_size():
    from mmpo.cli import build_parser

    sub = build_parser("model")._subparsers._group_actions[0].choices["model"]
    tiny = sub._subparsers._group_actions[0].choices["tiny"]
    choices = {a.dest: tuple(a.choices) for a in tiny._actions if a.choices}
    assert choices["arch"] == ARCHS and choices["size"] == SIZES


def test_load_model_dtype_option(tiny_model_dir):
    model, _ = load_model(tiny_model_dir("llava", "unit"), dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    with pytest.raises(MMPOError, match="unknown dtype"):
        load_model(tiny_model_dir("llava", "unit"), dtype="float99")
