"""The sampling and pairs commands on misused outputs: a second writer, a folder for a file, a file
for a folder; each a one-line error and nothing written."""

from __future__ import annotations

from mmpo.cli import main
from mmpo.data.files import OutputLock


def test_a_second_sampler_on_the_same_out_stops_at_once(tiny_model_dir, tmp_path, capsys):
    from mmpo.synth import write_benchmark

    data = write_benchmark(tmp_path / "b", 2, seed=0, families=["digits"])
    out = tmp_path / "s.jsonl"
    args = ["sample", "--model", str(tiny_model_dir("llava")), "--data", str(data), "--n", "1", "--out", str(out),
            "--max-new-tokens", "2", "--no-progress"]
    with OutputLock(out):  # as a still-running earlier process holds it
        assert main(args) == 2
    assert "is being written by another process (pid" in capsys.readouterr().err
    assert not out.exists()
    assert main(args) == 0 and len(out.read_text().splitlines()) == 2


def test_out_a_folder_or_a_file_where_the_other_is_needed(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    assert main(["sample", "--model", "m", "--data", "d.jsonl", "--n", "1", "--out", str(tmp_path / "dir")]) == 2
    assert "is a folder; give the samples file's path" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    (tmp_path / "s.jsonl").write_text("")
    assert main(["pairs", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "file")]) == 2
    assert "is a file; pairs are written into a folder" in capsys.readouterr().err
