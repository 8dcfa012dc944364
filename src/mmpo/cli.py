"""mmpo command line: one entry point, a subcommand per stage.

Usage:
    mmpo synth --n 2000 --seed 0 --out data/       # the embedded visual-math benchmark
    mmpo model tiny --arch llava --size small --out models/tiny
    mmpo check --answer 0.5 --type float --precision 1 "... Final answer: 1/2"
    mmpo sample / pairs / train / eval / report / inspect / demo  (see `mmpo <cmd> --help`)

Each subcommand's module calls the entry function of its stage's subpackage (`mmpo.sample.run`,
`mmpo.train.run`, `mmpo.eval.run`, ...); see docs/stages.md.

Each subcommand lives in `mmpo.commands.<name>` with `configure(parser)` and `run(args) -> int`.
Those modules import only the standard library at the top, so `mmpo --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the order of the loop.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("mmpo.commands.synth", "generate the embedded visual-math benchmark"),
    "model": ("mmpo.commands.model", "build tiny offline vision-language models"),
    "check": ("mmpo.commands.check", "extract and check one answer (debug your data)"),
    "sample": ("mmpo.commands.sample", "sample N chains of thought per prompt"),
    "pairs": ("mmpo.commands.pairs", "build preference pairs (MMPR layout) from samples"),
    "train": ("mmpo.commands.train", "train with the MPO loss"),
    "eval": ("mmpo.commands.eval", "direct vs chain-of-thought evaluation"),
    "report": ("mmpo.commands.report", "comparison tables and plots"),
    "inspect": ("mmpo.commands.inspect", "browse samples, pairs, predictions and reports (a static site)"),
    "demo": ("mmpo.commands.demo", "the whole loop on the embedded default"),
    "iterate": ("mmpo.commands.iterate", "K rounds of sample -> pairs -> train -> eval, each from the last model"),
}


def build_parser(argv_cmd: str | None = None) -> argparse.ArgumentParser:
    from mmpo import __version__

    parser = argparse.ArgumentParser(
        prog="mmpo",
        description="Mixed Preference Optimization for vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"mmpo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        # Only the chosen command's module is imported (top-level help lists names only).
        if argv_cmd is not None and name != argv_cmd:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from mmpo.errors import MMPOError

    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(cmd if cmd in COMMANDS else None)
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except MMPOError as exc:
        print(f"mmpo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a permission, a vanished file: one line naming what failed
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"mmpo {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mmpo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
