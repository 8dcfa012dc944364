"""Answer-checking throughput on one core: checks per second by category, and the slowest check.

Usage:
    .venv/bin/python bench/answers.py [--n 4000] [--seed 0]

The mix is what sampling and evaluation see: chain-of-thought responses (about 800 characters of
reasoning, then "Final answer: ..") with integer, float and option answers, direct answers ("B",
"12"), option answers under the official MathVista rules (edit distance to the choices), and LaTeX
answers that go through math-verify. Numbers differ from one check to the next, so
caches hold what they hold in real use (a gold answer repeats across the N samples of a prompt; most
predictions do not). The goal for plain numeric and option answers is >= 20,000 checks/s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from mmpo.answers import check_answer

REASONING = (
    "Let me look at the image carefully. The chart shows {a} bars; the tallest one reaches {b} and the "
    "shortest one {c}. The question asks for the difference between them, so I subtract the smaller value "
    "from the larger one: {b} - {c}. Checking the axis again, the ticks are spaced by 5 units, which agrees "
    "with my reading. "
)


def _cot(rng: random.Random, tail: str) -> str:
    return REASONING.format(a=rng.randint(3, 9), b=rng.randint(20, 90), c=rng.randint(1, 19)) * 2 + tail


LENIENT = {"lenient": True}
MATHVISTA = {"scoring": "mathvista"}


def make_cases(n: int, seed: int) -> dict[str, list[tuple[str, dict, dict]]]:
    """Category -> [(response, record, check_answer keyword arguments)]."""
    rng = random.Random(seed)
    cats: dict[str, list[tuple[str, dict, dict]]] = {k: [] for k in (
        "integer (CoT)", "float (CoT)", "option (CoT)", "option (direct)", "integer (direct)",
        "option (mathvista)", "latex (CoT)")}
    for _ in range(n):
        g = rng.randint(0, 500)
        p = g if rng.random() < 0.5 else rng.randint(0, 500)
        rec = {"answer": str(g), "question_type": "free_form", "answer_type": "integer"}
        cats["integer (CoT)"].append((_cot(rng, f"\n\nFinal answer: {p}"), rec, {}))
        cats["integer (direct)"].append((f"{p}", rec, LENIENT))

        gf = round(rng.uniform(0, 100), 1)
        pf = round(gf + rng.choice([0.0, 0.04, 0.3]), 2)
        rec = {"answer": str(gf), "question_type": "free_form", "answer_type": "float", "precision": 1}
        cats["float (CoT)"].append((_cot(rng, f"\n\n**Final Answer:** {pf}"), rec, {}))

        choices = [f"{rng.randint(1, 99)}/{rng.randint(2, 99)}" for _ in range(4)]
        k = rng.randrange(4)
        rec = {"answer": choices[k], "choices": choices, "question_type": "multi_choice", "answer_type": "text"}
        j = rng.randrange(4)
        letter = "ABCD"[j]
        cats["option (CoT)"].append((_cot(rng, f"\n\nFinal answer: ({letter}) {choices[j]}"), rec, {}))
        cats["option (direct)"].append((rng.choice([letter, f"({letter})", f"{letter}."]), rec, LENIENT))
        tail = rng.choice([f"({letter}) {choices[j]}", choices[j], f"{choices[j][:-1]}7"])  # the last: no choice
        cats["option (mathvista)"].append((_cot(rng, f"\n\nFinal answer: {tail}"), rec, MATHVISTA))

        a, b = rng.randint(1, 9), rng.randint(2, 9)
        gold = rf"\frac{{\sqrt{{{a}}}}}{{{b}}}"
        pred = rng.choice([rf"\frac{{\sqrt{{{a}}}}}{{{b}}}", rf"\sqrt{{{a}}}/{b}", rf"\frac{{{a}}}{{\sqrt{{{b}}}}}"])
        rec = {"answer": gold, "question_type": "free_form", "answer_type": "text"}
        cats["latex (CoT)"].append((_cot(rng, f"\n\nSo the answer is $\\boxed{{{pred}}}$."), rec, {}))
    return cats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="checks per category (LaTeX: n/10)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cats = make_cases(args.n, args.seed)
    cats["latex (CoT)"] = cats["latex (CoT)"][: max(1, args.n // 10)]
    check_answer("Final answer: \\sqrt{2}", {"answer": "\\sqrt{2}", "answer_type": "text"})  # import math-verify
    for cases in cats.values():  # warm regex and caches once, as a long run would be
        for response, record, kwargs in cases[:20]:
            check_answer(response, record, **kwargs)

    slowest = (0.0, "", "")
    plain_n = plain_t = 0.0
    print(f"{'category':<18} {'checks':>7} {'checks/s':>10} {'mean us':>8} {'max ms':>7}  correct")
    for name, cases in cats.items():
        times = []
        correct = 0
        for response, record, kwargs in cases:
            t0 = time.perf_counter()
            v = check_answer(response, record, **kwargs)
            dt = time.perf_counter() - t0
            times.append(dt)
            correct += v.verdict == "correct"
            if dt > slowest[0]:
                slowest = (dt, name, response[-60:])
        total = sum(times)
        if not name.startswith("latex"):
            plain_n += len(cases)
            plain_t += total
        print(f"{name:<18} {len(cases):>7} {len(cases) / total:>10.0f} {1e6 * total / len(cases):>8.1f} "
              f"{1e3 * max(times):>7.2f}  {correct / len(cases):.0%}")
    print(f"\nplain numeric and option answers: {plain_n / plain_t:,.0f} checks/s on one core (goal >= 20,000)")
    print(f"slowest single check: {1e3 * slowest[0]:.2f} ms ({slowest[1]}: ...{slowest[2]!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
