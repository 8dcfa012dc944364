import subprocess
import sys

from mmpo.cli import COMMANDS, main


def test_import_is_light():
    code = "import sys, mmpo, mmpo.cli, mmpo.data.files; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_help_lists_every_stage(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


def test_help_does_not_import_engines():
    code = ("import sys; from mmpo.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
