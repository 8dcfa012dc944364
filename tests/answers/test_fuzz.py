"""Property-based fuzzing of answer checking: no exception escapes, every check returns within its bound.

About 3,000 generated examples in all (each checked against several records and both scorings): any
Unicode text, number-like text, LaTeX-like token soup, and the same soup checked from worker threads.
"""

import concurrent.futures
import time
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmpo.answers import SYMBOLIC_BUDGET_S, VERDICTS, check_answer, extract_answer, symbolic_pool
from mmpo.answers import symbolic as sym

BOUND_S = SYMBOLIC_BUDGET_S + 1.5
# A check that follows one cut at its budget first waits for a fresh worker process (seconds on a loaded
# machine, not counted against its budget): the per-check bounds leave that wait out, the deadline allows it.
WORKER_START_S = 30.0
FUZZ = settings(deadline=timedelta(seconds=4 * BOUND_S + 2 * WORKER_START_S),
                suppress_health_check=[HealthCheck.too_slow])

RECORDS = [
    {"answer": "12", "question_type": "free_form", "answer_type": "integer"},
    {"answer": "1.2", "question_type": "free_form", "answer_type": "float", "precision": 1, "unit": "cm"},
    {"answer": "8/11", "choices": ["5/11", "8/11", "3/11"], "question_type": "multi_choice", "answer_type": "text"},
    {"answer": "[1, 2, 3]", "question_type": "free_form", "answer_type": "list"},
    {"answer": "Yes", "question_type": "free_form", "answer_type": "text"},
    {"answer": r"\frac{\sqrt{3}}{2}", "question_type": "free_form", "answer_type": "text"},
]

PREFIXES = st.sampled_from(["", "Final answer: ", "**Final Answer:** ", "The answer is ", "答案：", "\\boxed{",
                            "Let me think.\nAnswer:\n", "(", "Option "])
NUMBERY = st.text(alphabet="0123456789.,-−+/%$ eE×x^{}()°cmABCD", max_size=40)
LATEX_TOKENS = st.sampled_from([
    "0", "1", "2", "9", "12", "3.5", "x", "y", "e", "+", "-", "*", "/", "^", "^{", "{", "}", "(", ")", "[", "]",
    "\\frac{", "\\sqrt{", "\\pi", "\\cdot", "\\times", "\\left(", "\\right)", "\\boxed{", "\\text{", "!", "=",
    ",", " ", "$", "\\infty", "\\{", "\\}", "10^{", "\\ln", "\\sin", "\\%", "\\circ", "Yes", "\\", "\x00",
])
LATEXY = st.lists(LATEX_TOKENS, max_size=25).map("".join)


def _check(response):
    for rec in RECORDS:
        for scoring in ("default", "mathvista"):
            w0, t0 = symbolic_pool.stats()["wait_s"], time.perf_counter()
            v = check_answer(response, rec, scoring=scoring)
            dt = time.perf_counter() - t0 - (symbolic_pool.stats()["wait_s"] - w0)
            assert v.verdict in VERDICTS
            assert v.extracted is None or isinstance(v.extracted, str)
            assert (v.verdict == "format_failure") == (v.extracted is None)
            assert dt < BOUND_S, f"{dt:.2f}s for {response!r}"


def setup_module():
    check_answer(r"Final answer: \sqrt{2}", RECORDS[5])  # import sympy outside the timed checks


@settings(FUZZ, max_examples=800)
@given(st.text(max_size=300))
def test_any_text(text):
    _check(text)
    assert extract_answer(text, lenient=True) is None or isinstance(extract_answer(text, lenient=True), str)


@settings(FUZZ, max_examples=800)
@given(PREFIXES, NUMBERY)
def test_number_like_answers(prefix, body):
    _check(prefix + body)


@settings(FUZZ, max_examples=1000)
@given(PREFIXES, st.text(alphabet=st.characters(codec="utf-8"), max_size=80), st.booleans())
def test_labelled_unicode_answers(prefix, body, lenient):
    v = check_answer(prefix + body, RECORDS[2], lenient=lenient)
    assert v.verdict in VERDICTS


@settings(FUZZ, max_examples=600)
@given(PREFIXES, LATEXY)
def test_latex_like_answers(prefix, body):
    real_ask = symbolic_pool.ask
    sent = []

    def spy(kind, a, b, deadline):  # everything that reaches math-verify's worker passed the safety filter
        assert sym.unsafe_reason(a) is None and (b == "" or sym.unsafe_reason(b) is None)
        sent.append(kind)
        return real_ask(kind, a, b, deadline)

    symbolic_pool.ask = spy
    try:
        _check(prefix + body)
    finally:
        symbolic_pool.ask = real_ask
    assert set(sent) <= {"eq", "value"}


@settings(FUZZ, max_examples=300)
@given(st.lists(st.tuples(PREFIXES, LATEXY), min_size=1, max_size=4))
def test_checks_from_worker_threads(items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(check_answer, p + b, RECORDS[5]) for p, b in items]
        for fut in futures:
            assert fut.result(timeout=len(items) * BOUND_S + WORKER_START_S).verdict in VERDICTS
