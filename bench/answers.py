"""Answer-checking throughput on one core: checks per second by category; then the worst case.

Usage:
    .venv/bin/python bench/answers.py [--n 4000] [--seed 0] [--after 1000] [--no-worst]

The mix is what sampling and evaluation see: chain-of-thought responses (about 800 characters of
reasoning, then "Final answer: ..") with integer, float and option answers, direct answers ("B",
"12"), option answers under the official MathVista rules (edit distance to the choices), and LaTeX
answers that go through math-verify. Numbers differ from one check to the next, so
caches hold what they hold in real use (a gold answer repeats across the N samples of a prompt; most
predictions do not). The goal for plain numeric and option answers is >= 20,000 checks/s.

The worst case (skipped with --no-worst): answers that pass the symbolic filter but keep sympy busy
for minutes ("(x+y+z)^{999}" against "(x+y+z)^{998}"), and answers the filter refuses (power towers,
huge factorials, 100 KB of braces), each timed: the slowest single check, and how much of it was
waiting for a fresh worker (not counted against the budget). Then --after checks (half of them
symbolic, all different) run right after those, and the same checks in a fresh process: their
verdicts and reasons must be equal.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import time

from mmpo.answers import SYMBOLIC_BUDGET_S, check_answer, symbolic_pool

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


# Each passes the symbolic filter and keeps sympy busy far beyond the budget (over 8 s each, measured).
SLOW_SYMBOLIC = [
    ("(x+y+z)^{998}", "(x+y+z)^{999}"),
    ("(x+y)^{999}", "(x+y)^{998}"),
    ("(a+b+c+d)^{99}", "(a+b+c+d)^{98}"),
    (r"\sin(x)^{999}", r"\cos(x)^{999}"),
    ("(x+y+z)^{99}", "(x+y+z)^{98}"),
    (r"\frac{(x+y)^{999}}{(x-y)^{999}}", "1"),
]
# The filter refuses these before sympy sees them (they would hold the GIL, or take memory, for long).
REFUSED = [r"9^{9^{9^{9}}}", r"2^{2^{30}}", r"10^{1000000}", "100000! + 1", r"\binom{100000}{50000}",
           "2**2**2**2**2", "{" * 5000 + "5" + "}" * 5000, r"\frac{" * 300 + "1" + "}{2}" * 300]


def adversarial_cases() -> list[tuple[str, dict]]:
    text = {"question_type": "free_form", "answer_type": "text"}
    cases = [(f"Final answer: {pred}", {"answer": gold, **text}) for gold, pred in SLOW_SYMBOLIC]
    cases += [(f"Final answer: {bad}", {"answer": "5", "question_type": "free_form", "answer_type": "integer"})
              for bad in REFUSED]
    cases += [(f"Final answer: {bad}", {"answer": r"\frac{\sqrt{3}}{2}", **text}) for bad in REFUSED]
    return cases


def symbolic_cases(n: int, seed: int) -> list[tuple[str, dict, dict]]:
    """`n` checks that all reach math-verify, no two alike: closed forms, polynomials, LaTeX choices."""
    rng = random.Random(seed)
    text = {"question_type": "free_form", "answer_type": "text"}
    out: list[tuple[str, dict, dict]] = []
    seen = set()
    while len(out) < n:
        kind = rng.randrange(5)
        a, b, k = rng.randint(1, 40), rng.randint(2, 40), rng.randint(2, 9)
        same = rng.random() < 0.5
        if kind == 0:  # fractions of pi
            gold, pred = rf"\frac{{{a}\pi}}{{{b}}}", rf"\frac{{{k * a + (0 if same else 1)}\pi}}{{{k * b}}}"
            rec = {"answer": gold, **text}
        elif kind == 1:  # simplified roots
            gold, pred = rf"\sqrt{{{k * k * b}}}", rf"{k if same else k + 1}\sqrt{{{b}}}"
            rec = {"answer": gold, **text}
        elif kind == 2:  # a polynomial and its factors
            gold = f"x^{{2}}+{a + b}x+{a * b}"
            pred = f"(x+{a})(x+{b})" if same else f"(x+{a})(x-{b})"
            rec = {"answer": gold, **text}
        elif kind == 3:  # a float answer given as a closed form
            rec = {"answer": f"{k * b ** 0.5:.2f}", "question_type": "free_form", "answer_type": "float",
                   "precision": 2}
            gold, pred = rec["answer"], rf"{k if same else k + 1}\sqrt{{{b}}}"
        else:  # LaTeX choices, answered in another form
            choices = [rf"\frac{{\sqrt{{{b}}}}}{{{a + i}}}" for i in range(4)]
            j = rng.randrange(4)
            gold, pred = choices[0], rf"\sqrt{{{b}}}/{a + j}"
            rec = {"answer": gold, "choices": choices, "question_type": "multi_choice", "answer_type": "text"}
        if (gold, pred) in seen:
            continue
        seen.add((gold, pred))
        out.append((_cot(rng, f"\n\nSo the answer is $\\boxed{{{pred}}}$."), rec, {}))
    return out


def after_cases(n: int, seed: int) -> list[tuple[str, dict, dict]]:
    """The checks run after the adversarial answers: half symbolic, half from the plain categories."""
    rng = random.Random(seed + 1)
    plain = [c for name, cases in make_cases(n, seed + 1).items() if not name.startswith("latex") for c in cases]
    cases = symbolic_cases(n // 2, seed + 2) + rng.sample(plain, n - n // 2)
    rng.shuffle(cases)
    return cases


def verdicts(cases) -> list[list[str]]:
    out = []
    for response, record, kwargs in cases:
        v = check_answer(response, record, **kwargs)
        out.append([v.verdict, v.reason])
    return out


def worst_case(n_after: int, seed: int) -> bool:
    print(f"\nworst case (symbolic budget {SYMBOLIC_BUDGET_S:.1f} s per check)")
    logging.getLogger("mmpo.answers").setLevel(logging.ERROR)  # each kill is logged; the table shows them
    symbolic_pool.start_workers(1)
    slowest = longest = (0.0, 0.0, "")
    print(f"{'answer':<44} {'wall s':>7} {'waited s':>9}  verdict")
    for response, record in adversarial_cases():
        w0 = symbolic_pool.stats()["wait_s"]
        t0 = time.perf_counter()
        v = check_answer(response, record)
        dt = time.perf_counter() - t0
        waited = symbolic_pool.stats()["wait_s"] - w0
        shown = response.removeprefix("Final answer: ")
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        print(f"{shown!s:<44} {dt:>7.3f} {waited:>9.3f}  {v.verdict} ({v.reason})")
        if dt - waited > slowest[0] - slowest[1]:
            slowest = (dt, waited, shown)
        if dt > longest[0]:
            longest = (dt, waited, shown)
    s = symbolic_pool.stats()
    print(f"slowest single check: {slowest[0] - slowest[1]:.3f} s of its own work ({slowest[2]}); the longest "
          f"wall time: {longest[0]:.3f} s, of which {longest[1]:.3f} s waiting for the worker started after a kill "
          f"({longest[2]})")
    print(f"workers killed at the deadline: {s['killed']:.0f}; started: {s['started']:.0f}")

    cases = after_cases(n_after, seed)
    t0 = time.perf_counter()
    here = verdicts(cases)
    t_here = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--verdicts-of-after", str(n_after), "--seed", str(seed)],
                         capture_output=True, text=True, check=True).stdout
    t_fresh = time.perf_counter() - t0
    fresh = json.loads(out)
    same = sum(a == b for a, b in zip(here, fresh))
    print(f"{n_after} checks right after them: {t_here:.1f} s; the same in a fresh process: {t_fresh:.1f} s "
          f"(with its start)")
    print(f"verdicts and reasons equal to the fresh process: {same}/{len(here)}"
          f" (symbolic ones: {sum(r[1] == 'symbolic' for r in here)} here, {sum(r[1] == 'symbolic' for r in fresh)}"
          f" fresh; correct: {sum(r[0] == 'correct' for r in here)} here, {sum(r[0] == 'correct' for r in fresh)} fresh)")
    for i, (a, b) in enumerate(zip(here, fresh)):
        if a != b:
            print(f"  differs at {i}: {a} here, {b} fresh: {cases[i][0][-60:]!r}")
    return same == len(here) == len(fresh)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4000, help="checks per category (LaTeX: n/10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--after", type=int, default=1000, help="checks run right after the adversarial answers")
    ap.add_argument("--no-worst", action="store_true", help="throughput only")
    ap.add_argument("--verdicts-of-after", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.verdicts_of_after is not None:  # the fresh process of the worst case
        print(json.dumps(verdicts(after_cases(args.verdicts_of_after, args.seed))))
        return 0
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
    if args.no_worst:
        return 0
    return 0 if worst_case(args.after, args.seed) else 1


if __name__ == "__main__":
    sys.exit(main())
