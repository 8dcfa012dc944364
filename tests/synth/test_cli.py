"""`mmpo synth` on the command line: files written, clear one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mmpo.cli import main


def test_synth_writes_jsonl_and_images(tmp_path, capsys):
    rc = main(["synth", "--n", "7", "--seed", "3", "--out", str(tmp_path), "--families", "digits,shapes",
               "--split", "val", "--image-size", "32", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "wrote 7 records" in out and str(tmp_path / "val.jsonl") in out
    lines = (tmp_path / "val.jsonl").read_text().splitlines()
    assert len(lines) == 7
    recs = [json.loads(line) for line in lines]
    assert {r["metadata"]["family"] for r in recs} == {"digits", "shapes"}
    assert all(r["pid"].startswith("val-") and r["scene"]["size"] == 32 for r in recs)
    assert len(list((tmp_path / "images").glob("val-*.png"))) == 7


@pytest.mark.parametrize("extra, message", [
    (["--n", "0"], "--n must be a positive integer"),
    (["--n", "-4"], "--n must be a positive integer"),
    (["--n", "3", "--families", "digits,circles"], "unknown family 'circles'"),
    (["--n", "3", "--families", ","], "--families is empty"),
    (["--n", "3", "--image-size", "50"], "--image-size"),
    (["--n", "3", "--split", "../x"], "--split"),
])
def test_synth_bad_arguments(tmp_path, capsys, extra, message):
    rc = main(["synth", "--out", str(tmp_path / "o"), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_synth_unwritable_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    rc = main(["synth", "--n", "2", "--out", str(blocker / "sub"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write to" in err and str(blocker / "sub") in err


def test_synth_command_module_is_light():
    code = ("import sys, argparse; import mmpo.commands.synth as m; m.configure(argparse.ArgumentParser()); "
            "print(sorted(x for x in ('torch', 'transformers', 'PIL', 'numpy') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
