"""Extract the answer from one response and check it, to see why a sample was labelled as it was.

Usage:
    mmpo check --answer 0.5 --type float --precision 1 "... Final answer: 1/2"
    mmpo check --answer 8/11 --choices 5/11,8/11,3/11 "The answer is (B) 8/11"
    mmpo check --answer '[1, 2]' --type list --scoring mathvista "[1,2]"
    echo "Final answer: 12" | mmpo check --answer 12 --json -
    mmpo check --benchmark pope --mode direct \
        --record '{"question": "Is there a dog?", "answer": "no", "category": "random"}' "No, there is not."

With `--benchmark NAME --record JSON` (one row as that benchmark ships it, images left out), the
benchmark's own rule decides, and the verdict is printed alone on the first line, then its other fields.

Prints the extracted answer and the verdict (correct, incorrect or format_failure); `--json` prints
{"extracted": ..., "verdict": ...}. The exit status is 0 whatever the verdict, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys


def configure(p: argparse.ArgumentParser) -> None:
    from mmpo.answers import ANSWER_TYPES, QUESTION_TYPES, SCORINGS

    p.add_argument("response", help="the model's response; '-' reads it from standard input")
    p.add_argument("--answer", help="the gold answer (the record's `answer`); required without --benchmark")
    p.add_argument("--benchmark", metavar="NAME", help="score by this benchmark's rule (`mmpo eval --benchmark list`)")
    p.add_argument("--record", metavar="JSON", help="with --benchmark: one row as the benchmark ships it, as a JSON "
                                                    "object (or a path to a .json file holding one)")
    p.add_argument("--mode", choices=("direct", "cot"), default="cot",
                   help="with --benchmark: the prompt mode the response answered (default cot)")
    p.add_argument("--type", dest="answer_type", choices=ANSWER_TYPES,
                   help="the record's answer_type (default: text for choices, else guessed from --answer)")
    p.add_argument("--question-type", choices=QUESTION_TYPES,
                   help="default: multi_choice when --choices is given, else free_form")
    p.add_argument("--choices", help="the options, comma-separated or as a JSON list")
    p.add_argument("--precision", type=int, help="decimals a float answer is compared at")
    p.add_argument("--unit", help="the record's unit (e.g. cm)")
    p.add_argument("--scoring", choices=SCORINGS, default="default",
                   help="default: mmpo's rules; mathvista: the official MathVista rules")
    p.add_argument("--lenient", action="store_true", default=None,
                   help="lenient extraction (bare answers, last number); on by default with --scoring mathvista")
    p.add_argument("--rel-tol", type=float, help="also accept numbers within this relative tolerance")
    p.add_argument("--json", action="store_true", help='print {"extracted": ..., "verdict": ...}')


def _choices(text: str | None) -> list[str] | None:
    from mmpo.errors import MMPOError

    if text is None:
        return None
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MMPOError(f"--choices: not a JSON list ({exc.msg})") from None
        if not isinstance(value, list) or not value:
            raise MMPOError("--choices: expected a non-empty JSON list")
        return [str(v) for v in value]
    items = [c.strip() for c in text.split(",")]
    if not all(items):
        raise MMPOError(f"--choices: empty option in {text!r} (use a JSON list for options with commas)")
    return items


def _benchmark_check(args: argparse.Namespace, response: str) -> int:
    from pathlib import Path

    from mmpo.benchmarks import get_benchmark
    from mmpo.data.files import parse_json
    from mmpo.errors import MMPOError

    if args.record is None:
        raise MMPOError("--benchmark needs --record JSON (one row as the benchmark ships it)")
    if args.answer is not None:
        raise MMPOError("--answer is for generic records; with --benchmark the gold answer is in --record")
    text = args.record
    if not text.lstrip().startswith("{") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    row = parse_json(text, path="--record")
    if not isinstance(row, dict):
        raise MMPOError(f"--record: expected a JSON object, got {type(row).__name__}")
    bench = get_benchmark(args.benchmark)
    if bench.kind == "judge":
        raise MMPOError(f"{args.benchmark} is scored by an LLM judge, not a rule; see docs/benchmarks.md")
    fields = bench.check(response, bench.record(row), args.mode)
    if args.json:
        print(json.dumps(fields, ensure_ascii=False, default=str))
        return 0
    print(fields["verdict"])
    for key, value in fields.items():
        if key != "verdict":
            print(f"{key + ':':<11} {value if value is not None else '(none)'}")
    return 0


def run(args: argparse.Namespace) -> int:
    from mmpo.answers import check_answer
    from mmpo.answers.normalize import parse_number
    from mmpo.answers.symbolic import looks_symbolic
    from mmpo.errors import MMPOError

    if args.benchmark is not None:
        return _benchmark_check(args, sys.stdin.read() if args.response == "-" else args.response)
    if args.record is not None:
        raise MMPOError("--record is for --benchmark NAME")
    if args.answer is None:
        raise MMPOError("--answer is required (or --benchmark NAME --record JSON)")
    if args.precision is not None and not 0 <= args.precision <= 15:
        raise MMPOError(f"--precision must be between 0 and 15, got {args.precision}")
    if args.rel_tol is not None and not args.rel_tol >= 0:
        raise MMPOError(f"--rel-tol must be >= 0, got {args.rel_tol}")
    if args.answer_type in ("integer", "float") and parse_number(args.answer) is None \
            and not looks_symbolic(args.answer):
        raise MMPOError(f"--answer {args.answer!r} is not a number, but --type is {args.answer_type}")
    record = {"answer": args.answer, "choices": _choices(args.choices), "question_type": args.question_type,
              "answer_type": args.answer_type, "precision": args.precision, "unit": args.unit}
    response = sys.stdin.read() if args.response == "-" else args.response
    v = check_answer(response, record, scoring=args.scoring, lenient=args.lenient, rel_tol=args.rel_tol)
    if args.json:
        print(json.dumps(v.to_dict(), ensure_ascii=False))
    else:
        print(f"extracted:  {v.extracted if v.extracted is not None else '(none)'}")
        print(f"verdict:    {v.verdict}")
        if v.normalized is not None:
            print(f"compared:   {v.normalized}")
        print(f"rule:       {v.reason}")
    return 0
